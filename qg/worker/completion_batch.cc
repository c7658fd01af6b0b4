#include "qg/worker/completion_batch.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "qg/internal/utf8.h"

namespace qg::internal {

std::vector<Completion> CompletionBatch::Add(
    std::vector<Completion> completions, uint64_t generation) {
  std::vector<Completion> dropped;
  for (Completion& c : completions) {
    if (c.generation != generation) {
      dropped.push_back(std::move(c));
      continue;
    }
    Item item;
    item.stage = c.outcome.kind == Outcome::Kind::kRelease ? Stage::kRelease
                                                           : Stage::kByKey;
    item.completion = std::move(c);
    items_.push_back(std::move(item));
  }
  return dropped;
}

CompletionBatch::Request CompletionBatch::Next() const {
  Request request;
  std::vector<JobKey> delete_keys;
  std::vector<int64_t> delete_key_ids, delete_ids;
  std::vector<JobError> errors, errors_by_id;
  std::vector<int64_t> error_ids, error_by_id_ids;
  auto error_of = [](const Item& item) {
    JobError e = item.completion.outcome.error;
    e.key = item.completion.key;
    // The second failure of a row's own statement: maybe the database cannot
    // encode the text (a non-UTF-8 database); plain ASCII always fits.
    if (item.failures >= 2) e.message = AsciiText(e.message);
    return e;
  };
  for (const Item& item : items_) {
    const Completion& c = item.completion;
    if (item.stage == Stage::kRelease) {
      request.unlock.push_back(c.key.id);
      continue;
    }
    bool is_delete = c.outcome.kind == Outcome::Kind::kDelete;
    bool by_key = item.stage == Stage::kByKey;
    if (item.failures > 0) {
      // Isolated: one statement for this row alone.
      Write w;
      w.ids = {c.key.id};
      if (is_delete) {
        w.call = by_key ? queries::DeleteBatch({c.key})
                        : queries::DeleteById({c.key.id});
      } else {
        JobError e = error_of(item);
        w.call = by_key ? queries::ErrorBatch({e}) : queries::ErrorById({e});
      }
      request.writes.push_back(std::move(w));
      continue;
    }
    if (is_delete && by_key) {
      delete_keys.push_back(c.key);
      delete_key_ids.push_back(c.key.id);
    } else if (is_delete) {
      delete_ids.push_back(c.key.id);
    } else if (by_key) {
      errors.push_back(error_of(item));
      error_ids.push_back(c.key.id);
    } else {
      errors_by_id.push_back(error_of(item));
      error_by_id_ids.push_back(c.key.id);
    }
  }
  if (!delete_keys.empty()) {
    request.writes.push_back(
        {queries::DeleteBatch(delete_keys), delete_key_ids});
  }
  if (!errors.empty()) {
    request.writes.push_back({queries::ErrorBatch(errors), error_ids});
  }
  if (!delete_ids.empty()) {
    request.writes.push_back({queries::DeleteById(delete_ids), delete_ids});
  }
  if (!errors_by_id.empty()) {
    request.writes.push_back(
        {queries::ErrorById(errors_by_id), error_by_id_ids});
  }
  return request;
}

std::vector<CompletionBatch::GivenUp> CompletionBatch::Apply(
    const Request& request, const Response& response) {
  std::vector<GivenUp> given_up;
  absl::flat_hash_set<int64_t> unlocked;
  if (response.unlock.ok()) {
    unlocked.insert(request.unlock.begin(), request.unlock.end());
  }
  // Per id: whether its write was returned, failed, or ran without it.
  enum class Result { kWritten, kMissed, kFailed };
  absl::flat_hash_map<int64_t, std::pair<Result, std::string>> results;
  for (size_t i = 0; i < request.writes.size() && i < response.writes.size();
       ++i) {
    const Write& w = request.writes[i];
    const auto& r = response.writes[i];
    if (!r.ok()) {
      for (int64_t id : w.ids) {
        results[id] = {Result::kFailed, std::string(r.status().message())};
      }
      continue;
    }
    absl::flat_hash_set<int64_t> returned(r->begin(), r->end());
    for (int64_t id : w.ids) {
      results[id] = {returned.contains(id) ? Result::kWritten : Result::kMissed,
                     ""};
    }
  }
  std::vector<Item> kept;
  for (Item& item : items_) {
    int64_t id = item.completion.key.id;
    if (item.stage == Stage::kRelease) {
      if (!unlocked.contains(id)) kept.push_back(std::move(item));
      continue;
    }
    auto it = results.find(id);
    if (it == results.end()) {  // not part of this request (added later)
      kept.push_back(std::move(item));
      continue;
    }
    switch (it->second.first) {
      case Result::kWritten:
        item.stage = Stage::kRelease;
        item.failures = 0;
        break;
      case Result::kMissed:
        // By key: the key changed while the job ran; write by id. By id:
        // the row is gone (someone deleted it): nothing left to write.
        item.stage =
            item.stage == Stage::kByKey ? Stage::kById : Stage::kRelease;
        break;
      case Result::kFailed:
        if (++item.failures >= kMaxFailures) {
          given_up.push_back({id, absl::StrCat(item.completion.outcome.kind ==
                                                       Outcome::Kind::kDelete
                                                   ? "deleting"
                                                   : "recording the error",
                                               " failed ", item.failures,
                                               " times: ", it->second.second)});
          item.stage = Stage::kRelease;
        }
        break;
    }
    kept.push_back(std::move(item));
  }
  items_ = std::move(kept);
  return given_up;
}

std::vector<int64_t> CompletionBatch::DropAll() {
  std::vector<int64_t> ids = HeldIds();
  items_.clear();
  return ids;
}

std::vector<int64_t> CompletionBatch::HeldIds() const {
  std::vector<int64_t> ids;
  ids.reserve(items_.size());
  for (const Item& item : items_) ids.push_back(item.completion.key.id);
  return ids;
}

}  // namespace qg::internal
