# Sourced by the bench scripts: builds the binaries they run, and gives them
# a work directory and a list of processes ($pids) that go away on exit.
export CGO_ENABLED=1

echo "== building (the first build of Caddy takes a few minutes)"
mkdir -p bin
go build -o bin/caddy ./cmd/caddy
go build -o bin/bbbfake ./cmd/bbbfake
go build -o bin/bbbload ./cmd/bbbload

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
