#!/usr/bin/env bash
# The bbb_balance demo: three fake BigBlueButton servers behind Caddy with
# bbb_balance, and bin/bbbdemo walking through a front-end's life against it
# (create, join, spread, getMeetingInfo, getMeetings, end, then a recording:
# uploaded as a server does, listed, played, unpublished), explained step by
# step; then checks the operator console at /console (user demo, password
# demo).
#
# Usage: examples/demo/run.sh [--keep]
#   --keep   leave the pool running after the walk to try it by hand, until Ctrl-C
#
# Everything listens on loopback: 9100 (the balancer), 2098 (Caddy's admin
# API), 9301-9303 (the fake BBB servers). Needs go, curl and a C compiler.
set -euo pipefail
cd "$(dirname "$0")/../.."

keep=false
case "${1:-}" in
"") ;;
--keep) keep=true ;;
-h | --help)
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "usage: $0 [--keep]" >&2
	exit 2
	;;
esac

LB=http://127.0.0.1:9100
LB_SECRET=demo-secret
BBB_SECRET=demo-bbb-secret
POOL=bbb1=http://127.0.0.1:9301/bigbluebutton/api,bbb2=http://127.0.0.1:9302/bigbluebutton/api,bbb3=http://127.0.0.1:9303/bigbluebutton/api

export CGO_ENABLED=1
echo "== Building bin/caddy, bin/bbbfake and bin/bbbdemo"
echo "   (the first build of Caddy takes a few minutes; later ones are quick)"
mkdir -p bin
go build -o bin/caddy ./cmd/caddy
go build -o bin/bbbfake ./cmd/bbbfake
go build -o bin/bbbdemo ./cmd/bbbdemo

for port in 9100 2098 9301 9302 9303; do
	if (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "Port $port on 127.0.0.1 is already in use (another demo still running?); stop that first." >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bbb-demo.XXXXXX")
pids=()
ok=false
cleanup() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if $ok; then
		rm -rf "$work"
	else
		echo "== Kept $work (Caddyfile, caddy.log, bbbfake.log) for a look." >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failed() {
	echo >&2
	echo "== $1" >&2
	echo "== Caddy's log is $work/caddy.log; its last lines:" >&2
	tail -n 20 "$work/caddy.log" >&2 || true
	exit 1
}

echo "== Starting 3 fake BBB servers on 127.0.0.1:9301-9303 (secret $BBB_SECRET)"
bin/bbbfake -n 3 -base-port 9301 -secret "$BBB_SECRET" >"$work/bbbfake.log" 2>&1 &
fake_pid=$!
pids+=("$fake_pid")
for _ in $(seq 50); do
	[ "$(wc -l <"$work/bbbfake.log")" -ge 3 ] && break
	kill -0 "$fake_pid" 2>/dev/null || break
	sleep 0.1
done
if [ "$(wc -l <"$work/bbbfake.log")" -lt 3 ]; then
	echo "The fake BBB servers did not start:" >&2
	cat "$work/bbbfake.log" >&2
	exit 1
fi
echo "   (name, API URL, secret)"
sed 's/^/   /' "$work/bbbfake.log"

# The operator console sits behind Caddy's basic_auth: user demo,
# password demo (the hash made by Caddy itself).
console_hash=$(bin/caddy hash-password --plaintext demo)

cat >"$work/Caddyfile" <<CADDY
{
	admin localhost:2098
	auto_https off
	persist_config off
}

:9100 {
	bind 127.0.0.1
	bbb_balance {
		secret $LB_SECRET
		database $work/bbb.sqlite
		recordings $work/recordings {
			settle 100ms
			upload
		}
		server bbb1 http://127.0.0.1:9301/bigbluebutton/api {
			secret $BBB_SECRET
		}
		server bbb2 http://127.0.0.1:9302/bigbluebutton/api {
			secret $BBB_SECRET
		}
		server bbb3 http://127.0.0.1:9303/bigbluebutton/api {
			secret $BBB_SECRET
		}
	}
	basic_auth /console* {
		demo $console_hash
	}
	bbb_console /console
}
CADDY

echo "== Starting Caddy with bbb_balance on $LB (secret $LB_SECRET)"
XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" \
	bin/caddy run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
pids+=("$caddy_pid")

up=false
for _ in $(seq 150); do
	if curl -fs -o /dev/null "$LB/bigbluebutton/api"; then
		up=true
		break
	fi
	kill -0 "$caddy_pid" 2>/dev/null || failed "Caddy exited during start-up."
	sleep 0.2
done
$up || failed "The balancer did not answer on $LB/bigbluebutton/api within 30 seconds."

echo "== Running bin/bbbdemo -url $LB -secret $LB_SECRET"
echo "   (plus -pool and -bbb-secret, so that it can name the servers and ask them directly)"
echo
bin/bbbdemo -url "$LB" -secret "$LB_SECRET" -pool "$POOL" -bbb-secret "$BBB_SECRET" -recordings ||
	failed "The demo stopped at an unexpected answer (see above)."
echo
echo "== The operator console: $LB/console (user demo, password demo)"
page=$(curl -fsS -u demo:demo "$LB/console/") || failed "The console did not answer at $LB/console/."
grep -q 'BBB pool' <<<"$page" || failed "The console's page is not the console."
state=$(curl -fsS -u demo:demo "$LB/console/state") || failed "The console's /state did not answer."
for server in bbb1 bbb2 bbb3; do
	grep -q "\"$server\"" <<<"$state" || failed "The console's state does not show $server."
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$LB/console/")
[ "$code" = 401 ] || failed "The console answered $code without a password (want 401)."
echo "   it shows bbb1, bbb2 and bbb3, and asks for the password (401 without it)"
ok=true

if $keep; then
	cat <<HELP

== The pool keeps running; press Ctrl-C to stop it.
   Balancer:    $LB/bigbluebutton/api   secret $LB_SECRET
   BBB servers: 127.0.0.1:9301, :9302, :9303  secret $BBB_SECRET
   Caddy log:   $work/caddy.log
   Every call is signed with sha256(call name + query + secret). For example:

     q='name=My+Room&meetingID=my-room'
     curl "$LB/bigbluebutton/api/create?\$q&checksum=\$(printf '%s' "create\${q}$LB_SECRET" | sha256sum | cut -d' ' -f1)"
     curl "$LB/bigbluebutton/api/getMeetings?checksum=\$(printf '%s' "getMeetings$LB_SECRET" | sha256sum | cut -d' ' -f1)"

   The operator console (live; cordon, end meetings, ...): $LB/console
   (user demo, password demo)

   The pool as the balancer sees it (Caddy's admin API):
     curl localhost:2098/bbb/servers
     curl localhost:2098/bbb/meetings

   Or run the walk again:  bin/bbbdemo -url $LB -secret $LB_SECRET
HELP
	wait "$caddy_pid" || true
	ok=false
	failed "Caddy stopped on its own."
fi
