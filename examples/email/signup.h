// examples/email/signup.h
// -----------------------------------------------------------------------------
//
// A small service built on qg-cpp's public targets: signing a user up writes
// the `users` row and enqueues a typed WelcomeEmail job in the same
// transaction, so the e-mail is sent if and only if the sign-up commits.
// `SendWelcomeEmail` is the job's handler; it records the e-mail through the
// job's transaction, so the record commits together with the job's deletion.
#ifndef EXAMPLES_EMAIL_SIGNUP_H_
#define EXAMPLES_EMAIL_SIGNUP_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "examples/email/email.pb.h"
#include "libpq-fe.h"
#include "qg/client.h"
#include "qg/job.h"
#include "qg/worker/work_map.h"

namespace email_service {

// The service's own tables (applied by the test and the worker binary).
inline constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS users (
  id      bigserial PRIMARY KEY,
  name    text NOT NULL,
  address text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS sent_emails (
  user_id bigint NOT NULL,
  address text NOT NULL,
  job_id  bigint NOT NULL
);
)sql";

// SignUp()
//
// Inserts the user and enqueues their WelcomeEmail on `conn` in one
// transaction; returns the new user's id. On any error (for example
// `AlreadyExists` for a taken address) the transaction rolls back and no job
// is left behind.
absl::StatusOr<int64_t> SignUp(PGconn* conn, qg::Client& client,
                               const std::string& name,
                               const std::string& address);

// SendWelcomeEmail()
//
// The WelcomeEmail handler: "sends" the e-mail by recording it in
// `sent_emails` through `job.Tx()`.
absl::Status SendWelcomeEmail(qg::Job& job,
                              const qg::examples::email::WelcomeEmail& email);

// Registers the service's handlers.
void RegisterHandlers(qg::WorkMap& work_map);

}  // namespace email_service

#endif  // EXAMPLES_EMAIL_SIGNUP_H_
