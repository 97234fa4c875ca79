// Package bbbbalance is a Caddy module that makes a pool of BigBlueButton
// servers look like one BBB server: it checks the front-ends' checksums,
// places each new meeting on the least-loaded server, sends joins there,
// answers the rest of the BBB API for the pool, keeps an index of every
// recording and serves the recordings itself.
//
// This package is the only one that knows Caddy: the handler (module.go),
// its config (config.go) and Caddyfile directive (caddyfile*.go), the state
// that outlives a reload (app.go, engine.go), the admin API (admin*.go),
// the `caddy bbb` command (command*.go), the operator console's handler
// (console.go) and the metrics (metrics.go).
// Everything else is plain Go, one package a concern:
//
//	api/              the BBB API front: checksums verified, one handler per call, BBB's XML answers
//	balancer/         servers, states, the meeting registry, placement, the load formula, passive health
//	bbb/              the BBB protocol: checksums, query strings kept as sent, XML, JWT, a client for one server
//	cluster/          several instances on one PostgreSQL: notifications, the poller's lease, shared polls
//	console/          the operator console: the embedded page, its live snapshots (SSE), its actions through manage/
//	callbacks/        the callbacks of a meeting: URLs given to servers at create, relayed to its front-end; recording-ready
//	dialin/           FreeSWITCH dial-in (mod_xml_curl): the dialplan that bridges a call to its meeting's server
//	health/           the poller: a signed getMeetings per server is the health check
//	manage/           operator actions, one implementation for the admin API, scalelite's API and the CLI
//	notify/           durable outbound deliveries (callbacks) with backoff
//	playback/         the recordings' files: who may see what, one-time links, legacy redirects
//	recordings/       import, safe extraction, the on-disk library, retention, getRecordings' XML, uploads and status calls, protected links
//	scaleliteapi/     scalelite's management API, /scalelite/api
//	store/            the database (SQLite or PostgreSQL): migrations, the group-commit writer, queries; implements the others' interfaces
//	tenants/          choosing a tenant per request, scoped meeting ids, parameter rules
//	internal/bbbtest/ a fake BBB server for tests, demos and benchmarks
//	internal/rectest/ recordings (metadata.xml, tars) for tests and benchmarks
//	internal/pgtest/  PostgreSQL databases and clusters of the tests' own
//	cmd/caddy/        Caddy with its standard modules and this one
//	cmd/bbbfake/      fake BBB servers (internal/bbbtest) for demos and benchmarks
//	cmd/bbbload/      a load generator for the API
//	cmd/bbbdemo/      a step-by-step walk through what a front-end does against a pool
//	cmd/bbbrecbench/  the recordings index benchmark
//	e2e/              end-to-end tests: a real Caddy in front of fake BBB servers, and a real npm client
//	e2e/multi/        end-to-end tests of several Caddy processes sharing one PostgreSQL
//	examples/bbb/     the BBB-side scripts that send recordings, and their tests
package bbbbalance
