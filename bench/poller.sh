#!/usr/bin/env bash
# Measures the poller at scale: Caddy with bbb_balance in front of N fake
# BBB servers (one separate bbbfake process serves them all), polling every
# 10 s. After a warm-up, it fills the pool with meetings through the
# balancer, then reads Caddy's CPU time and resident memory over a window of
# poll rounds. Figures are for the whole Caddy process (idle HTTP serving
# included), so they bound the poller's cost from above.
#
# Usage: bench/poller.sh [SERVERS] [SECONDS]     (defaults 1000 60)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
WINDOW=${2:-60}
source bench/common.sh

start_pool "$N" 20000 9110 2097 10s
echo "== $N servers, $online online"

echo "== filling the pool: creates through the balancer for 5 s"
bin/bbbload -url http://127.0.0.1:9110 -secret bench-secret -call create -c 8 -d 5s -warmup 0
meetings=$(curl -fs localhost:2097/bbb/meetings | grep -o '"key"' | wc -l)
sleep 11 # one full round with the meetings in place

ticks() { awk '{print $14+$15}' "/proc/$caddy/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
sleep "$WINDOW"
t1=$(ticks)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$caddy/status")
cpu_s=$(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.2f", d / hz}')
echo "== over ${WINDOW}s ($((WINDOW / 10)) rounds of $N polls, $meetings meetings in the pool)"
awk -v c="$cpu_s" -v w="$WINDOW" -v r=$((WINDOW / 10)) 'BEGIN {
	printf "CPU: %.2f s in %d s = %.2f%% of one core; %.0f ms of CPU per round\n", c, w, 100 * c / w, 1000 * c / r
}'
echo "resident memory: $((rss / 1024)) MiB"
