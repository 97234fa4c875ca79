#!/usr/bin/env bash
# The recordings figures: getRecordings latencies over an index of N
# recordings (default 1,000,000; generated once into $BBB_RECBENCH_DB and
# reused, about 7 minutes and 2.4 GB the first time), and the import:
# 1,000 small tars waiting in a spool and one recording of 300 MiB, each
# on a quiet disk and with another process writing to the same filesystem
# (as rsync, the database and the logs do on a real balancer's disk).
# Prints markdown (bench/report.sh includes it). The last lines are
# "RESULT <name> <value>", medians: import_rate and import_busy_rate
# (recordings/s), import_big_mibps and import_big_busy_mibps (MiB/s), and
# disk_direct_mibps (300 MiB written with O_DIRECT and fsynced: the disk's
# own pace), expiry_rate (recordings/s of a retention run over a tenth of
# the index) and expiry_p99_ratio (getRecordings' p99 during it ÷ before).
#
#   bash bench/recordings.sh [N] [CALLS] [IMPORT_RUNS]    (defaults 1000000 2000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
calls=${2:-2000}
runs=${3:-3}
tars=1000
mib=300
db=${BBB_RECBENCH_DB:-${TMPDIR:-/tmp}/bbb_balance-recbench-$n.sqlite}
export CGO_ENABLED=1
mkdir -p bin
go build -o bin/bbbrecbench ./cmd/bbbrecbench >&2

# $out holds the figures and the writer's file. mktemp and bbbrecbench
# (which makes the importer's spool and library) both use $TMPDIR: the
# writer writes to the importer's filesystem.
out=$(mktemp -d)
writer=
stop_writer() {
	if [ -n "$writer" ]; then
		kill "$writer" 2>/dev/null || true
		wait "$writer" 2>/dev/null || true
		writer=
	fi
}
trap 'stop_writer; rm -rf "$out"' EXIT

# The concurrent writer: 64 MiB written and fsynced into one file, over and
# over. One file rewritten: it never takes more than 64 MiB; it stops after
# 30 minutes at the latest, and when this script exits.
start_writer() {
	(
		dd=
		trap 'kill "$dd" 2>/dev/null; exit 0' TERM
		end=$((SECONDS + 1800))
		while [ "$SECONDS" -lt "$end" ]; do
			dd if=/dev/zero of="$out/noise" bs=1M count=64 conv=fsync status=none &
			dd=$!
			wait "$dd" || true
			echo >>"$out/passes"
		done
	) &
	writer=$!
}
passes() { if [ -f "$out/passes" ]; then wc -l <"$out/passes"; else echo 0; fi; }

# import_run quiet|busy: one run of bbbrecbench's imports; its lines go to
# $out/<kind> (small tars) and $out/<kind>-big. The run before removed
# thousands of files: a sync and a pause first, so that its clean-up does
# not weigh on this one.
import_run() {
	local kind=$1 before start res
	sync
	sleep 5
	if [ "$kind" = busy ]; then
		start_writer
		sleep 1
		before=$(passes)
		start=$(date +%s.%N)
	fi
	res=$(bin/bbbrecbench -n 0 -import "$tars" -import-mib "$mib")
	if [ "$kind" = busy ]; then
		echo "$((($(passes) - before) * 64)) $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')" >>"$out/writer"
		stop_writer
	fi
	if [ "$(grep -c '(0 left in the spool)' <<<"$res")" != 2 ]; then
		echo "import run failed: $res" >&2
		exit 1
	fi
	grep '^Import: ' <<<"$res" >>"$out/$kind"
	grep '^Import of one recording' <<<"$res" >>"$out/$kind-big"
}
# disk_run: the disk's own pace, $mib MiB written with O_DIRECT (no page
# cache) and fsynced, in MiB/s.
disk_run() {
	sync
	local start
	start=$(date +%s.%N)
	dd if=/dev/zero of="$out/disk" bs=1M count="$mib" oflag=direct conv=fsync status=none
	awk -v s="$start" -v e="$(date +%s.%N)" -v m="$mib" 'BEGIN { printf "%.0f\n", m / (e - s) }' >>"$out/disk"-rate
	rm -f "$out/disk"
}
for _ in $(seq "$runs"); do
	import_run quiet
	import_run busy
	disk_run
