#!/usr/bin/env bash
# The project's test command: what CI runs and what a developer runs on a
# fresh machine. Needs Go 1.26, gcc (cgo, for SQLite) and Node.js with npm;
# it installs Debian's chromium, curl, openssl and postgresql (apt-get, as
# root or with sudo) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export CGO_ENABLED=1
export BBB_REQUIRE_NPM=1 # the npm client's end-to-end run must not be skipped
export BBB_REQUIRE_CHROMIUM=1 # nor the browser tests in headless chromium (protected recording, console)
export BBB_REQUIRE_TOOLS=1    # nor the transfer script's run with bash, curl and openssl

# Debian packages the tests need beyond Go, gcc and Node.js: chromium for
# the browser tests (protected recording, operator console), curl and
# openssl for the BBB-side transfer script's test.
missing=()
for tool in chromium curl openssl; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "== apt-get: installing ${missing[*]}"
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A throwaway PostgreSQL cluster for the tests that run against PostgreSQL
# (installs Debian's postgresql when missing; removed when this script ends).
source scripts/postgres.sh
export BBB_REQUIRE_POSTGRES=1

echo "== npm: installing bigbluebutton-js@0.2.0 for the end-to-end client run"
npm install --prefix e2e/npm --no-package-lock --no-audit --no-fund --loglevel=error

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/npm/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted"
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race (unit, Caddyfile, end-to-end)"
go test -race -count=1 ./...

echo "== fuzzing, a short run of each target"
# scripts/fuzz.sh finds every Fuzz target of the repository, runs each for
# the given time and prints each one's executions per second; each target's
# seed corpus is kept in its package's testdata/fuzz/<Target>/.
bash scripts/fuzz.sh 10s
