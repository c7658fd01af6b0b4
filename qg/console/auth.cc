#include "qg/console/auth.h"

#include <sys/random.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace qg::console {
namespace {

// 32 random bytes as hex, from the kernel's CSPRNG.
std::string RandomToken() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  std::string out;
  for (unsigned char b : bytes) {
    absl::StrAppend(&out, absl::Hex(b, absl::kZeroPad2));
  }
  return out;
}

// Compares without stopping at the first difference.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

std::optional<std::string> CookieValue(const httplib::Request& req,
                                       absl::string_view name) {
  for (size_t i = 0; i < req.get_header_value_count("Cookie"); ++i) {
    for (absl::string_view part :
         absl::StrSplit(req.get_header_value("Cookie", i), ';')) {
      part = absl::StripAsciiWhitespace(part);
      if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
        return std::string(part);
      }
    }
  }
  return std::nullopt;
}

Refusal Forbidden(std::string message) {
  return Refusal{.status = 403, .message = std::move(message)};
}

}  // namespace

ConsoleAuth::ConsoleAuth(AuthOptions options)
    : options_(std::move(options)),
      csrf_(RandomToken()),
      session_(RandomToken()) {}

std::optional<Refusal> ConsoleAuth::Check(const httplib::Request& req) const {
  if (absl::Status host =
          CheckHost(options_.listening, req.get_header_value("Host"));
      !host.ok()) {
    return Forbidden(std::string(host.message()));
  }
  if (!token_required() || req.path == "/login" ||
      absl::StartsWith(req.path, "/static/")) {
    return std::nullopt;
  }
  std::string auth = req.get_header_value("Authorization");
  absl::string_view given = auth;
  if (absl::ConsumePrefix(&given, "Bearer ") &&
      ConstantTimeEquals(given, options_.bearer_token)) {
    return std::nullopt;
  }
  if (std::optional<std::string> cookie = CookieValue(req, kSessionCookie);
      cookie.has_value() && ConstantTimeEquals(*cookie, session_)) {
    return std::nullopt;
  }
  Refusal r{.status = 401, .www_authenticate = true};
  if (req.method == "GET" && (req.path == "/" || req.path == "/index.html")) {
    r.sign_in_page = true;
    r.message = auth.empty() ? "" : "That token is not the console's.";
    return r;
  }
  r.message = auth.empty() ? "missing token: this console needs "
                             "\"Authorization: Bearer TOKEN\" or a sign-in"
                           : "wrong token";
  return r;
}

std::optional<Refusal> ConsoleAuth::MayAct(const httplib::Request& req) const {
  if (options_.read_only) {
    return Forbidden(
        "this console is read-only (--read-only): actions are off");
  }
  if (!req.has_header(kCsrfHeader)) {
    return Forbidden(absl::StrCat("missing CSRF token: actions need the ",
                                  kCsrfHeader,
                                  " header that the console's page carries"));
  }
  if (!ConstantTimeEquals(req.get_header_value(kCsrfHeader), csrf_)) {
    return Forbidden(
        "wrong CSRF token (was the console restarted? reload the page)");
  }
  return std::nullopt;
}

std::optional<std::string> ConsoleAuth::SignIn(absl::string_view token) const {
  if (!token_required() || !ConstantTimeEquals(token, options_.bearer_token)) {
    return std::nullopt;
  }
  return absl::StrCat(kSessionCookie, "=", session_,
                      "; Path=/; HttpOnly; SameSite=Strict");
}

}  // namespace qg::console
