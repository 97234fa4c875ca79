#!/usr/bin/env bash
# The recordings figures: getRecordings latencies over an index of N
# recordings (default 1,000,000; generated once into $BBB_RECBENCH_DB and
# reused, about 7 minutes and 2.4 GB the first time) and the import rate
# from a spool of tars. Prints markdown (bench/report.sh includes it).
#
#   bash bench/recordings.sh [N] [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
calls=${2:-2000}
db=${BBB_RECBENCH_DB:-${TMPDIR:-/tmp}/bbb_balance-recbench-$n.sqlite}
export CGO_ENABLED=1
mkdir -p bin
go build -o bin/bbbrecbench ./cmd/bbbrecbench >&2
echo "Method: \`bin/bbbrecbench -n $n -queries $calls -import 1000\` (cmd/bbbrecbench): the index is filled"
echo "through the store's own insert code with generated recordings (5 per meeting, 2,000 courses,"
echo "2 formats, 3 thumbnails, 4 metadata keys each); each query kind is called $calls times in a row"
echo "through the real API handler (checksum, index, XML) over loopback HTTP, after $((calls / 5)) untimed"
echo "calls with other values (a running balancer has its index's pages in memory); the import"
echo "times the importer on 1,000 tars waiting in a spool."
echo
bin/bbbrecbench -n "$n" -db "$db" -queries "$calls" -import 1000
