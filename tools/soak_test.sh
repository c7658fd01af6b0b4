#!/usr/bin/env bash
# A bounded chaos soak: ~45 s of kills, terminations and restarts; the soak
# binary exits non-zero if any job was lost or stuck, a lock was left, or a
# job ran twice that no chaos event explains. Its figures are printed either
# way.
set -uo pipefail
status=0
out=$("$1" --duration 45 --processes 3 --threads 3 --enqueuers 2 --mode mixed) || status=$?
echo "$out"
if [ "$status" != 0 ]; then
  echo "soak_test: soak exited with status $status" >&2
  exit 1
fi
grep -q '^  lost                  0$' <<<"$out" &&
  grep -q '^  unexplained duplicates 0$' <<<"$out" &&
  grep -q '^soak: PASS$' <<<"$out"
