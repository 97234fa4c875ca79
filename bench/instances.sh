#!/usr/bin/env bash
# The figures of several instances sharing one PostgreSQL database, on this
# machine, over loopback, against a throwaway cluster with fsync and
# synchronous_commit on (scripts/postgres.sh):
#   1. joins and creates through one instance on PostgreSQL against one on
#      SQLite, in front of the same fake servers, alternately;
#   2. creates through two instances on one database, loaded at once (one
#      bbbload each), against one of them loaded alone;
#   3. a burst of 200 creates, 100 sent to each of two instances at once,
#      over 4 equal fake servers: where they landed, and how long it took;
#   4. how long polling stays without a poller after kill -9 of the
#      instance that polls (three instances, health_interval 2s,
#      health_timeout 1s).
# Every measurement has a new database and new Caddy processes.
# Caddy :9180-9182 (admin 2080-2082), fakes 23001.. (one bbbfake process
# per measurement).
#
# Prints markdown (bench/report.sh includes it); progress goes to stderr.
# The last lines are "RESULT <name> <value>".
#
# Usage: bench/instances.sh [RUNS] [SECONDS] [CLIENTS] [TAKEOVERS]   (defaults 3 10 32 5)
# BENCH_DURATION (seconds) stands in for SECONDS when that is not given.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SECS=${2:-${BENCH_DURATION:-10}}
CLIENTS=${3:-32}
TAKEOVERS=${4:-5}
SECS=${SECS%s}
INTERVAL=2 # s, health_interval of the take-over runs
TIMEOUT=1  # s, their health_timeout

for port in 9180 9181 9182 2080 2081 2082 23001 23002 23003 23004; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "port $port is taken; bench/instances.sh needs 9180-9182, 2080-2082 and 23001-23004" >&2
		exit 1
	fi
done

source bench/common.sh >&2
# Durable commits: a create's claim waits for its WAL to reach the disk, as
# it would in production.
export BBB_PG_FSYNC=on BBB_PG_SYNC=on
source scripts/postgres.sh >&2
# postgres.sh replaced common.sh's trap: the Caddy processes go first, while
# their database still answers.
trap 'cleanup; pg_cleanup' EXIT
trap 'exit 130' INT TERM

pg_setting() { psql "$BBB_TEST_POSTGRES" -qAtc "SHOW $1"; }
pg_version=$(psql "$BBB_TEST_POSTGRES" -qAtc "SHOW server_version")
pg_settings="fsync=$(pg_setting fsync), synchronous_commit=$(pg_setting synchronous_commit), full_page_writes=$(pg_setting full_page_writes)"
fpw_note=
if [ "$(pg_setting full_page_writes)" = off ]; then
	fpw_note="; a production cluster keeps full_page_writes on, which adds whole pages to the WAL after each checkpoint"
fi

