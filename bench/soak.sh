#!/usr/bin/env bash
# Creates while a server dies and comes back between polls: 3 fake BBB
# servers, bbb1 down for FLAP and up for FLAP, over and over (MODE:
# drop-answer does each call's work and closes the connection without
# answering, reset closes it unanswered without doing the work, refuse
# refuses connections); CLIENTS clients create new meetings for SECONDS,
# RATE creates a second in all (a busy morning, not a flood: the fakes
# keep every meeting, and polls of servers with 100,000 meetings would
# time out).
# Then the flapping stops, and the script waits for the polls to end every
# copy of a meeting that a failed create may have left on bbb1.
# Caddy :9170 (admin 2096), fakes 21101-21103; the balancer's defaults
# (health_interval 10s, fail_duration 10s).
#
# Usage: bench/soak.sh [SECONDS] [CLIENTS] [FLAP] [MODE] [RATE]   (defaults 60 16 3s drop-answer 20)
# The last lines are "RESULT <name> <value>".
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
CLIENTS=${2:-16}
FLAP=${3:-3s}
MODE=${4:-drop-answer}
RATE=${5:-20}
FAKE_ARGS="-flap $FLAP -flap-mode $MODE -flap-for ${SECS}s"
source bench/common.sh

start_pool 3 21101 9170 2096
[ "$online" -ge 3 ] || { echo "only $online of 3 servers online"; tail "$work/caddy.log"; exit 1; }
echo "== $CLIENTS clients create $RATE meetings a second for ${SECS}s; bbb1 flaps every $FLAP ($MODE)"
bin/bbbload -url http://127.0.0.1:9170 -secret bench-secret -call create -c "$CLIENTS" -d "${SECS}s" -warmup 0 -rate "$RATE" | tee "$work/load.txt"
requests=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' "$work/load.txt")
errors=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' "$work/load.txt")

# Every meeting id on every fake, asked directly; a meeting on two
# servers is listed twice.
twice() {
	while read -r id url secret; do
		curl -fs "$url/getMeetings?checksum=$(printf 'getMeetings%s' "$secret" | sha1sum | cut -d' ' -f1)" |
			grep -o '<meetingID>[^<]*</meetingID>' || true
	done <"$work/fakes.txt" | sort | uniq -d | wc -l
}
echo "== waiting for the polls to end the copies on bbb1 (up to 60 s)"
dups=$(twice)
for _ in $(seq 60); do
	[ "$dups" -eq 0 ] && break
	sleep 1
	dups=$(twice)
done
ended=$(grep -c 'ended an empty copy' "$work/caddy.log" || true)
retried=$(grep -c 'trying another' "$work/caddy.log" || true)
echo
echo "RESULT creates $requests"
echo "RESULT create_errors $errors"
echo "RESULT create_error_pct $(awk -v e="$errors" -v r="$requests" 'BEGIN { printf "%.2f", r ? 100 * e / r : 0 }')"
echo "RESULT creates_retried $retried"
echo "RESULT copies_ended $ended"
echo "RESULT meetings_on_two_servers $dups"
