#include "qg/internal/sql.h"

#include "absl/strings/str_cat.h"
#include "qg/pg.h"

namespace qg::internal::sql {

// clang-format off
const Statement kLockJob{"qg_lock_job", "$1 queue text", sql_text::lock_job};
const Statement kCheckJob{"qg_check_job",
    "$1 queue text, $2 priority smallint, $3 run_at timestamptz, "
    "$4 job_id bigint", sql_text::check_job};
const Statement kDeleteJob{"qg_delete_job",
    "$1 queue text, $2 priority smallint, $3 run_at timestamptz, "
    "$4 job_id bigint", sql_text::delete_job};
const Statement kSetError{"qg_set_error",
    "$1 error_count integer, $2 delay float8, $3 message text, "
    "$4 queue text, $5 priority smallint, $6 run_at timestamptz, "
    "$7 job_id bigint", sql_text::set_error};
const Statement kSnoozeJob{"qg_snooze_job",
    "$1 delay float8, $2 queue text, $3 priority smallint, "
    "$4 run_at timestamptz, $5 job_id bigint", sql_text::snooze_job};
const Statement kSnoozeBatch{"qg_snooze_batch",
    "$1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[], "
    "$4 ids bigint[], $5 delays float8[]", sql_text::snooze_batch};
const Statement kSnoozeById{"qg_snooze_by_id",
    "$1 ids bigint[], $2 delays float8[]", sql_text::snooze_by_id};
const Statement kSetPaused{"qg_set_paused", "$1 queue text, $2 paused boolean",
    sql_text::set_paused};
const Statement kPausedQueues{"qg_paused_queues", "", sql_text::paused_queues};
const Statement kQueuePaused{"qg_queue_paused", "$1 queue text",
    sql_text::queue_paused};
const Statement kCancelUnheld{"qg_cancel_unheld",
    "$1 job_id bigint, $2 message text", sql_text::cancel_unheld};
const Statement kRequestCancel{"qg_request_cancel",
    "$1 job_id bigint, $2 expires_in float8", sql_text::request_cancel};
const Statement kCancelAcknowledged{"qg_cancel_acknowledged",
    "$1 job_id bigint", sql_text::cancel_acknowledged};
const Statement kWithdrawCancel{"qg_withdraw_cancel",
    "$1 job_id bigint, $2 acknowledged_too boolean", sql_text::withdraw_cancel};
const Statement kPendingCancels{"qg_pending_cancels", "",
    sql_text::pending_cancels};
const Statement kAckCancels{"qg_ack_cancels", "$1 ids bigint[]",
    sql_text::ack_cancels};
const Statement kListenControl{"qg_listen_control", "",
    sql_text::listen_control};
const Statement kCountJobs{"qg_count_jobs",
    "$1 minutes timestamptz[], $2 queues text[], $3 job_classes text[], "
    "$4 completed bigint[], $5 retried bigint[], $6 dead bigint[], "
    "$7 snoozed bigint[], $8 cancelled bigint[]", sql_text::count_jobs};
const Statement kTrimCounts{"qg_trim_counts", "$1 keep float8",
    sql_text::trim_counts};
const Statement kUnlockJob{"qg_unlock_job", "$1 job_id bigint",
    sql_text::unlock_job};
const Statement kTryLockJob{"qg_try_lock_job", "$1 job_id bigint",
    sql_text::try_lock_job};

const Statement kInsertJob{"qg_insert_job",
    "$1 queue text, $2 priority smallint, $3 run_at timestamptz, "
    "$4 job_class text, $5 args json", sql_text::insert_job};
const Statement kInsertJobReturningRow{"qg_insert_job_returning_row",
    "$1 queue text, $2 priority smallint, $3 run_at timestamptz, "
    "$4 job_class text, $5 args json", sql_text::insert_job_returning_row};
const Statement kInsertMany{"qg_insert_many",
    "$1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[], "
    "$4 job_classes text[], $5 args text[]", sql_text::insert_many};
const Statement kCopyJobs{"qg_copy_jobs", "", sql_text::copy_jobs};
const Statement kTransactionNow{"qg_transaction_now", "",
    sql_text::transaction_now};
const Statement kDbClock{"qg_db_clock", "", sql_text::db_clock};

const Statement kJobStats{"qg_job_stats", "", sql_text::job_stats};
const Statement kDeadJobs{"qg_dead_jobs", "$1 limit int", sql_text::dead_jobs};
const Statement kRetryJob{"qg_retry_job", "$1 job_id bigint",
    sql_text::retry_job};
const Statement kInspectSchema{"qg_inspect_schema", "",
    sql_text::inspect_schema};

const Statement kListJobs{"qg_list_jobs",
    "$1 queue text, $2 job_class text, $3 state text, $4 error text, "
    "$5 after_queue text, $6 after_priority smallint, "
    "$7 after_run_at timestamptz, $8 after_job_id bigint, $9 limit int, "
    "$10 max_scan bigint",
    sql_text::list_jobs};
const Statement kGetJob{"qg_get_job", "$1 job_id bigint, $2 max_chars int",
    sql_text::get_job};
const Statement kJobHeld{"qg_job_held", "$1 job_id bigint",
    sql_text::job_held};
const Statement kTryLockBatch{"qg_try_lock_batch", "$1 ids bigint[]",
    sql_text::try_lock_batch};
const Statement kRetryBatch{"qg_retry_batch",
    "$1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[], "
    "$4 ids bigint[]", sql_text::retry_batch};
const Statement kMigrateLock{"qg_migrate_lock", "", sql_text::migrate_lock};

const Statement kHasLockFunction{"qg_has_lock_function", "",
    sql_text::has_lock_function};
const Statement kLockerSettings{"qg_locker_settings", "",
    sql_text::locker_settings};
const Statement kListen{"qg_listen", "", sql_text::listen};
const Statement kSessionTimeout{"qg_session_timeout", "$1 timeout text",
    sql_text::session_timeout};
const Statement kLockJobs{"qg_lock_jobs",
    "$1 queue text, $2 want int, $3 held bigint[], $4 max_scan int, "
    "$5 after_priority smallint, $6 after_run_at timestamptz, "
    "$7 after_job_id bigint, $8 rewind_priority smallint, "
    "$9 rewind_run_at timestamptz, $10 rewind_job_id bigint",
    sql_text::lock_jobs};
const Statement kConfirmBatch{"qg_confirm_batch",
    "$1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[], "
    "$4 ids bigint[]", sql_text::confirm_batch};
const Statement kDeleteBatch{"qg_delete_batch",
    "$1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[], "
    "$4 ids bigint[]", sql_text::delete_batch};
const Statement kDeleteById{"qg_delete_by_id", "$1 ids bigint[]",
    sql_text::delete_by_id};
const Statement kErrorBatch{"qg_error_batch",
    "$1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[], "
    "$4 ids bigint[], $5 error_counts integer[], $6 delays float8[], "
    "$7 messages text[]", sql_text::error_batch};
const Statement kErrorById{"qg_error_by_id",
    "$1 ids bigint[], $2 error_counts integer[], $3 delays float8[], "
    "$4 messages text[]", sql_text::error_by_id};
const Statement kUnlockBatch{"qg_unlock_batch", "$1 ids bigint[]",
    sql_text::unlock_batch};
const Statement kNextDue{"qg_next_due", "$1 queue text", sql_text::next_due};
const Statement kSweep{"qg_sweep",
    "$1 queue text, $2 before_priority smallint, "
    "$3 before_run_at timestamptz, $4 before_job_id bigint, $5 want int, "
    "$6 max_scan int", sql_text::sweep};

const Statement kHasUniqueKey{"qg_has_unique_key", "",
    sql_text::has_unique_key};
const Statement kInsertUniqueJob{"qg_insert_unique_job",
    "$1 queue text, $2 priority smallint, $3 run_at timestamptz, "
    "$4 job_class text, $5 args json, $6 qg_unique_key text",
    sql_text::insert_unique_job};
const Statement kInsertManyUnique{"qg_insert_many_unique",
    "$1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[], "
    "$4 job_classes text[], $5 args text[], $6 unique_keys text[]",
    sql_text::insert_many_unique};

const Statement kHasPeriodicTable{"qg_has_periodic_table", "",
    sql_text::has_periodic_table};
const Statement kPeriodicClaim{"qg_periodic_claim",
    "$1 name text, $2 schedule text, $3 time_zone text, "
    "$4 last_occurrence timestamptz", sql_text::periodic_claim};
const Statement kPeriodicLock{"qg_periodic_lock", "$1 name text",
    sql_text::periodic_lock};
const Statement kPeriodicRecord{"qg_periodic_record",
    "$1 name text, $2 last_occurrence timestamptz, $3 last_job_id bigint, "
    "$4 schedule text, $5 time_zone text", sql_text::periodic_record};
const Statement kPeriodicHeartbeat{"qg_periodic_heartbeat", "$1 names text[]",
    sql_text::periodic_heartbeat};
const Statement kPeriodicList{"qg_periodic_list",
    "$1 registered_within float8", sql_text::periodic_list};
const Statement kPeriodicRemove{"qg_periodic_remove", "$1 name text",
    sql_text::periodic_remove};
const Statement kPeriodicNow{"qg_periodic_now", "", sql_text::periodic_now};

const Statement kConsoleTables{"qg_console_tables", "",
    sql_text::console_tables};
const Statement kConsoleOverview{"qg_console_overview", "",
    sql_text::console_overview};
const Statement kConsoleQueues{"qg_console_queues", "",
    sql_text::console_queues};
const Statement kConsoleThroughput{"qg_console_throughput",
    "$1 minutes int, $2 queue text, $3 job_class text",
    sql_text::console_throughput};
// clang-format on

const std::vector<const Statement*>& ClientStatements() {
  static const auto* all = new std::vector<const Statement*>{
      &kLockJob,   &kCheckJob,   &kDeleteJob, &kSetError,
      &kUnlockJob, &kTryLockJob, &kInsertJob,
  };
  return *all;
}

const std::vector<const Statement*>& LockerStatements() {
  static const auto* all = new std::vector<const Statement*>{
      &kLockJobs,   &kConfirmBatch, &kDeleteBatch, &kDeleteById,
      &kErrorBatch, &kErrorById,    &kUnlockBatch, &kNextDue,
      &kSweep,      &kSnoozeBatch,  &kSnoozeById,  &kAckCancels,
  };
  return *all;
}

absl::Status PrepareAll(PGconn* conn,
                        const std::vector<const Statement*>& statements) {
  for (const Statement* s : statements) {
    if (absl::Status st = Prepare(conn, s->name, s->text); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace qg::internal::sql
