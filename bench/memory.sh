#!/usr/bin/env bash
# Measures the resident memory of the Caddy process running bbb_balance,
# idle (SERVERS fake servers online, no meeting) and with MEETINGS live
# meetings placed through it (default 10,000 over 100 servers), after the
# poller has seen them all. Reads VmRSS from /proc/<pid>/status.
# Caddy :9170 (admin 2094), fakes 22001.. (one bbbfake process).
#
# Usage: bench/memory.sh [MEETINGS] [SERVERS] [INTERVAL]   (defaults 10000 100 10; seconds)
# The last lines are "RESULT <name> <value>" (KiB) for bench/report.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
MEETINGS=${1:-10000}
N=${2:-100}
INTERVAL=${3:-10}
source bench/common.sh

start_pool "$N" 22001 9170 2094 "${INTERVAL}s"
[ "$online" -ge "$N" ] || { echo "only $online of $N servers online"; tail "$work/caddy.log"; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$caddy/status"; }
# One poll round (the interval, its 10% jitter, and time for the polls).
round() { sleep $((INTERVAL + INTERVAL / 10 + 1)); }
round
idle=$(rss)
echo "== $N servers online, idle: $((idle / 1024)) MiB"

echo "== placing $MEETINGS meetings through the balancer"
bin/bbbload -url http://127.0.0.1:9170 -secret bench-secret -call create -c 16 -n "$MEETINGS" -d 10m -warmup 0
live=$(curl -fs localhost:2094/bbb/meetings | grep -o '"key"' | wc -l)
round
loaded=$(rss)
echo "== $live meetings in the registry, after a poll round: $((loaded / 1024)) MiB"
echo "RESULT servers $N"
echo "RESULT meetings $live"
echo "RESULT idle_kib $idle"
echo "RESULT loaded_kib $loaded"
