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

bin/bbbfake -n "$N" -base-port 20000 -secret fake-secret >"$work/fakes.txt" &
pids+=($!)
for _ in $(seq 200); do [ "$(wc -l <"$work/fakes.txt")" -ge "$N" ] && break; sleep 0.1; done

{
	printf '{\n\tadmin localhost:2097\n\tauto_https off\n\tpersist_config off\n}\n\n:9110 {\n\tbbb_balance {\n'
	printf '\t\tsecret bench-secret\n\t\tdatabase %s/bench.sqlite\n\t\thealth_interval 10s\n' "$work"
	while read -r id url secret; do
		printf '\t\tserver %s %s {\n\t\t\tsecret %s\n\t\t}\n' "$id" "$url" "$secret"
	done <"$work/fakes.txt"
	printf '\t}\n}\n'
} >"$work/Caddyfile"

XDG_DATA_HOME=$work XDG_CONFIG_HOME=$work bin/caddy run --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
caddy=$!
pids+=($caddy)
for _ in $(seq 600); do
	curl -fs -o /dev/null http://127.0.0.1:9110/bigbluebutton/api && break
	sleep 0.1
done
online=0
for _ in $(seq 300); do
	online=$(curl -fs localhost:2097/bbb/servers | grep -o '"online":true' | wc -l)
	[ "$online" -ge "$N" ] && break
	sleep 0.1
done
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
