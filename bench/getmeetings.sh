#!/usr/bin/env bash
# Measures getMeetings through bbb_balance in front of SERVERS fake BBB
# servers holding PER meetings each (default 100 x 20): every call asks
# all of them at once and merges their answers. In the same run it measures
# getMeetings sent straight to one of those fakes (PER meetings), which is
# one of the SERVERS answers a call through the balancer needs: the fakes
# share the machine with the balancer, so SERVERS direct calls per balancer
# call are the ceiling ("direct / SERVERS").
# Caddy :9160 (admin 2095), fakes 21001.. (one bbbfake process).
#
# Usage: bench/getmeetings.sh [RUNS] [SECONDS] [CLIENTS] [SERVERS] [PER]   (defaults 3 10 8 100 20)
# The last lines are "RESULT <name> <value>" for bench/report.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SECONDS_PER_RUN=${2:-10}
CLIENTS=${3:-8}
N=${4:-100}
PER=${5:-20}
source bench/common.sh

start_pool "$N" 21001 9160 2095
[ "$online" -ge "$N" ] || { echo "only $online of $N servers online"; tail "$work/caddy.log"; exit 1; }

total=$((N * PER))
echo "== $N servers online; placing $total meetings through the balancer"
bin/bbbload -url http://127.0.0.1:9160 -secret bench-secret -call create -c 8 -n "$total" -d 10m -warmup 0 >/dev/null
# Placement spreads them evenly; the direct call goes to the fake with the
# fewest, so it never has more to list than the average.
fewest=$total
direct_url=
while read -r id url secret; do
	n=$(curl -fs "$(printf '%s/getMeetings?checksum=%s' "$url" "$(printf 'getMeetings%s' "$secret" | sha1sum | cut -d' ' -f1)")" | grep -o '<meeting>' | wc -l || true)
	if [ "$n" -lt "$fewest" ]; then fewest=$n; direct_url=${url%/bigbluebutton/api}; fi
done <"$work/fakes.txt"
echo "== $total meetings placed; the direct calls go to $direct_url ($fewest meetings)"

echo "== $RUNS runs x ${SECONDS_PER_RUN}s, $CLIENTS clients"
load() { bin/bbbload -c "$CLIENTS" -d "${SECONDS_PER_RUN}s" -call getmeetings "$@" | tee -a "$work/results.txt"; }
for _ in $(seq "$RUNS"); do
	load -label direct -url "$direct_url" -secret fake-secret -want-meetings "$fewest"
	load -label balancer -url http://127.0.0.1:9160 -secret bench-secret -want-meetings "$total"
done

# The median of field $2 (rate, p50 or p99) of the runs labelled $1, with
# durations in µs.
median() {
	grep "^$1 " "$work/results.txt" | sed "s/.* $2=\([0-9.]*\)\([^ ]*\).*/\1 \2/" | awk '
		{ v = $1; if ($2 == "ms") v *= 1000; else if ($2 == "s") v *= 1e6; else if ($2 == "ns") v /= 1000; printf "%.1f\n", v }' |
		sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
echo
echo "== medians of $RUNS runs (latency in µs)"
echo "RESULT servers $N"
echo "RESULT meetings $total"
echo "RESULT direct_meetings $fewest"
for who in direct balancer; do
	echo "RESULT ${who}_rate $(median "$who" rate)"
	echo "RESULT ${who}_p50 $(median "$who" p50)"
	echo "RESULT ${who}_p99 $(median "$who" p99)"
done
