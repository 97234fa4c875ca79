#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for a while and prints how
# fast each one ran: scripts/fuzz.sh [duration [target-regexp]]
#
#   scripts/fuzz.sh              every target, 60s each
#   scripts/fuzz.sh 10s          what the test command runs
#   scripts/fuzz.sh 5m FuzzExtract
#
# The targets are found in the code (every `func FuzzX(f *testing.F)` of a
# _test.go file), so this script is the one list of them; their seed
# corpora live in each package's testdata/fuzz/<Target>/, what the fuzzer
# learns in Go's cache ($(go env GOCACHE)/fuzz).
#
# Environment:
#   FUZZ_MINIMIZE  -fuzzminimizetime (default 1000x, that many calls). Go
#                  minimizes every input that finds new code, by default
#                  for up to 60s, with a number of calls that grows with the
#                  square of the input's length, and reports no executions
#                  meanwhile: with a few-KB input (a tar, a metadata.xml) a
#                  target spent whole runs minimizing. A failing input is
#                  written to testdata/fuzz all the same; set 60s to get
#                  Go's default, smaller failing inputs.
#   FUZZ_PARALLEL  -parallel, the number of fuzzing processes (default: Go's,
#                  GOMAXPROCS).
#
# It exits non-zero if a target fails (the failing input is then in the
# package's testdata/fuzz/<Target>/, and `go test -run` reruns it). The
# root package's first fuzz build instruments all of Caddy: about two
# minutes on two cores, cached afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=1

duration=${1:-60s}
only=${2:-}
minimize=${FUZZ_MINIMIZE:-1000x}
parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then parallel=(-parallel "$FUZZ_PARALLEL"); fi

# Packages and their targets, from the test files.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files --cached --others --exclude-standard '*_test.go')
else
	files=$(find . -name '*_test.go' -not -path '*/node_modules/*' | sed 's|^\./||')
fi
targets=() # "pkg target"
for f in $(if [ -n "$files" ]; then grep -l '^func Fuzz' $files; fi | sort); do
	dir=$(dirname "$f")
	pkg="./$dir"
	if [ "$dir" = . ]; then pkg=.; fi
	for t in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(\w* *\*testing\.F).*/\1/p' "$f"); do
		if [ -z "$only" ] || [[ "$t" =~ $only ]] || [[ "$pkg" =~ $only ]]; then
			targets+=("$pkg $t")
		fi
	done
done
if [ "${#targets[@]}" -eq 0 ]; then
	echo "fuzz.sh: no fuzz target${only:+ matches $only}" >&2
	exit 1
fi

# seconds turns a Go duration as the fuzzer prints it (3s, 1m0s, 1h2m3s) into seconds.
seconds() {
	local d=$1 s=0 n
	while [[ "$d" =~ ^([0-9.]+)(h|m|s)(.*)$ ]]; do
		n=${BASH_REMATCH[1]%.*}
		case ${BASH_REMATCH[2]} in
		h) s=$((s + n * 3600)) ;;
		m) s=$((s + n * 60)) ;;
		s) s=$((s + n)) ;;
		esac
		d=${BASH_REMATCH[3]}
	done
	echo "$s"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary=()
failed=0
for entry in "${targets[@]}"; do
	read -r pkg target <<<"$entry"
	echo "== fuzz $target ($pkg) for $duration"
	status=PASS
	fuzz() {
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" -fuzzminimizetime "$minimize" \
			"${parallel[@]}" "$pkg" 2>&1 | tee "$log"
	}
	if ! fuzz; then
		# Go's fuzzing coordinator can end a run with "context deadline
		# exceeded" when its time is up while a worker is still busy: no
		# input failed (none is written to testdata). That run is tried
		# again once; a real failure names its input and fails at once.
		if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log" && fuzz; then
			status="PASS (2nd run)"
		else
			status=FAIL
			failed=1
		fi
	fi
	# fuzz: elapsed: 9s, execs: 94449 (10028/sec), new interesting: 28 (total: 36)
	# The last line is written when fuzzing stops: its rate covers a part
	# of an interval and is left out of the slowest interval.
	stats=$(grep -E '^fuzz: elapsed: [0-9hms.]+, execs: [0-9]+ \([0-9]+/sec\)' "$log" || true)
	if [ -z "$stats" ]; then
		summary+=("$(printf '%-26s %-14s %8s %12s %10s %10s %8s  %s' "$target" "$pkg" - - - - - "$status")")
		continue
	fi
	last=$(tail -n 1 <<<"$stats")
	elapsed=$(sed -E 's/^fuzz: elapsed: ([0-9hms.]+),.*/\1/' <<<"$last")
	execs=$(sed -E 's/.*execs: ([0-9]+) .*/\1/' <<<"$last")
	interesting=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
	secs=$(seconds "$elapsed")
	rate=$((secs > 0 ? execs / secs : execs))
	intervals=$(head -n -1 <<<"$stats" | sed -E 's/.*\(([0-9]+)\/sec\).*/\1/')
	slowest=-
	stalls=0
	if [ -n "$intervals" ]; then
		slowest=$(sort -n <<<"$intervals" | head -n 1)
		stalls=$(grep -cx 0 <<<"$intervals" || true)
	fi
	summary+=("$(printf '%-26s %-14s %8s %12s %10s %10s %8s  %s' "$target" "$pkg" "${secs}s" "$execs" "$rate" "$slowest" "$stalls" "$status${interesting:+, $interesting new}")")
done

echo
echo "== fuzzing: $duration per target, minimizing ${minimize}"
printf '%-26s %-14s %8s %12s %10s %10s %8s  %s\n' target package time execs execs/s slowest/s stalls result
for line in "${summary[@]}"; do echo "$line"; done
echo "(execs/s: all executions over the run; slowest/s: the slowest 3-second interval;"
echo " stalls: intervals with no execution reported, a target hanging or minimizing)"
exit "$failed"
