#!/bin/sh
# Compiles qg's SQL files into a C++ header (//qg/internal:sql_text):
#   embed.sh OUT DEAD_RUN_AT [--fragment FRAGMENT.sql]... FILE.sql...
# Each FILE becomes `inline constexpr char <basename>[]` in
# qg::internal::sql_text, with @DEAD_RUN_AT@ replaced by DEAD_RUN_AT, the
# one definition of a dead job's run_at (also emitted as kDeadRunAt), and
# each line that holds only `@<fragment>@` replaced by the lines of
# fragments/<fragment>.sql (its `--` comment lines left out), indented as
# the marker is: SQL that several statements share, written once.
set -eu
out=$1
dead=$2
shift 2
fragments=""
while [ "${1:-}" = "--fragment" ]; do
  fragments="$fragments $2"
  shift 2
done
{
  echo "// Generated from qg/internal/sql/*.sql by //qg/internal:sql_text_h."
  echo "#ifndef QG_INTERNAL_SQL_TEXT_H_"
  echo "#define QG_INTERNAL_SQL_TEXT_H_"
  echo "namespace qg::internal::sql_text {"
  echo "inline constexpr char kDeadRunAt[] = \"$dead\";"
  for f in "$@"; do
    name=$(basename "$f" .sql)
    echo "inline constexpr char $name[] = R\"qgsql("
    awk -v fragments="$fragments" -v dead="$dead" -v file="$f" '
      BEGIN {
        n = split(fragments, paths, " ")
        for (i = 1; i <= n; i++) {
          key = paths[i]
          sub(/.*\//, "", key)
          sub(/\.sql$/, "", key)
          text[key] = ""
          while ((getline line < paths[i]) > 0) {
            if (line !~ /^--/) text[key] = text[key] line "\n"
          }
          close(paths[i])
        }
      }
      /^[ \t]*@[a-z_]+@[ \t]*$/ {
        match($0, /^[ \t]*/)
        indent = substr($0, 1, RLENGTH)
        key = $0
        gsub(/[ \t@]/, "", key)
        if (!(key in text)) {
          printf "embed.sh: %s: no fragment %s\n", file, key > "/dev/stderr"
          exit 1
        }
        m = split(text[key], lines, "\n")
        for (i = 1; i < m; i++) {
          line = lines[i]
          gsub(/@DEAD_RUN_AT@/, dead, line)
          print indent line
        }
        next
      }
      { gsub(/@DEAD_RUN_AT@/, dead); print }
    ' "$f"
    echo ")qgsql\";"
  done
  echo "}  // namespace qg::internal::sql_text"
  echo "#endif  // QG_INTERNAL_SQL_TEXT_H_"
} > "$out"
