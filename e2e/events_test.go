package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

func init() {
	caddy.RegisterModule(eventRecorder{})
}

// eventRecorder is an events handler that remembers the events it sees.
type eventRecorder struct{}

var recorded struct {
	sync.Mutex
	events []string
}

func (eventRecorder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "events.handlers.bbb_test_recorder", New: func() caddy.Module { return new(eventRecorder) }}
}

func (eventRecorder) Handle(_ context.Context, e caddy.Event) error {
	recorded.Lock()
	defer recorded.Unlock()
	recorded.events = append(recorded.events, fmt.Sprintf("%s %v", e.Name(), e.Data["host"]))
	return nil
}

func (*eventRecorder) UnmarshalCaddyfile(d *caddyfile.Dispenser) error { return nil }

func sawEvent(want string) bool {
	recorded.Lock()
	defer recorded.Unlock()
	for _, e := range recorded.events {
		if e == want {
			return true
		}
	}
	return false
}

// Health changes are Caddy events, as reverse_proxy's are.
func TestHealthEvents(t *testing.T) {
	p := startPool(t, 2, fastPolls)
	withEvents := strings.Replace(p.caddyfile(), "skip_install_trust\n", "skip_install_trust\n\tevents {\n\t\ton unhealthy bbb_test_recorder\n\t\ton healthy bbb_test_recorder\n\t}\n", 1)
	p.load(withEvents)
	p.fakes[1].SetFailure(bbbtest.FailHTTP500)
	eventually(t, "unhealthy event for bbb2", func() bool { return sawEvent("unhealthy bbb2") })
	p.fakes[1].SetFailure(bbbtest.FailNone)
	eventually(t, "healthy event for bbb2", func() bool { return sawEvent("healthy bbb2") })
}