done
rate() { sed 's/.* = \([0-9]*\) recordings\/s.*/\1/' "$out/$1"; }
mibps() { sed 's/.* = \([0-9]*\) MiB\/s.*/\1/' "$out/$1-big"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
list() { paste -sd ' ' | sed 's/ /, /g'; }
quiet=$(rate quiet | median)
busy=$(rate busy | median)
big=$(mibps quiet | median)
big_busy=$(mibps busy | median)
disk=$(median <"$out/disk-rate")
writer_rate=$(awk '{ mib += $1; s += $2 } END { if (s > 0) printf "%.0f", mib / s; else print 0 }' "$out/writer")

echo "Method: \`bin/bbbrecbench -n $n -queries $calls\` (cmd/bbbrecbench): the index is filled"
echo "through the store's own insert code with generated recordings (5 per meeting, 2,000 courses,"
echo "2 formats, 3 thumbnails, 4 metadata keys each); each query kind is called $calls times in a row"
echo "through the real API handler (checksum, index, XML) over loopback HTTP, after $((calls / 5)) untimed"
echo "calls with other values (a running balancer has its index's pages in memory). The import"
echo "(\`bin/bbbrecbench -n 0 -import $tars -import-mib $mib\`) times the importer on $tars small tars waiting"
echo "in a spool, then on one recording of $mib MiB; every recording is durable (its files and"
echo "directories fsynced, its commit synced) before its tar goes. $runs runs on a quiet disk and $runs"
echo "with a concurrent writer, alternately; medians. The writer is another process writing 64 MiB"
echo "and fsyncing it, over and over, on the same filesystem (\`dd conv=fsync\` in a loop: $writer_rate MiB/s"
echo "on average while the imports ran beside it). The disk's own pace is \`dd oflag=direct"
echo "conv=fsync\` of $mib MiB on that filesystem."
echo
echo "| import | quiet disk | with a concurrent writer |"
echo "|---|---|---|"
echo "| $(sed 's/^Import: //; s/ in .*//' "$out/quiet" | head -1) | **$quiet recordings/s** ($(rate quiet | list)) | **$busy recordings/s** ($(rate busy | list)) |"
echo "| one recording of $mib MiB (the disk: $disk MiB/s with O_DIRECT) | **$big MiB/s** ($(mibps quiet | list)) | **$big_busy MiB/s** ($(mibps busy | list)) |"
echo
bin/bbbrecbench -n "$n" -db "$db" -queries "$calls"
echo
expire=$((n / 10))
echo "Retention: \`bin/bbbrecbench -n $n -expire $expire -queries $calls\` copies the index (the original"
echo "stays for the next runs), gives each of its $expire oldest recordings a format directory in the"
echo "library, and sets the clock so that exactly those are older than the pool's \`max_age 365d\`"
echo "(with a \`keep_meta\` rule, so the query checks it); one expiry run with \`max_per_run $expire\`"
echo "then deletes them (files and index, as deleteRecordings does, each read again under its lock)"
echo "while one client calls getRecordings (a meeting's recordings, a course's page of 100) one call"
echo "after another; its p99 is compared with $calls calls of the same mix just before the run."
echo
echo "| retention | figure |"
echo "|---|---|"
res=$(bin/bbbrecbench -n "$n" -db "$db" -expire "$expire" -queries "$calls")
grep '^|' <<<"$res"
echo
grep '^RESULT' <<<"$res"
echo "RESULT import_rate $quiet"
echo "RESULT import_busy_rate $busy"
echo "RESULT import_big_mibps $big"
echo "RESULT import_big_busy_mibps $big_busy"
echo "RESULT disk_direct_mibps $disk"
