#!/usr/bin/env bash
# The project's test command: what CI runs and what a developer runs on a
# fresh machine. Needs Go 1.26, gcc (cgo, for SQLite), Node.js with npm and
# chromium (Debian's package; .ci/run installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

export CGO_ENABLED=1
export BBB_REQUIRE_NPM=1 # the npm client's end-to-end run must not be skipped
export BBB_REQUIRE_CHROMIUM=1 # nor the protected recording opened in headless chromium

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
# Every package with Fuzz targets; each target's seed corpus is kept in the
# package's testdata/fuzz/<Target>/. The root package's first fuzz build
# instruments all of Caddy (about two minutes on two cores).
fuzz_packages=(. ./bbb ./recordings)
for pkg in "${fuzz_packages[@]}"; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		go test -run '^$' -fuzz "^${target}\$" -fuzztime 10s "$pkg"
	done
done
