#!/usr/bin/env bash
# Writes BENCHMARKS.md: the project's figures measured in one go on this
# machine, medians of several runs, each against a ceiling measured in the
# same run where there is one. It runs bench/run.sh, bench/getmeetings.sh,
# bench/poller.sh, bench/memory.sh, bench/instances.sh (which starts its own
# PostgreSQL cluster) and, once it exists, bench/recordings.sh.
# A full run takes about 23 minutes (plus about 7 for the recordings index
# the first time) and wants a quiet machine: the load generator, Caddy,
# PostgreSQL and the fake servers share its cores.
#
# Usage: bash bench/report.sh [--quick]
#   --quick   one short run of each (a smoke test of the scripts; the
#             figures are rough)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=
case "${1:-}" in
--quick) quick=--quick ;;
"") ;;
*)
	echo "usage: bash bench/report.sh [--quick]" >&2
	exit 2
	;;
esac
# rec_args: bench/recordings.sh [N] [CALLS]; empty for its defaults.
if [ -n "$quick" ]; then
	runs=1 secs=2 gm_secs=2 poll_runs=1 poll_window=10 mem_runs=1 mem_interval=3 rec_args="10000 200" takeovers=2
else
	runs=5 secs=10 gm_secs=10 poll_runs=3 poll_window=30 mem_runs=3 mem_interval=10 rec_args="" takeovers=5
fi
clients=32 gm_clients=8

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')

step() { echo; echo "######## $*"; }

step "join and create: bench/run.sh $runs $secs $clients"
bash bench/run.sh "$runs" "$secs" "$clients" | tee "$out/run.txt"

step "getMeetings: bench/getmeetings.sh $runs $gm_secs $gm_clients 100 20"
bash bench/getmeetings.sh "$runs" "$gm_secs" "$gm_clients" 100 20 | tee "$out/getmeetings.txt"

for r in $(seq "$poll_runs"); do
	step "poller, run $r of $poll_runs: bench/poller.sh 1000 $poll_window"
	bash bench/poller.sh 1000 "$poll_window" | tee "$out/poller-$r.txt"
done

for r in $(seq "$mem_runs"); do
	step "memory, run $r of $mem_runs: bench/memory.sh 10000 100 $mem_interval"
	bash bench/memory.sh 10000 100 "$mem_interval" | tee "$out/memory-$r.txt"
done

step "several instances on PostgreSQL: bench/instances.sh $runs $secs $clients $takeovers"
bash bench/instances.sh "$runs" "$secs" "$clients" "$takeovers" | tee "$out/instances.txt"
instances=$(grep -v '^RESULT ' "$out/instances.txt")

recordings="Not measured yet: \`bench/recordings.sh\` does not exist in this checkout."
if [ -f bench/recordings.sh ]; then
	step "recordings: bench/recordings.sh $rec_args"
	# shellcheck disable=SC2086 # rec_args is two numbers or nothing
	bash bench/recordings.sh $rec_args | tee "$out/recordings.txt"
	recordings=$(grep -v '^RESULT ' "$out/recordings.txt")
fi

# --- reading the figures back ---------------------------------------------

med() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
# rate of a line of run.sh's summary, e.g. "join through bbb_balance   18999/s   p99 ..."
run_rate() { grep -F "$1" "$out/run.txt" | tail -1 | sed 's/.* \([0-9][0-9]*\)\/s .*/\1/'; }
run_p99() { grep -F "$1" "$out/run.txt" | tail -1 | sed 's/.*p99 per run: //' | xargs; }
result() { grep "^RESULT $2 " "$1" | awk '{ print $3 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
us() { awk -v v="$1" 'BEGIN { if (v >= 1000) printf "%.1f ms", v / 1000; else printf "%.0f µs", v }'; }

respond=$(run_rate "Caddy respond 302")
join=$(run_rate "join through bbb_balance")
direct=$(run_rate "create straight to a fake")
proxy=$(run_rate "create through reverse_proxy")
create=$(run_rate "create through bbb_balance")

gm=$out/getmeetings.txt
gm_servers=$(result "$gm" servers)
gm_meetings=$(result "$gm" meetings)
gm_direct_meetings=$(result "$gm" direct_meetings)
gm_rate=$(result "$gm" balancer_rate)
gm_direct_rate=$(result "$gm" direct_rate)
gm_ceiling=$(awk -v d="$gm_direct_rate" -v n="$gm_servers" 'BEGIN { printf "%.0f", d / n }')

poll_cpu=$(for f in "$out"/poller-*.txt; do sed -n 's/^CPU: .* = \([0-9.]*\)% of one core.*/\1/p' "$f"; done | med)
poll_ms=$(for f in "$out"/poller-*.txt; do sed -n 's/^CPU: .*; \([0-9]*\) ms of CPU per round.*/\1/p' "$f"; done | med)
poll_rss=$(for f in "$out"/poller-*.txt; do sed -n 's/^resident memory: \([0-9]*\) MiB.*/\1/p' "$f"; done | med)
poll_meetings=$(for f in "$out"/poller-*.txt; do sed -n 's/.*polls, \([0-9]*\) meetings in the pool.*/\1/p' "$f"; done | med)
poll_online=$(for f in "$out"/poller-*.txt; do sed -n 's/^== 1000 servers, \([0-9]*\) online.*/\1/p' "$f"; done | med)

mem_idle=$(for f in "$out"/memory-*.txt; do result "$f" idle_kib; done | med)
mem_loaded=$(for f in "$out"/memory-*.txt; do result "$f" loaded_kib; done | med)
mem_meetings=$(for f in "$out"/memory-*.txt; do result "$f" meetings; done | med)
mem_per=$(awk -v l="$mem_loaded" -v i="$mem_idle" -v m="$mem_meetings" 'BEGIN { if (m > 0) printf "%.1f", (l - i) / m; else print "n/a" }')

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit (with uncommitted changes)"; fi
kind="full run: medians of $runs runs of ${secs} s (join, create, getMeetings, PostgreSQL), $poll_runs poller runs, $mem_runs memory runs, $takeovers poller take-overs"
[ -n "$quick" ] && kind="QUICK SMOKE RUN (--quick: one short run of each; rough figures, not for publication)"

# --- BENCHMARKS.md ----------------------------------------------------------

cat >"$out/BENCHMARKS.md" <<EOF
# Benchmarks

Written by \`bash bench/report.sh${quick:+ $quick}\` on $started; $kind.
Every figure was measured in this one run, on this machine, over loopback.

## Machine

| | |
|---|---|
| CPU | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) |
| cores | $(nproc) |
| memory | $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) |
| kernel | $(uname -sr) |
| Go | $(go env GOVERSION) |
| Caddy | $(bin/caddy version 2>/dev/null | cut -d' ' -f1) |
| commit | $commit |
| load average at the start | $load_at_start |

The load generator (\`cmd/bbbload\`), Caddy with \`bbb_balance\` and the fake BBB servers
(\`cmd/bbbfake\`, one process) all run on these cores, so every rate is what the whole
set-up sustains together, and a ceiling measured alongside is the fair comparison.

## Results

| what | measured | ceiling (same run) | ratio |
|---|---|---|---|
| join redirects through the balancer | $join/s | Caddy's own \`respond\` 302: $respond/s | **$(ratio "$join" "$respond")** (goal ≥ 0.70) |
| creates through the balancer | $create/s | the same creates through Caddy's \`reverse_proxy\` to one fake server: $proxy/s | **$(ratio "$create" "$proxy")** (goal ≥ 0.90) |
| creates through the balancer | $create/s | create straight to one fake server (looser): $direct/s | **$(ratio "$create" "$direct")** |
| getMeetings through the balancer, $gm_servers servers, $gm_meetings meetings | $gm_rate calls/s; p50 $(us "$(result "$gm" balancer_p50)"), p99 $(us "$(result "$gm" balancer_p99)") | one fake's getMeetings ($gm_direct_meetings meetings) ÷ $gm_servers: $gm_ceiling/s (one fake: $gm_direct_rate/s, p50 $(us "$(result "$gm" direct_p50)"), p99 $(us "$(result "$gm" direct_p99)")) | **$(ratio "$gm_rate" "$gm_ceiling")** |
| the poller, $poll_online of 1,000 servers online, $poll_meetings meetings, every 10 s | **$poll_cpu% of one core** ($poll_ms ms of CPU per round), $poll_rss MiB resident | none | goal < 5% |
| resident memory with $mem_meetings live meetings on 100 servers | **$((mem_loaded / 1024)) MiB** | idle, same servers, no meeting: $((mem_idle / 1024)) MiB | **$(ratio "$mem_loaded" "$mem_idle")** × idle; $mem_per KiB per meeting |

p99 latency per run: respond $(run_p99 "Caddy respond 302"); join $(run_p99 "join through bbb_balance");
create straight to a fake $(run_p99 "create straight to a fake"); create through reverse_proxy
$(run_p99 "create through reverse_proxy"); create through the balancer $(run_p99 "create through bbb_balance").

## Method

- **join and create** (\`bench/run.sh $runs $secs $clients\`): Caddy serves the balancer in front of
  three fake servers on one site and a \`respond 302\` with a \`Location\` header on another;
  $clients clients send as fast as they can for $secs s after 1 s of warm-up, alternating
  respond, join, create straight to a fourth fake, create through a plain \`reverse_proxy\` site to a
  fifth, and create through the balancer, $runs
  times; medians. Every join must be a 302 and every create \`SUCCESS\`, or the run fails.
  Every create is a new meeting (tens of thousands a run), so the pool is not polled during
  these runs (\`health_interval 1h\`): polling answers of that size would measure the poller,
  which is measured on its own below at a real pool's size.
- **getMeetings** (\`bench/getmeetings.sh $runs $gm_secs $gm_clients 100 20\`): 100 fake servers, $gm_meetings
  meetings placed on them through the balancer (placement spreads them evenly); $gm_clients
  clients call getMeetings through the balancer, which asks all 100 servers at once and merges
  their answers, and straight to the fake holding the fewest meetings, alternately, $runs times;
  medians. Every answer must list all $gm_meetings meetings (through the balancer) or all of that
  fake's. A call through the balancer needs an answer from each of the $gm_servers servers, which share
  the machine with it, so the ceiling is the direct rate divided by $gm_servers.
- **poller** (\`bench/poller.sh 1000 $poll_window\`): Caddy polls 1,000 fake servers every 10 s; the
  pool is filled with meetings through the balancer for 5 s; after one full round, Caddy's CPU
  time (utime + stime from \`/proc/<pid>/stat\`) is read over $poll_window s, and its VmRSS;
  medians of $poll_runs runs. It is the whole Caddy process, so it bounds the poller from above.
  No ceiling applies.
- **memory** (\`bench/memory.sh 10000 100 $mem_interval\`): Caddy in front of 100 fake servers polled
  every $mem_interval s; VmRSS (\`/proc/<pid>/status\`) once all are online and a poll round has
  passed (idle), then after 10,000 creates through the balancer and one more poll round;
  medians of $mem_runs runs, each with a fresh Caddy. The ratio is loaded ÷ idle.

## Several instances on one PostgreSQL

$instances

## Recordings

$recordings
EOF

{
	echo
	echo "## Raw output"
	echo
	for f in run getmeetings poller-1 memory-1; do
		echo "<details><summary>$f</summary>"
		echo
		echo '```'
		grep -v '^== building' "$out/$f.txt" || true
		echo '```'
		echo
		echo "</details>"
		echo
	done
} >>"$out/BENCHMARKS.md"

mv "$out/BENCHMARKS.md" BENCHMARKS.md
echo
echo "== wrote BENCHMARKS.md"
