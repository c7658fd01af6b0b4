#!/bin/sh
# Compiles qg's SQL files into a C++ header (//qg/internal:sql_text):
#   embed.sh OUT DEAD_RUN_AT FILE.sql...
# Each FILE becomes `inline constexpr char <basename>[]` in
# qg::internal::sql_text, with @DEAD_RUN_AT@ replaced by DEAD_RUN_AT, the
# one definition of a dead job's run_at (also emitted as kDeadRunAt).
set -eu
out=$1
dead=$2
shift 2
{
  echo "// Generated from qg/internal/sql/*.sql by //qg/internal:sql_text_h."
  echo "#ifndef QG_INTERNAL_SQL_TEXT_H_"
  echo "#define QG_INTERNAL_SQL_TEXT_H_"
  echo "namespace qg::internal::sql_text {"
  echo "inline constexpr char kDeadRunAt[] = \"$dead\";"
  for f in "$@"; do
    name=$(basename "$f" .sql)
    echo "inline constexpr char $name[] = R\"qgsql("
    sed "s/@DEAD_RUN_AT@/$dead/g" "$f"
    echo ")qgsql\";"
  done
  echo "}  // namespace qg::internal::sql_text"
  echo "#endif  // QG_INTERNAL_SQL_TEXT_H_"
} > "$out"
