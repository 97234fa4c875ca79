#!/usr/bin/env bash
# Measures the balancer against ceilings taken in the same run, on this
# machine, over loopback:
#   join redirects/s through bbb_balance  vs  Caddy's own `respond` (a 302)
#   creates/s through bbb_balance          vs  the same creates through a plain Caddy
#                                              `reverse_proxy` to one fake server (the ceiling),
#                                              and sent straight to a fake BBB server (looser)
# Fakes bbb1-3 (ports 9251-9253) form the pool; bbb4 (9254) takes the direct creates,
# bbb5 (9255) the proxied ones.
# Each pair runs RUNS times, alternating; the medians and their ratios are
# printed at the end.
#
# Usage: bench/run.sh [RUNS] [SECONDS] [CLIENTS]     (defaults 3 10 32)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SECONDS_PER_RUN=${2:-10}
CLIENTS=${3:-32}
source bench/common.sh

bin/bbbfake -n 5 -base-port 9251 -secret fake-secret >"$work/fakes.txt" &
pids+=($!)

cat >"$work/Caddyfile" <<CADDY
{
	admin localhost:2096
	auto_https off
	persist_config off
}

:9150 {
	bbb_balance {
		secret bench-secret
		database $work/bench.sqlite
		# Not polled during the run: the runs create some 50,000 meetings
		# each, far more than a pool holds, and polling answers that size
		# would measure the poller (bench/poller.sh does, at a real size).
		health_interval 1h
		server bbb1 http://127.0.0.1:9251/bigbluebutton/api {
			secret fake-secret
		}
		server bbb2 http://127.0.0.1:9252/bigbluebutton/api {
			secret fake-secret
		}
		server bbb3 http://127.0.0.1:9253/bigbluebutton/api {
			secret fake-secret
		}
	}
}

:9151 {
	header Location "http://127.0.0.1:9251/bigbluebutton/api/join?fullName=x&meetingID=y&checksum=z"
	respond 302
}

:9152 {
	reverse_proxy 127.0.0.1:9255
}
CADDY
XDG_DATA_HOME=$work XDG_CONFIG_HOME=$work bin/caddy run --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
pids+=($!)

for _ in $(seq 100); do
	if curl -fs -o /dev/null http://127.0.0.1:9150/bigbluebutton/api && [ -s "$work/fakes.txt" ]; then break; fi
	sleep 0.1
done
curl -fs -o /dev/null http://127.0.0.1:9150/bigbluebutton/api || { cat "$work/caddy.log"; exit 1; }

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Go $(go env GOVERSION)"
echo "== $RUNS runs x ${SECONDS_PER_RUN}s, $CLIENTS clients"
load() { bin/bbbload -c "$CLIENTS" -d "${SECONDS_PER_RUN}s" "$@" | tee -a "$work/results.txt"; }
for r in $(seq "$RUNS"); do
	load -label respond -call get -url http://127.0.0.1:9151/
	load -label join -call join -url http://127.0.0.1:9150 -secret bench-secret
	load -label create-direct -call create -url http://127.0.0.1:9254 -secret fake-secret
	load -label create-proxy -call create -url http://127.0.0.1:9152 -secret fake-secret
	load -label create -call create -url http://127.0.0.1:9150 -secret bench-secret
done

median() { grep "^$1 " "$work/results.txt" | sed 's/.*rate=\([0-9]*\).*/\1/' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p99() { grep "^$1 " "$work/results.txt" | sed 's/.*p99=\([^ ]*\).*/\1/' | tr '\n' ' '; }
respond=$(median respond); join=$(median join); direct=$(median create-direct); proxy=$(median create-proxy); create=$(median create)
echo
echo "== medians of $RUNS runs"
printf '%-34s %8s/s   p99 per run: %s\n' "Caddy respond 302 (ceiling)" "$respond" "$(p99 respond)"
printf '%-34s %8s/s   p99 per run: %s\n' "join through bbb_balance" "$join" "$(p99 join)"
printf '%-34s %8s/s   p99 per run: %s\n' "create straight to a fake BBB" "$direct" "$(p99 create-direct)"
printf '%-34s %8s/s   p99 per run: %s\n' "create through reverse_proxy" "$proxy" "$(p99 create-proxy)"
printf '%-34s %8s/s   p99 per run: %s\n' "create through bbb_balance" "$create" "$(p99 create)"
awk -v j="$join" -v r="$respond" -v c="$create" -v d="$direct" -v p="$proxy" 'BEGIN {
	printf "join / respond   = %.2f   (goal >= 0.70)\n", j / r
	printf "create / proxy   = %.2f   (goal >= 0.90)\n", c / p
	printf "create / direct  = %.2f   (goal >= 0.50)\n", c / d
}'
