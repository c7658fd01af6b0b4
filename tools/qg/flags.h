// tools/qg/flags.h
// -----------------------------------------------------------------------------
//
// The command line's flag parser: each command declares its flags into its
// own options struct and parses its own arguments; nothing is global.
//
//   --name=value, --name value     a value flag (the next argument is taken
//                                  whatever it looks like: `--args -`,
//                                  `--priority -5`)
//   --name, --name=true|false      a boolean flag
//   --run_at                       the same as --run-at
//   --                             everything after it is positional
//
// Example:
//   EnqueueOptions o;
//   FlagParser flags;
//   flags.String("type", &o.type);
//   flags.Int("priority", &o.priority);
//   std::vector<std::string> positional;
//   if (absl::Status s = flags.Parse(args, &positional); !s.ok()) {
//     return UsageError(s);  // e.g. "unknown flag --bogus"
//   }
#ifndef TOOLS_QG_FLAGS_H_
#define TOOLS_QG_FLAGS_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace qg_cli {

class FlagParser {
 public:
  // Declare the flags: `out` is written when the flag is given (and keeps
  // its value, the flag's default, otherwise). Names use dashes.
  void String(std::string name, std::string* out);
  void OptionalString(std::string name, std::optional<std::string>* out);
  void Int(std::string name, int* out);
  void Bool(std::string name, bool* out);
  // "90s", "5m", "1h30m", or a bare number of seconds ("0.2"); finite (see
  // `ParseDurationFlag`).
  void Duration(std::string name, absl::Duration* out);
  // May be given many times; each value is appended.
  void Repeated(std::string name, std::vector<std::string>* out);

  // Parse()
  //
  // Parses `args` (the arguments after the command's name), appending the
  // positional ones to `positional`. `InvalidArgument` for an unknown flag
  // ("unknown flag --bogus"), a missing value ("--limit needs a value") or a
  // value that does not parse ("--limit: \"x\" is not an integer").
  absl::Status Parse(const std::vector<std::string>& args,
                     std::vector<std::string>* positional);

  // Whether flag `name` was given.
  bool IsSet(absl::string_view name) const;

 private:
  struct Flag {
    bool is_bool = false;
    std::function<absl::Status(const std::string& value)> set;
  };
  void Add(std::string name, Flag flag);

  std::map<std::string, Flag, std::less<>> flags_;
  std::set<std::string, std::less<>> set_;
};

// The longest duration a flag takes (either sign): 100000 hours, more than
// eleven years.
inline constexpr absl::Duration kMaxFlagDuration = absl::Hours(100000);

// ParseDurationFlag()
//
// A duration as the flags take it: "90s", "5m", "1h30m", or a bare number of
// seconds ("0.2"), finite and at most `kMaxFlagDuration` either way.
// `InvalidArgument` naming `flag` otherwise ("inf", "nan", "1e300").
absl::Status ParseDurationFlag(absl::string_view flag, absl::string_view text,
                               absl::Duration* out);

}  // namespace qg_cli

#endif  // TOOLS_QG_FLAGS_H_
