# Sourced by scripts/test.sh (and by bench scripts): starts a throwaway
# PostgreSQL cluster for the tests and removes it when the shell exits.
#
#   source scripts/postgres.sh   # exports BBB_TEST_POSTGRES=postgres://...
#
# Installs Debian's postgresql package with apt-get when it is missing. The
# cluster lives in a temporary directory, belongs to an unprivileged user
# (postgres, which the package creates, when run as root), listens on
# 127.0.0.1 on a free port and trusts local connections; nothing of it
# outlives the shell.

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
	echo "== apt-get: installing postgresql for the tests that run against PostgreSQL"
	pg_sudo=""
	if [ "$(id -u)" != 0 ]; then pg_sudo="sudo"; fi
	$pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
	pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

pg_dir=$(mktemp -d /tmp/bbb-pg.XXXXXX)
pg_as=()
if [ "$(id -u)" = 0 ]; then
	# PostgreSQL refuses to run as root.
	id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
	chown postgres "$pg_dir"
	pg_as=(runuser -u postgres --)
fi

# A free port: the first of a random range that nothing answers on.
pg_port=$((20000 + RANDOM % 20000))
while (exec 3<>"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null; do pg_port=$((pg_port + 1)); done

"${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust --no-locale -E UTF8 >"$pg_dir/initdb.log" 2>&1 ||
	{ cat "$pg_dir/initdb.log"; exit 1; }
# fsync off: the tests' clusters hold nothing worth a sync (the benchmarks
# start their own cluster with it on).
"${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 start \
	-o "-h 127.0.0.1 -p $pg_port -k $pg_dir -c max_connections=400 -c fsync=${BBB_PG_FSYNC:-off} -c synchronous_commit=${BBB_PG_SYNC:-off} -c full_page_writes=off" >/dev/null ||
	{ cat "$pg_dir/server.log"; exit 1; }

export BBB_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
export BBB_PG_BIN="$pg_bin" BBB_PG_AS="${pg_as[*]}"
echo "== PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port (throwaway, $pg_dir)"

pg_cleanup() {
	"${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$pg_dir"
}
trap pg_cleanup EXIT
