// qg/conninfo.h
// -----------------------------------------------------------------------------
//
// Connection strings: where qg-cpp's tools find the database, and how any
// conninfo is shown without its secrets.
//
// Example:
//   std::optional<std::string> db = qg::ResolveConninfo(flag_value);
//   if (!db) return Usage("pass --db=CONNINFO or set DATABASE_URL");
//   LOG(INFO) << "connecting to " << qg::RedactConninfo(*db);
#ifndef QG_CONNINFO_H_
#define QG_CONNINFO_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace qg {

// ResolveConninfo()
//
// The database a tool should use: `given` (a --db flag) when not empty, else
// $DATABASE_URL when set and not empty, else std::nullopt.
std::optional<std::string> ResolveConninfo(absl::string_view given);

// RedactConninfo()
//
// `conninfo` (key=value string or postgres:// URI) as key='value' pairs with
// every secret replaced by `****`: every option libpq marks as secret
// (`password`, `sslpassword`, ...). A conninfo libpq cannot parse is shown as
// "<unparsable conninfo>" when it might hold a secret.
//
// Example:
//   RedactConninfo("postgres://ada:pw@db/app?sslpassword=x")
//   // "user='ada' password='****' host='db' dbname='app' sslpassword='****'"
std::string RedactConninfo(absl::string_view conninfo);

}  // namespace qg

#endif  // QG_CONNINFO_H_
