// Tests of the console's access checks on requests built in memory (the
// console's tests cover the same over HTTP).
#include "qg/console/auth.h"

#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace qg::console {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

httplib::Request Request(const std::string& method, const std::string& path,
                         httplib::Headers headers = {}) {
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = std::move(headers);
  if (!req.has_header("Host")) req.headers.emplace("Host", "127.0.0.1:8080");
  return req;
}

const ListenAddress kLoopback{"127.0.0.1", 8080};

TEST(ConsoleAuthTest, OnLoopbackForeignHostsAreForbidden) {
  ConsoleAuth auth({.listening = kLoopback});
  std::optional<Refusal> r = auth.Check(
      Request("GET", "/api/v1/config", {{"Host", "attacker.example:8080"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->message, HasSubstr("not allowed"));
  for (const char* host : {"127.0.0.1:8080", "localhost", "[::1]:8080"}) {
    EXPECT_FALSE(auth.Check(Request("GET", "/", {{"Host", host}})).has_value())
        << host;
  }
  ConsoleAuth everywhere({.listening = {"0.0.0.0", 8080}});
  EXPECT_FALSE(
      everywhere
          .Check(Request("GET", "/", {{"Host", "queue.example.com:8080"}}))
          .has_value());
}

TEST(ConsoleAuthTest, WithoutATokenEveryRequestMayGoOn) {
  ConsoleAuth auth({.listening = kLoopback});
  EXPECT_FALSE(auth.token_required());
  EXPECT_FALSE(auth.Check(Request("GET", "/metrics")).has_value());
  EXPECT_FALSE(auth.SignIn("anything").has_value());
}

TEST(ConsoleAuthTest, ATokenGuardsEveryRouteButTheSignInAndStaticFiles) {
  ConsoleAuth auth({.listening = kLoopback, .bearer_token = "s3cret"});
  std::optional<Refusal> r = auth.Check(Request("GET", "/api/v1/overview"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(r->www_authenticate);
  EXPECT_FALSE(r->sign_in_page);
  EXPECT_THAT(r->message, HasSubstr("missing token"));
  r = auth.Check(
      Request("GET", "/metrics", {{"Authorization", "Bearer wrong"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->message, "wrong token");
  EXPECT_FALSE(auth.Check(Request("GET", "/metrics",
                                  {{"Authorization", "Bearer s3cret"}}))
                   .has_value());
  EXPECT_FALSE(auth.Check(Request("POST", "/login")).has_value());
  EXPECT_FALSE(auth.Check(Request("GET", "/static/app.js")).has_value());
  // The page itself: the sign-in form instead.
  r = auth.Check(Request("GET", "/"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(r->sign_in_page);
}

TEST(ConsoleAuthTest, TheSignInSetsASessionCookieThatIsNotTheToken) {
  ConsoleAuth auth({.listening = kLoopback, .bearer_token = "s3cret"});
  EXPECT_FALSE(auth.SignIn("wrong").has_value());
  EXPECT_FALSE(auth.SignIn("").has_value());
  std::optional<std::string> cookie = auth.SignIn("s3cret");
  ASSERT_TRUE(cookie.has_value());
  EXPECT_THAT(*cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(*cookie, HasSubstr("SameSite=Strict"));
  EXPECT_THAT(*cookie, Not(HasSubstr("s3cret")));
  std::string session = cookie->substr(0, cookie->find(';'));
  EXPECT_FALSE(auth.Check(Request("GET", "/api/v1/overview",
                                  {{"Cookie", "a=b; " + session}}))
                   .has_value());
  EXPECT_TRUE(auth.Check(Request("GET", "/api/v1/overview",
                                 {{"Cookie", "qg_console_session=forged"}}))
                  .has_value());
  // Another console's session is not this one's.
  ConsoleAuth other({.listening = kLoopback, .bearer_token = "s3cret"});
  EXPECT_TRUE(
      other.Check(Request("GET", "/api/v1/overview", {{"Cookie", session}}))
          .has_value());
}

TEST(ConsoleAuthTest, ActionsNeedTheCsrfHeaderAndAreOffWhenReadOnly) {
  ConsoleAuth auth({.listening = kLoopback});
  EXPECT_EQ(auth.csrf_token().size(), 64u);
  std::optional<Refusal> r =
      auth.MayAct(Request("POST", "/api/v1/jobs/1/retry"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->message, HasSubstr("missing CSRF token"));
  r = auth.MayAct(
      Request("POST", "/api/v1/jobs/1/retry", {{kCsrfHeader, "nope"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(r->message, HasSubstr("wrong CSRF token"));
  EXPECT_FALSE(auth.MayAct(Request("POST", "/api/v1/jobs/1/retry",
                                   {{kCsrfHeader, auth.csrf_token()}}))
                   .has_value());
  ConsoleAuth read_only({.listening = kLoopback, .read_only = true});
  r = read_only.MayAct(Request("POST", "/api/v1/jobs/1/retry",
                               {{kCsrfHeader, read_only.csrf_token()}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(r->message, HasSubstr("read-only"));
  EXPECT_NE(read_only.csrf_token(), auth.csrf_token());
}

}  // namespace
}  // namespace qg::console
