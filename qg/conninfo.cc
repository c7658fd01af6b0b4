#include "qg/conninfo.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "libpq-fe.h"

namespace qg {

std::optional<std::string> ResolveConninfo(absl::string_view given) {
  if (!given.empty()) return std::string(given);
  const char* env = getenv("DATABASE_URL");
  if (env != nullptr && *env != '\0') return std::string(env);
  return std::nullopt;
}

std::string RedactConninfo(absl::string_view conninfo) {
  std::string ci(conninfo);
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(ci.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    // Unparsable: do not risk echoing a password back.
    if (absl::StrContains(ci, "password") || absl::StrContains(ci, "@")) {
      return "<unparsable conninfo>";
    }
    return ci;
  }
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string value = o->val;
    // libpq marks secret options (password, sslpassword, ...) with '*'.
    if (o->dispchar != nullptr && o->dispchar[0] == '*') value = "****";
    std::string quoted =
        absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"'", "\\'"}});
    absl::StrAppend(&out, out.empty() ? "" : " ", o->keyword, "='", quoted,
                    "'");
  }
  PQconninfoFree(opts);
  return out;
}

}  // namespace qg
