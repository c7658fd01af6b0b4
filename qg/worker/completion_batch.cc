#include "qg/worker/completion_batch.h"

#include <map>
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

namespace {

// Seconds from `t` to `now`; unset when `t` was never set.
std::optional<double> Ago(std::chrono::steady_clock::time_point t,
                          std::chrono::steady_clock::time_point now) {
  if (t == std::chrono::steady_clock::time_point()) return std::nullopt;
  return std::chrono::duration<double>(now - t).count();
}

}  // namespace

CompletionBatch::Request CompletionBatch::Next(
    std::chrono::steady_clock::time_point now) const {
  Request request;
  // The statement that writes `items` (all of one kind and stage).
  const bool history = history_;
  auto call_for = [now, history](const std::vector<const Item*>& items) {
    const Item& first = *items.front();
    bool by_key = first.stage == Stage::kByKey;
    switch (first.completion.outcome.kind) {
      case Outcome::Kind::kDelete: {
        if (by_key && !history) {
          // Keys alone: no times or outputs to carry.
          std::vector<JobKey> keys;
          keys.reserve(items.size());
          for (const Item* i : items) keys.push_back(i->completion.key);
          return queries::FinishBatchPlain(keys);
        }
        std::vector<JobFinish> finishes;
        for (const Item* i : items) {
          const Outcome& o = i->completion.outcome;
          JobFinish f;
          f.key = i->completion.key;
          f.started_ago = Ago(o.run_started, now).value_or(0);
          f.ended_ago = Ago(o.run_ended, now).value_or(0);
          // A row whose statement failed twice is written without its
          // output (the output may be what the statement could not take).
          if (i->failures < 2) f.output = o.output;
          finishes.push_back(std::move(f));
        }
        return by_key ? queries::FinishBatch(finishes)
                      : queries::FinishById(finishes);
      }
      case Outcome::Kind::kSnooze: {
        std::vector<JobSnooze> snoozes;
        for (const Item* i : items) {
          snoozes.push_back({i->completion.key, i->completion.outcome.snooze});
        }
        return by_key ? queries::SnoozeBatch(snoozes)
                      : queries::SnoozeById(snoozes);
      }
      default: {
        std::vector<JobError> errors;
        for (const Item* i : items) {
          JobError e = i->completion.outcome.error;
          e.key = i->completion.key;
          e.started_ago = Ago(i->completion.outcome.run_started, now);
          e.ended_ago = Ago(i->completion.outcome.run_ended, now);
          // The second failure of a row's own statement: maybe the
          // database cannot encode the text (a non-UTF-8 database); plain
          // ASCII always fits.
          if (i->failures >= 2) e.message = AsciiText(e.message);
          errors.push_back(std::move(e));
        }
        if (by_key && !history) return queries::ErrorBatchPlain(errors);
        return by_key ? queries::ErrorBatch(errors)
                      : queries::ErrorById(errors);
      }
    }
  };
  auto add = [&](const std::vector<const Item*>& items) {
    if (items.empty()) return;
    Write w{call_for(items), {}};
    for (const Item* i : items) w.ids.push_back(i->completion.key.id);
    request.writes.push_back(std::move(w));
  };
  // One statement per (kind, stage); a row whose statement failed before
  // gets one of its own.
  std::map<std::pair<int, int>, std::vector<const Item*>> groups;
  for (const Item& item : items_) {
    if (item.stage == Stage::kRelease) {
      request.unlock.push_back(item.completion.key.id);
    } else if (item.failures > 0) {
      add({&item});
    } else {
      groups[{static_cast<int>(item.stage),
              static_cast<int>(item.completion.outcome.kind)}]
          .push_back(&item);
    }
  }
  for (const auto& [kind, items] : groups) add(items);
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
  enum class Result { kWritten, kMissed, kFailed, kDeferred };
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
    if (returned.contains(kHistoryOn)) {
      // A plain write found history on: it wrote nothing; the rows are
      // written again by key, recording history.
      history_ = true;
      for (int64_t id : w.ids) results[id] = {Result::kDeferred, ""};
      continue;
    }
    if (returned.contains(kHistoryOff)) history_ = false;
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
      case Result::kDeferred:
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
