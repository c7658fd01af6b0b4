#include "examples/email/signup.h"

#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/executor.h"
#include "qg/status_macros.h"
#include "qg/typed.h"

namespace email_service {

absl::StatusOr<int64_t> SignUp(PGconn* conn, qg::Client& client,
                               const std::string& name,
                               const std::string& address) {
  // Rolls back on destruction unless committed.
  QG_ASSIGN_OR_RETURN(std::unique_ptr<qg::PgTx> tx, qg::PgTx::Begin(conn));
  QG_ASSIGN_OR_RETURN(
      qg::Rows rows,
      tx->Query("INSERT INTO users (name, address) VALUES ($1, $2) "
                "RETURNING id",
                {name, address}));
  int64_t user_id = 0;
  if (!absl::SimpleAtoi(rows.rows.at(0).at(0).value_or(""), &user_id)) {
    return absl::InternalError("INSERT returned no id");
  }
  qg::examples::email::WelcomeEmail email;
  email.set_user_id(user_id);
  email.set_address(address);
  email.set_name(name);
  QG_ASSIGN_OR_RETURN(qg::NewJob job, qg::NewTypedJob(email));
  QG_RETURN_IF_ERROR(client.EnqueueInTx(job, *tx).status());
  QG_RETURN_IF_ERROR(tx->Commit());
  return user_id;
}

absl::Status SendWelcomeEmail(qg::Job& job,
                              const qg::examples::email::WelcomeEmail& email) {
  QG_ASSIGN_OR_RETURN(qg::Tx * tx, job.Tx());
  return tx
      ->Query(
          "INSERT INTO sent_emails (user_id, address, job_id) "
          "VALUES ($1, $2, $3)",
          {absl::StrCat(email.user_id()), email.address(),
           absl::StrCat(job.id())})
      .status();
}

void RegisterHandlers(qg::WorkMap& work_map) {
  work_map.Register<qg::examples::email::WelcomeEmail>(SendWelcomeEmail);
}

}  // namespace email_service
