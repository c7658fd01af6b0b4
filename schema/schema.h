// schema/schema.h
// -----------------------------------------------------------------------------
//
// The `que_jobs` DDL of Ruby Que 0.x (schema version 3), shared by que-go, qg
// and qg-cpp, compiled into the binary from `schema/que_jobs.sql`.
//
// Example:
//   PQexec(conn, qg::schema::kQueJobsSql);  // idempotent
#ifndef QG_SCHEMA_SCHEMA_H_
#define QG_SCHEMA_SCHEMA_H_

namespace qg::schema {

// The text of `schema/que_jobs.sql`: creates `que_jobs` if it does not exist
// and sets `COMMENT ON TABLE que_jobs IS '3'` (Ruby Que's schema version).
// Several statements; run it with a simple-query call such as `PQexec`.
extern const char kQueJobsSql[];

// qg-cpp's additive changes (`schema/qg_additions.sql`): the `qg_lock_job`
// function of the batched worker path, the `qg_notify_jobs` NOTIFY
// trigger, the nullable `que_jobs.qg_unique_key` column with its partial
// unique index (unique jobs) and the `qg_periodic` table (periodic jobs).
// Idempotent; apply after `kQueJobsSql`. Peers keep working.
extern const char kQgAdditionsSql[];

// The schema version Ruby Que 0.x writes as the table comment.
inline constexpr int kQueSchemaVersion = 3;

}  // namespace qg::schema

#endif  // QG_SCHEMA_SCHEMA_H_
