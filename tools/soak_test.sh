#!/usr/bin/env bash
# A bounded chaos soak: ~45 s of kills, terminations and restarts; the soak
# binary exits non-zero if any job was lost or stuck or a lock was left.
set -euo pipefail
out=$("$1" --duration 45 --processes 3 --threads 3 --enqueuers 2 --mode mixed)
echo "$out"
grep -q '^  lost                  0$' <<<"$out"
grep -q '^  unexplained duplicates 0$' <<<"$out"
grep -q '^soak: PASS$' <<<"$out"