note() { echo "== $*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# newdb NAME: a new database; its URL in $db_url.
newdb() {
	psql "$BBB_TEST_POSTGRES" -qc "CREATE DATABASE $1" >/dev/null
	local base=${BBB_TEST_POSTGRES%%\?*}
	db_url="${base%/*}/$1?sslmode=disable"
}

# start_fakes NAME N: one bbbfake process serving N fake servers from port
# 23001, listed in $work/NAME.txt; its pid in $fakes_pid.
start_fakes() {
	local name=$1 n=$2
	bin/bbbfake -n "$n" -base-port 23001 -secret fake-secret >"$work/$name.txt" 2>"$work/$name.log" &
	fakes_pid=$!
	pids+=("$fakes_pid")
	for _ in $(seq 100); do
		[ "$(wc -l <"$work/$name.txt")" -ge "$n" ] && return
		sleep 0.1
	done
	echo "the fake servers $name did not start" >&2
	cat "$work/$name.log" >&2
	exit 1
}

# start_caddy NAME HTTP_PORT ADMIN_PORT DATABASE FAKES [INTERVAL [TIMEOUT]]:
# Caddy with bbb_balance in front of the servers of $work/FAKES.txt; its
# pid in $caddy_pid. It does not wait (wait_ready does), so that several
# start side by side.
start_caddy() {
	local name=$1 http=$2 admin=$3 db=$4 fakes=$5 interval=${6:-} timeout=${7:-}
	mkdir -p "$work/$name"
	{
		printf '{\n\tadmin localhost:%s\n\tauto_https off\n\tpersist_config off\n}\n\n:%s {\n\tbbb_balance {\n' "$admin" "$http"
		printf '\t\tsecret bench-secret\n\t\tdatabase %s\n' "$db"
		if [ -n "$interval" ]; then printf '\t\thealth_interval %s\n' "$interval"; fi
		if [ -n "$timeout" ]; then printf '\t\thealth_timeout %s\n' "$timeout"; fi
		while read -r id url secret; do
			printf '\t\tserver %s %s {\n\t\t\tsecret %s\n\t\t}\n' "$id" "$url" "$secret"
		done <"$work/$fakes.txt"
		printf '\t}\n}\n'
	} >"$work/$name/Caddyfile"
	XDG_DATA_HOME=$work/$name XDG_CONFIG_HOME=$work/$name bin/caddy run --config "$work/$name/Caddyfile" >"$work/$name/caddy.log" 2>&1 &
	caddy_pid=$!
	pids+=("$caddy_pid")
}

# wait_ready NAME HTTP_PORT ADMIN_PORT N: until the API answers and the
# instance sees its N servers online (a poll, its own or one shared
# through the database).
wait_ready() {
	local name=$1 http=$2 admin=$3 n=$4 online=0
	for _ in $(seq 300); do
		if curl -fs -o /dev/null "http://127.0.0.1:$http/bigbluebutton/api"; then
			online=$(curl -fs "localhost:$admin/bbb/servers" | grep -o '"online":true' | wc -l || true)
			[ "$online" -ge "$n" ] && return
		fi
		sleep 0.1
	done
	echo "instance $name: $online of $n servers online after 30 s" >&2
	tail -20 "$work/$name/caddy.log" >&2
	exit 1
}

# stop PID...: ends those processes (all started here) and reaps them.
stop() {
	local p
	for p; do kill "$p" 2>/dev/null || true; done
	for p; do wait "$p" 2>/dev/null || true; done
}

# Instance rows of GET /bbb/instances, one a line (Go's encoder writes them
# flat, with no nested object).
instance_rows() { curl -fs -m 1 "localhost:$1/bbb/instances" | grep -o '{"id":[^{}]*}' || true; }
# poller_of ADMIN_PORT: the id of the instance holding the poller's lease,
# as that instance sees it; empty if none (between the lease's expiry and
# its taking over, or when the instance does not answer).
poller_of() { instance_rows "$1" | grep '"leases":"[^"]*poller' | sed 's/^{"id":"\([^"]*\)".*/\1/' | head -1 || true; }
self_of() { instance_rows "$1" | grep '"self":true' | sed 's/^{"id":"\([^"]*\)".*/\1/' | head -1 || true; }

# bbbload's result line: field NAME of a line, in /s for rates and ms for
# latencies.
field() {
	sed "s/.* $1=\([0-9.]*\)\([^ ]*\).*/\1 \2/" | awk '{
		v = $1
		if ($2 == "µs") v /= 1000; else if ($2 == "ns") v /= 1e6; else if ($2 == "s") v *= 1000
		print v
	}'
}
# of FILE LABEL NAME: field NAME of every line labelled LABEL.
of() { grep "^$2 " "$1" | field "$3"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
list() { paste -sd ' ' | sed 's/ /, /g'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { awk -v v="$1" 'BEGIN { printf "%.2f ms", v }'; }
raw=$work/raw.txt
: >"$raw"

# --- 1. one instance: PostgreSQL against SQLite ------------------------------

note "1. one instance on SQLite and one on PostgreSQL, same 3 fake servers: $RUNS runs x ${SECS}s, $CLIENTS clients"
start_fakes fakes-one 3
newdb bench_one
# health_interval 1h, as in bench/run.sh: each run creates tens of thousands
# of meetings, and polls of that size would measure the poller.
start_caddy sqlite 9180 2080 "$work/one.sqlite" fakes-one 1h
sqlite_pid=$caddy_pid
start_caddy postgres 9181 2081 "$db_url" fakes-one 1h
postgres_pid=$caddy_pid
wait_ready sqlite 9180 2080 3
wait_ready postgres 9181 2081 3

one=$work/one.txt
load() { bin/bbbload -c "$CLIENTS" -d "${SECS}s" -secret bench-secret "$@" | tee -a "$one" "$raw" >&2; }
for r in $(seq "$RUNS"); do
	# The engine that goes first alternates, so that a drift of the machine
	# (or the fakes filling up) weighs on both alike.
	engines="sqlite postgres"
	[ $((r % 2)) = 0 ] && engines="postgres sqlite"
	for call in join create; do
		for e in $engines; do
			port=9180
			[ "$e" = postgres ] && port=9181
			load -label "$call-$e" -call "$call" -url "http://127.0.0.1:$port"
		done
	done
done
stop "$sqlite_pid" "$postgres_pid" "$fakes_pid"

for call in join create; do
	for e in sqlite postgres; do
		declare "${call}_${e}_rate=$(of "$one" "$call-$e" rate | median)"
		declare "${call}_${e}_p50=$(of "$one" "$call-$e" p50 | median)"
		declare "${call}_${e}_p99=$(of "$one" "$call-$e" p99 | median)"
	done
done
join_ratio=$(ratio "$join_postgres_rate" "$join_sqlite_rate")
create_ratio=$(ratio "$create_postgres_rate" "$create_sqlite_rate")

# --- 2. two instances on one database, creates at once -----------------------

note "2. creates through two instances on one PostgreSQL at once: $RUNS runs x ${SECS}s, $CLIENTS clients each"
start_fakes fakes-two 3
newdb bench_two
start_caddy two-a 9180 2080 "$db_url" fakes-two 1h
a_pid=$caddy_pid
start_caddy two-b 9181 2081 "$db_url" fakes-two 1h
b_pid=$caddy_pid
wait_ready two-a 9180 2080 3
wait_ready two-b 9181 2081 3

two=$work/two.txt
create_load() { bin/bbbload -c "$CLIENTS" -d "${SECS}s" -secret bench-secret -call create "$@"; }
for r in $(seq "$RUNS"); do
	order="alone both"
	[ $((r % 2)) = 0 ] && order="both alone"
	for what in $order; do
		if [ "$what" = alone ]; then
			create_load -label alone -url http://127.0.0.1:9180 | tee -a "$two" "$raw" >&2
		else
			create_load -label both-a -url http://127.0.0.1:9180 >"$work/both-a.txt" &
			la=$!
			create_load -label both-b -url http://127.0.0.1:9181 >"$work/both-b.txt" &
			lb=$!
			wait "$la"
			wait "$lb"
			cat "$work/both-a.txt" "$work/both-b.txt" | tee -a "$two" "$raw" >&2
			echo "$(field rate <"$work/both-a.txt") $(field rate <"$work/both-b.txt")" | awk '{ print $1 + $2 }' >>"$work/sums.txt"
		fi
	done
done
stop "$a_pid" "$b_pid" "$fakes_pid"
alone_rate=$(of "$two" alone rate | median)
sum_rate=$(median <"$work/sums.txt")
both_a_rate=$(of "$two" both-a rate | median)
both_b_rate=$(of "$two" both-b rate | median)
both_p99=$(grep '^both-' "$two" | field p99 | median)

# --- 3. a burst over two instances --------------------------------------------

note "3. bursts of 2 x 100 creates over two instances and 4 fake servers: $RUNS runs"
burst=$work/burst.txt
: >"$burst"
for r in $(seq "$RUNS"); do
	start_fakes "fakes-burst-$r" 4
	newdb "bench_burst_$r"
	# The balancer's own poll timing (health_interval 10s): a burst is
	# placed between polls, on what the instances tell each other.
	start_caddy burst-a-$r 9180 2080 "$db_url" "fakes-burst-$r"
	a_pid=$caddy_pid
	start_caddy burst-b-$r 9181 2081 "$db_url" "fakes-burst-$r"
	b_pid=$caddy_pid
	wait_ready burst-a-$r 9180 2080 4
	wait_ready burst-b-$r 9181 2081 4
	t0=$(now_ms)
	bin/bbbload -c 16 -n 100 -d 1m -warmup 0 -secret bench-secret -call create -label burst-a -url http://127.0.0.1:9180 >"$work/burst-a.txt" &
	la=$!
	bin/bbbload -c 16 -n 100 -d 1m -warmup 0 -secret bench-secret -call create -label burst-b -url http://127.0.0.1:9181 >"$work/burst-b.txt" &
	lb=$!
	wait "$la"
	wait "$lb"
	took=$(($(now_ms) - t0))
	cat "$work/burst-a.txt" "$work/burst-b.txt" | tee -a "$raw" >&2
	# Every meeting as the fakes hold it, asked directly: one line per
	# meeting and server.
	counts=() total=0
	: >"$work/ids.txt"
	while read -r id url secret; do
		curl -fs "$url/getMeetings?checksum=$(printf 'getMeetings%s' "$secret" | sha1sum | cut -d' ' -f1)" |
			grep -o '<meetingID>[^<]*</meetingID>' >"$work/ids-$id.txt" || true
		n=$(wc -l <"$work/ids-$id.txt")
		cat "$work/ids-$id.txt" >>"$work/ids.txt"
		counts+=("$n")
		total=$((total + n))
	done <"$work/fakes-burst-$r.txt"
	twice=$(sort "$work/ids.txt" | uniq -d | wc -l)
	echo "burst run=$r counts=${counts[*]} total=$total on_two_servers=$twice took_ms=$took" | tee -a "$burst" "$raw" >&2
	stop "$a_pid" "$b_pid" "$fakes_pid"
done
burst_took=$(sed 's/.*took_ms=\([0-9]*\).*/\1/' "$burst" | median)
burst_spread=$(sed 's/.*counts=\([0-9 ]*\) total.*/\1/' "$burst" | awk '{ lo = $1; hi = $1; for (i = 2; i <= NF; i++) { if ($i < lo) lo = $i; if ($i > hi) hi = $i }; print hi - lo }' | sort -g | tail -1)

# --- 4. take-over of polling after kill -9 of the poller -----------------------

bound_ms=$(((2 * INTERVAL + TIMEOUT) * 1000))
note "4. take-over of polling after kill -9 of the poller, 3 instances, health_interval ${INTERVAL}s, health_timeout ${TIMEOUT}s: $TAKEOVERS runs"
start_fakes fakes-takeover 3
takeover=$work/takeover.txt
: >"$takeover"
for t in $(seq "$TAKEOVERS"); do
	newdb "bench_takeover_$t"
	tpids=() admins=()
	for i in 0 1 2; do
		start_caddy "takeover-$t-$i" $((9180 + i)) $((2080 + i)) "$db_url" fakes-takeover "${INTERVAL}s" "${TIMEOUT}s"
		tpids+=("$caddy_pid")
		admins+=($((2080 + i)))
	done
	for i in 0 1 2; do wait_ready "takeover-$t-$i" $((9180 + i)) $((2080 + i)) 3; done
	ready=
	for _ in $(seq 100); do
		if [ -n "$(poller_of 2080)" ] && [ "$(instance_rows 2080 | wc -l)" -ge 3 ]; then ready=1 && break; fi
		sleep 0.1
	done
	[ -n "$ready" ] || { echo "take-over run $t: no poller among 3 instances after 10 s" >&2; exit 1; }
	# A kill at a random point of the poller's renewal cycle (every
	# interval / 2), as a crash would come.
	sleep "$((2 + RANDOM % 2)).$((RANDOM % 10))"
	victim=$(poller_of 2080)
	v=-1
	for i in 0 1 2; do [ "$(self_of "${admins[$i]}")" = "$victim" ] && v=$i; done
	[ "$v" -ge 0 ] || { echo "take-over run $t: poller $victim is none of the three" >&2; exit 1; }
	survivors=()
	for i in 0 1 2; do [ "$i" != "$v" ] && survivors+=("${admins[$i]}"); done
	t0=$(now_ms)
	kill -9 "${tpids[$v]}"
	# Reaped here, where bash's "Killed" notice can be kept off the output.
	{ wait "${tpids[$v]}"; } 2>/dev/null || true
	took= by=
	while [ $(($(now_ms) - t0)) -lt 30000 ]; do
		for a in "${survivors[@]}"; do
			p=$(poller_of "$a")
			if [ -n "$p" ] && [ "$p" != "$victim" ]; then
				took=$(($(now_ms) - t0)) by=$p
				break 2
			fi
		done
		sleep 0.05
	done
	[ -n "$took" ] || { echo "take-over run $t: no instance took over within 30 s" >&2; exit 1; }
	echo "takeover run=$t killed=$victim new_poller=$by took_ms=$took" | tee -a "$takeover" "$raw" >&2
	stop "${tpids[@]}"
done
stop "$fakes_pid"
takeover_ms=$(sed 's/.*took_ms=\([0-9]*\).*/\1/' "$takeover")
takeover_max=$(sort -g <<<"$takeover_ms" | tail -1)
takeover_median=$(median <<<"$takeover_ms")
within=yes
[ "$takeover_max" -le "$bound_ms" ] || within=NO

# --- the section -----------------------------------------------------------------

s() { awk -v v="$1" 'BEGIN { printf "%.1f\n", v / 1000 }'; }
cat <<EOF
Method: \`bash bench/instances.sh $RUNS $SECS $CLIENTS $TAKEOVERS\` on this machine ($(nproc) cores,
$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Go $(go env GOVERSION)), over loopback. PostgreSQL $pg_version
is a throwaway cluster (\`scripts/postgres.sh\` with \`BBB_PG_FSYNC=on BBB_PG_SYNC=on\`: $pg_settings$fpw_note)
on the same cores as the Caddy processes, the fake servers (\`bin/bbbfake\`) and the load generator
(\`bin/bbbload\`). Every measurement below has a new database (\`CREATE DATABASE\`), new Caddy processes
and new fake servers.

**One instance, PostgreSQL against SQLite.** Two Caddy processes with \`bbb_balance\` in front of the
same 3 fake servers, one with \`database <file>.sqlite\`, one with \`database postgres://…\`; both with
\`health_interval 1h\` as in \`bench/run.sh\` (each run creates tens of thousands of meetings). As in
\`bench/run.sh\`: \`bin/bbbload -c $CLIENTS -d ${SECS}s\` with \`-call join\` (50 meetings, joined round-robin; every
answer a 302) and \`-call create\` (a new meeting each; every answer SUCCESS), against one instance at a
time, alternately, the engine that goes first alternating; $RUNS runs, medians.

| call | SQLite | PostgreSQL | PostgreSQL ÷ SQLite |
|---|---|---|---|
| join | $join_sqlite_rate/s (p50 $(ms "$join_sqlite_p50"), p99 $(ms "$join_sqlite_p99")) | $join_postgres_rate/s (p50 $(ms "$join_postgres_p50"), p99 $(ms "$join_postgres_p99")) | **$join_ratio** (target ≥ 0.9) |
| create | $create_sqlite_rate/s (p50 $(ms "$create_sqlite_p50"), p99 $(ms "$create_sqlite_p99")) | $create_postgres_rate/s (p50 $(ms "$create_postgres_p50"), p99 $(ms "$create_postgres_p99")) | **$create_ratio** (target ≥ 0.5) |

Per run (/s): join SQLite $(of "$one" join-sqlite rate | list); join PostgreSQL $(of "$one" join-postgres rate | list);
create SQLite $(of "$one" create-sqlite rate | list); create PostgreSQL $(of "$one" create-postgres rate | list).

**Two instances on one PostgreSQL, creates at once.** Two Caddy processes on one database in front of
3 fake servers (\`health_interval 1h\`); two \`bin/bbbload -c $CLIENTS -d ${SECS}s -call create\` processes
started together, one per instance; against it, the first instance loaded alone by one such process;
alternately, $RUNS runs, medians. All of it shares the machine's $(nproc) cores, so the sum shows what
the instances' coordination through the database costs, not how instances on separate machines
would add up.

| | creates/s |
|---|---|
| one instance alone | $alone_rate/s |
| two instances at once, sum | **$sum_rate/s** (first $both_a_rate/s, second $both_b_rate/s; p99 $(ms "$both_p99")) |
| sum ÷ alone | **$(ratio "$sum_rate" "$alone_rate")** |

Sums per run (/s): $(list <"$work/sums.txt").

**A burst over two instances.** Two Caddy processes on one database in front of 4 equal fake servers
(the balancer's default health_interval, 10 s); \`bin/bbbload -c 16 -n 100 -warmup 0 -call create\` against
each, started together: 200 new meetings. The counts are each fake's own getMeetings; the time is
from starting both load generators to the end of the second (processes' start included). $RUNS runs,
each on new fakes and a new database.

| run | bbb1 | bbb2 | bbb3 | bbb4 | total | on two servers | took |
|---|---|---|---|---|---|---|---|
$(sed 's/burst run=\([0-9]*\) counts=\([0-9]*\) \([0-9]*\) \([0-9]*\) \([0-9]*\) total=\([0-9]*\) on_two_servers=\([0-9]*\) took_ms=\([0-9]*\)/| \1 | \2 | \3 | \4 | \5 | \6 | \7 | \8 ms |/' "$burst")

Largest spread (most − fewest on one server) of a run: $burst_spread; median time of a burst: $burst_took ms.

**Polling taken over after kill -9 of the poller.** Three Caddy processes on one database in front of
3 fake servers, \`health_interval ${INTERVAL}s\`, \`health_timeout ${TIMEOUT}s\`, idle (no load). Once one of them
holds the lease \`poller\` (GET /bbb/instances) and a random 2-4 s more has passed, it is killed with
\`kill -9\`; the two survivors' GET /bbb/instances is read every 50 ms until another instance holds
\`poller\`. The time is from the kill to that answer (so it includes up to about 50 ms of this
sampling). $TAKEOVERS runs, each with a new database and new instances.

| runs | take-over after kill -9 | max | bound 2 × health_interval + health_timeout |
|---|---|---|---|
| $TAKEOVERS | $(for v in $takeover_ms; do s "$v"; done | list) s (median $(s "$takeover_median") s) | **$(s "$takeover_max") s** | $(s "$bound_ms") s (within: $within) |

<details><summary>raw output of bench/instances.sh</summary>

\`\`\`
$(cat "$raw")
\`\`\`

</details>

RESULT join_sqlite_rate $join_sqlite_rate
RESULT join_postgres_rate $join_postgres_rate
RESULT join_ratio $join_ratio
RESULT create_sqlite_rate $create_sqlite_rate
RESULT create_postgres_rate $create_postgres_rate
RESULT create_ratio $create_ratio
RESULT two_alone_rate $alone_rate
RESULT two_sum_rate $sum_rate
RESULT burst_spread $burst_spread
RESULT burst_took_ms $burst_took
RESULT takeover_max_ms $takeover_max
RESULT takeover_bound_ms $bound_ms
EOF
