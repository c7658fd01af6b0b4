#!/bin/sh
# Compiles qg's SQL files into a C++ header (//qg/internal:sql_statements_h):
#   embed.sh OUT DEAD_RUN_AT [--fragment FRAGMENT.sql]... FILE.sql...
# Each FILE, `<name>.sql`, becomes one statement of the table in
# qg::internal::sql:
#   inline constexpr Statement k<Name>{"qg_<name>", R"(<text>)", <params>};
# where <Name> is <name> in CamelCase, <text> is the file with every
# @DEAD_RUN_AT@ replaced by DEAD_RUN_AT (the one definition of a dead job's
# run_at, also emitted as kDeadRunAt) and each line that holds only
# `@<fragment>@` replaced by the lines of fragments/<fragment>.sql (its `--`
# comment lines left out), indented as the marker is; and <params> is the
# highest $N the text uses. A file whose comments hold the line
# `-- prepared by: client` (or `locker`) is also listed in kClientPrepared
# (kLockerPrepared): the statements every pooled client connection (the fast
# path's locker session) prepares. Adding a statement is a .sql file here and
# its typed call in qg/internal/queries.{h,cc}.
set -eu
out=$1
dead=$2
shift 2
fragments=""
while [ "${1:-}" = "--fragment" ]; do
  fragments="$fragments $2"
  shift 2
done
camel() {
  echo "$1" | awk -F_ '{ s = "k"; for (i = 1; i <= NF; i++) s = s toupper(substr($i, 1, 1)) substr($i, 2); print s }'
}
client=""
locker=""
{
  echo "// Generated from qg/internal/sql/*.sql by //qg/internal:sql_statements_h."
  echo "#ifndef QG_INTERNAL_SQL_STATEMENTS_H_"
  echo "#define QG_INTERNAL_SQL_STATEMENTS_H_"
  echo "namespace qg::internal::sql {"
  echo "inline constexpr char kDeadRunAt[] = \"$dead\";"
  for f in "$@"; do
    name=$(basename "$f" .sql)
    var=$(camel "$name")
    text=$(awk -v fragments="$fragments" -v dead="$dead" -v file="$f" '
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
    ' "$f")
    params=$(printf '%s\n' "$text" | grep -v '^[ \t]*--' |
      grep -o '\$[0-9][0-9]*' | tr -d '$' | sort -n | tail -n 1)
    echo "inline constexpr Statement $var{\"qg_$name\", R\"qgsql("
    printf '%s\n' "$text"
    echo ")qgsql\", ${params:-0}};"
    case "$(grep -x -- '-- prepared by: [a-z]*' "$f" || true)" in
      "-- prepared by: client") client="$client &$var," ;;
      "-- prepared by: locker") locker="$locker &$var," ;;
      "") ;;
      *) echo "embed.sh: $f: unknown 'prepared by'" >&2; exit 1 ;;
    esac
  done
  echo "inline constexpr const Statement* kClientPrepared[] = {$client};"
  echo "inline constexpr const Statement* kLockerPrepared[] = {$locker};"
  echo "}  // namespace qg::internal::sql"
  echo "#endif  // QG_INTERNAL_SQL_STATEMENTS_H_"
} > "$out"
