#include "tools/qg/flags.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace qg_cli {

absl::Status ParseDurationFlag(absl::string_view flag, absl::string_view text,
                               absl::Duration* out) {
  absl::Duration d;
  double seconds = 0;
  bool parsed = false;
  if (absl::SimpleAtod(text, &seconds)) {
    // "nan", "inf" and numbers past the range parse as doubles too.
    parsed = std::isfinite(seconds) &&
             std::abs(seconds) <= absl::ToDoubleSeconds(kMaxFlagDuration);
    if (parsed) d = absl::Seconds(seconds);
  } else {
    parsed = absl::ParseDuration(text, &d) && d != absl::InfiniteDuration() &&
             d != -absl::InfiniteDuration() &&
             absl::AbsDuration(d) <= kMaxFlagDuration;
  }
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": \"", text,
        "\" is not a duration such as 90s, 5m, 1h30m or 0.5 (finite, at most ",
        absl::FormatDuration(kMaxFlagDuration), ")"));
  }
  *out = d;
  return absl::OkStatus();
}

void FlagParser::Add(std::string name, Flag flag) {
  flags_[std::move(name)] = std::move(flag);
}

void FlagParser::String(std::string name, std::string* out) {
  Add(std::move(name), {false, [out](const std::string& v) {
                          *out = v;
                          return absl::OkStatus();
                        }});
}

void FlagParser::OptionalString(std::string name,
                                std::optional<std::string>* out) {
  Add(std::move(name), {false, [out](const std::string& v) {
                          *out = v;
                          return absl::OkStatus();
                        }});
}

void FlagParser::Int(std::string name, int* out) {
  Add(name, {false, [name, out](const std::string& v) {
               if (!absl::SimpleAtoi(v, out)) {
                 return absl::InvalidArgumentError(
                     absl::StrCat("--", name, ": \"", v,
                                  "\" is not an integer (from -2147483648 to "
                                  "2147483647)"));
               }
               return absl::OkStatus();
             }});
}

void FlagParser::Bool(std::string name, bool* out) {
  Add(name, {true, [name, out](const std::string& v) {
               if (!absl::SimpleAtob(v, out)) {
                 return absl::InvalidArgumentError(absl::StrCat(
                     "--", name, ": \"", v, "\" is not true or false"));
               }
               return absl::OkStatus();
             }});
}

void FlagParser::Duration(std::string name, absl::Duration* out) {
  Add(name, {false, [name, out](const std::string& v) {
               return ParseDurationFlag(name, v, out);
             }});
}

void FlagParser::Repeated(std::string name, std::vector<std::string>* out) {
  Add(std::move(name), {false, [out](const std::string& v) {
                          out->push_back(v);
                          return absl::OkStatus();
                        }});
}

bool FlagParser::IsSet(absl::string_view name) const {
  return set_.find(name) != set_.end();
}

absl::Status FlagParser::Parse(const std::vector<std::string>& args,
                               std::vector<std::string>* positional) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional->insert(positional->end(), args.begin() + i + 1, args.end());
      break;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      positional->push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    absl::StrReplaceAll({{"_", "-"}}, &name);
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!value.has_value()) {
      if (it->second.is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value"));
      }
    }
    if (absl::Status s = it->second.set(*value); !s.ok()) return s;
    set_.insert(name);
  }
  return absl::OkStatus();
}

}  // namespace qg_cli
