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

bin/bbbfake -n "$N" -base-port 22001 -secret fake-secret >"$work/fakes.txt" &
pids+=($!)
for _ in $(seq 200); do [ "$(wc -l <"$work/fakes.txt")" -ge "$N" ] && break; sleep 0.1; done

{
	printf '{\n\tadmin localhost:2094\n\tauto_https off\n\tpersist_config off\n}\n\n:9170 {\n\tbbb_balance {\n'
	printf '\t\tsecret bench-secret\n\t\tdatabase %s/bench.sqlite\n\t\thealth_interval %ss\n' "$work" "$INTERVAL"
	while read -r id url secret; do
		printf '\t\tserver %s %s {\n\t\t\tsecret %s\n\t\t}\n' "$id" "$url" "$secret"
	done <"$work/fakes.txt"
	printf '\t}\n}\n'
} >"$work/Caddyfile"
XDG_DATA_HOME=$work XDG_CONFIG_HOME=$work bin/caddy run --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
caddy=$!
pids+=($caddy)
for _ in $(seq 600); do
	curl -fs -o /dev/null http://127.0.0.1:9170/bigbluebutton/api && break
	sleep 0.1
done
online=0
for _ in $(seq 300); do
	online=$(curl -fs localhost:2094/bbb/servers | grep -o '"online":true' | wc -l)
	[ "$online" -ge "$N" ] && break
	sleep 0.1
done
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
