#!/usr/bin/env bash
# A bounded failover soak: 40 s with a failover every 10 s to a synchronous
# standby, then every 10 s to an asynchronous one. The soak exits non-zero
# if an acknowledged job was lost (with asynchronous replication: one not
# acknowledged just before a failover), a job stuck, a lock was left, or a
# job ran twice that no failover in its flight explains.
set -uo pipefail
for replication in sync async; do
  status=0
  out=$("$1" --failover="$replication" --duration 40 --failover_every 10 \
    --processes 3 --threads 3 --enqueuers 2 --mode mixed 2>/dev/null) || status=$?
  echo "$out"
  if [ "$status" != 0 ]; then
    echo "failover_soak_test: $replication soak exited with status $status" >&2
    exit 1
  fi
  grep -q '^  lost                  0' <<<"$out" &&
    grep -q '^  unexplained duplicates 0' <<<"$out" &&
    grep -q '^soak: PASS$' <<<"$out" || exit 1
done
