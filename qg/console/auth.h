// qg/console/auth.h
// -----------------------------------------------------------------------------
//
// Who may use the web console, decided apart from what it shows: the Host
// check against DNS rebinding (`qg::CheckHost()`), the bearer token or the
// session cookie the sign-in form sets, and for actions the read-only mode
// and the CSRF header. `ConsoleAuth` says whether a request may go on, or
// how to refuse it; the console turns a `Refusal` into its response.
//
// Example:
//   ConsoleAuth auth({.listening = address, .bearer_token = token});
//   if (std::optional<Refusal> no = auth.Check(req)) return Send(*no);
//   if (is_action) {
//     if (std::optional<Refusal> no = auth.MayAct(req)) return Send(*no);
//   }
#ifndef QG_CONSOLE_AUTH_H_
#define QG_CONSOLE_AUTH_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "httplib.h"
#include "qg/metrics/http_listen.h"

namespace qg::console {

// The header an action must carry with the page's CSRF token.
inline constexpr char kCsrfHeader[] = "X-QG-CSRF";
// The cookie the sign-in sets.
inline constexpr char kSessionCookie[] = "qg_console_session";

// AuthOptions
struct AuthOptions {
  // Where the console listens (the Host check holds on loopback only).
  ListenAddress listening;
  // When not empty, every request but the sign-in and static files needs
  // it ("Authorization: Bearer TOKEN") or the sign-in's cookie.
  std::string bearer_token;
  // Refuse every action.
  bool read_only = false;
};

// Refusal
//
// How to answer a request that may not go on.
struct Refusal {
  int status = 403;  // 401 or 403
  std::string message;
  // Answer with the sign-in page (the page was asked for without a token).
  bool sign_in_page = false;
  // Add "WWW-Authenticate: Bearer ..." (a token is missing or wrong).
  bool www_authenticate = false;
};

// ConsoleAuth
//
// Thread-safe (immutable once made). Tokens compare in constant time.
class ConsoleAuth {
 public:
  // Draws the CSRF token and the session cookie's value (32 random bytes
  // each, from the kernel's CSPRNG, as hex).
  explicit ConsoleAuth(AuthOptions options);

  // Check()
  //
  // Every request, before routing: its Host, then (with a bearer token) the
  // token or the session cookie; the sign-in (/login) and static files
  // need no token. nullopt: it may go on.
  std::optional<Refusal> Check(const httplib::Request& req) const;

  // MayAct()
  //
  // An action (a POST that changes something): refused in read-only mode,
  // and without the page's CSRF token in the `kCsrfHeader` header.
  std::optional<Refusal> MayAct(const httplib::Request& req) const;

  // SignIn()
  //
  // The sign-in form's `token`: when it is the bearer token, the value of
  // the Set-Cookie header that signs the browser in (HttpOnly,
  // SameSite=Strict; the session's random value, never the token).
  // nullopt for any other token.
  std::optional<std::string> SignIn(absl::string_view token) const;

  // Whether requests need a token.
  bool token_required() const { return !options_.bearer_token.empty(); }
  // Whether actions are refused.
  bool read_only() const { return options_.read_only; }
  // The CSRF token the page embeds.
  const std::string& csrf_token() const { return csrf_; }

 private:
  const AuthOptions options_;
  const std::string csrf_;
  const std::string session_;
};

}  // namespace qg::console

#endif  // QG_CONSOLE_AUTH_H_
