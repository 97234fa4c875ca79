package bbbbalance

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestUnmarshalConsole(t *testing.T) {
	var c Console
	if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser("bbb_console /ops/console/ {\n read_only\n database /var/lib/bbb.sqlite\n}")); err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "/ops/console" || !c.ReadOnly || c.Database != "/var/lib/bbb.sqlite" {
		t.Errorf("parsed %+v", c)
	}
	c = Console{}
	if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser("bbb_console")); err != nil || c != (Console{}) {
		t.Errorf("bare directive: %+v %v", c, err)
	}
	for input, want := range map[string]string{
		"bbb_console console":                   `"console" is not a path prefix such as /console`,
		"bbb_console /console/*":                `"/console/*" is not a path prefix`,
		"bbb_console /a /b":                     "wrong argument count",
		"bbb_console {\n read_only yes\n}":      "wrong argument count",
		"bbb_console {\n database\n}":           "wrong argument count",
		"bbb_console {\n database a b\n}":       "wrong argument count",
		"bbb_console {\n colour blue\n}":        `bbb_console: unknown setting "colour" (read_only, database), at Testfile:2`,
		"bbb_console @matcher {\n read_only\n}": `"@matcher" is not a path prefix`,
	} {
		var c Console
		if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", input, err, want)
		}
	}
}

// Consoles of one pool share its hub (one snapshot a second for every
// viewer, one history), which goes when the last of them is cleaned up;
// without a running pool, the page says so.
func TestConsolesShareTheirPoolsHub(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	ops := &Console{Prefix: "/console", Database: "/nowhere/bbb.sqlite"}
	helpdesk := &Console{ReadOnly: true, Database: "/nowhere/bbb.sqlite"}
	for _, c := range []*Console{ops, helpdesk} {
		if err := c.Provision(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, ok := consoleHubs.References(ops.hubKey); !ok || n != 2 || helpdesk.hubKey != ops.hubKey {
		t.Errorf("%d references to %q (and %q)", n, ops.hubKey, helpdesk.hubKey)
	}

	rec := httptest.NewRecorder()
	ops.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/state", nil), nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"error":"no pool uses database /nowhere/bbb.sqlite"`) {
		t.Errorf("state without a pool: %d %s", rec.Code, rec.Body)
	}
	// Not its path (a JSON config without the Caddyfile's matcher): the
	// next handler's.
	passed := false
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { passed = true; return nil })
	if err := ops.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/consoles", nil), next); err != nil || !passed {
		t.Errorf("/consoles was not passed on: %v", err)
	}

	for _, c := range []*Console{ops, helpdesk} {
		if err := c.Cleanup(); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := consoleHubs.References(ops.hubKey); ok {
		t.Error("the hub outlived its consoles")
	}
}
