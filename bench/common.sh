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

# start_pool N FAKE_PORT HTTP_PORT ADMIN_PORT [HEALTH_INTERVAL]: N fake
# servers (one bbbfake process) from FAKE_PORT, and Caddy with bbb_balance
# in front of them on HTTP_PORT (admin ADMIN_PORT). Waits until the API
# answers and the poller has seen every server online (sets $online), and
# leaves Caddy's pid in $caddy. FAKE_ARGS adds flags to bbbfake (e.g. -flap 3s).
start_pool() {
	local n=$1 fake_port=$2 http_port=$3 admin_port=$4 interval=${5:-}
	# shellcheck disable=SC2086 # FAKE_ARGS: more bbbfake flags, split on spaces
	bin/bbbfake -n "$n" -base-port "$fake_port" -secret fake-secret ${FAKE_ARGS:-} >"$work/fakes.txt" 2>"$work/fakes.log" &
	pids+=($!)
	for _ in $(seq 200); do [ "$(wc -l <"$work/fakes.txt")" -ge "$n" ] && break; sleep 0.1; done
	{
		printf '{\n\tadmin localhost:%s\n\tauto_https off\n\tpersist_config off\n}\n\n:%s {\n\tbbb_balance {\n' "$admin_port" "$http_port"
		printf '\t\tsecret bench-secret\n\t\tdatabase %s/bench.sqlite\n' "$work"
		[ -n "$interval" ] && printf '\t\thealth_interval %s\n' "$interval"
		while read -r id url secret; do
			printf '\t\tserver %s %s {\n\t\t\tsecret %s\n\t\t}\n' "$id" "$url" "$secret"
		done <"$work/fakes.txt"
		printf '\t}\n}\n'
	} >"$work/Caddyfile"
	XDG_DATA_HOME=$work XDG_CONFIG_HOME=$work bin/caddy run --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
	caddy=$!
	pids+=($caddy)
	for _ in $(seq 600); do
		curl -fs -o /dev/null "http://127.0.0.1:$http_port/bigbluebutton/api" && break
		sleep 0.1
	done
	online=0
	for _ in $(seq 300); do
		online=$(curl -fs "localhost:$admin_port/bbb/servers" | grep -o '"online":true' | wc -l)
		[ "$online" -ge "$n" ] && break
		sleep 0.1
	done
}
