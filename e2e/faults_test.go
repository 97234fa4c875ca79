package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

// callTimeout is the balancer's timeout (and getmeetings_timeout) in the
// fault matrix. An answer must come within it plus twice its length: the
// slack covers writing the error and a loaded machine running under -race,
// and stays well below the slow server's delay, so a call that waited for
// the server instead of its timeout fails.
const (
	callTimeout = time.Second
	answerBound = callTimeout + 2*callTimeout
	slowServer  = 10 * callTimeout
)

// Every way a BBB server can fail, against every call that reaches a
// server: the balancer answers BBB's internalError, or for getMeetings the
// meetings of the servers that did answer, or the join redirect; never a
// 5xx, never later than its timeout allows, and it leaks no goroutine.
func TestFaultMatrix(t *testing.T) {
	// bbb2 sits behind a handler that cuts answers off halfway (the fake
	// itself can only reset before answering); its tag keeps the meetings
	// of each server apart.
	cutFake := newFake(t, "fake-secret-cut")
	cut := &cutAnswers{fake: cutFake}
	cutSrv := httptest.NewServer(cut)
	t.Cleanup(cutSrv.Close)
	// getMeetings asks the servers on every call here (max age off): the
	// faults are the servers' answers to it. Passive health is off: each
	// mode's calls must reach the failing server (TestPassiveHealth takes
	// it out of placement).
	p := startPool(t, 1, fmt.Sprintf(`timeout %s
		getmeetings_timeout %s
		getmeetings_max_age off
		fail_duration off
		server bbb2 %s/bigbluebutton/api {
			secret %s
			tag cut
		}`, callTimeout, callTimeout, cutSrv.URL, cutFake.Secret()))
	direct := p.fakes[0]
	direct.SetSlow(slowServer)
	c := newClient()

	type target struct {
		fake   *bbbtest.Server
		room   string
		create func(id string) string
	}
	targets := []target{
		{direct, "fault-room", createQuery},
		{cutFake, "cut-room", func(id string) string { return createQuery(id) + "&meta_server-tag=cut%21" }},
	}
	for _, tg := range targets {
		mustOK(t, "create", c.get(t, "create", tg.create(tg.room)))
		if got := registry(t)[tg.room]; got == "" {
			t.Fatalf("%s not in the registry", tg.room)
		}
	}
	if p.holder("fault-room") != 0 || len(cutFake.Meetings()) != 1 {
		t.Fatalf("meetings not where the test needs them: direct %v, cut %v", direct.Meetings(), cutFake.Meetings())
	}

	// Connections kept alive are goroutines too: close them all, on both
	// sides, so that what is left to compare is what the calls left behind.
	settle := func() {
		c.http.CloseIdleConnections()
		http.DefaultClient.CloseIdleConnections()
		f := direct.Failure()
		direct.SetFailure(bbbtest.FailRefuse) // closes every connection to it
		direct.SetFailure(f)
		cutSrv.CloseClientConnections()
	}
	settle()
	awaitNoConnections(t)
	before := goroutineProfile()

	modes := []struct {
		name   string
		target int
		set    func()
	}{
		{"refused", 0, func() { direct.SetFailure(bbbtest.FailRefuse) }},
		{"reset", 0, func() { direct.SetFailure(bbbtest.FailReset) }},
		{"reset mid-answer", 1, func() { cut.on.Store(true) }},
		{"slow", 0, func() { direct.SetFailure(bbbtest.FailSlow) }},
		{"http 500", 0, func() { direct.SetFailure(bbbtest.FailHTTP500) }},
		{"garbage", 0, func() { direct.SetFailure(bbbtest.FailGarbage) }},
		{"FAILED", 0, func() { direct.SetFailure(bbbtest.FailFailed) }},
		{"flapping", 0, func() { direct.SetFlapping(1) }},
	}
	slides := `<modules><module name="presentation"><document url="https://x.example/a.pdf"/></module></modules>`
	for _, mode := range modes {
		tg, other := targets[mode.target], targets[1-mode.target]
		room := "meetingID=" + tg.room
		calls := []struct {
			call, query, body string
		}{
			{"create", tg.create(tg.room), ""},
			{"create", tg.create(tg.room + "-new"), ""},
			{"create", tg.create(tg.room + "-slides"), slides},
			{"end", room, ""},
			{"isMeetingRunning", room, ""},
			{"getMeetingInfo", room + "&offset=0", ""},
			{"getMeetings", "", ""},
			{"insertDocument", room, slides},
			{"sendChatMessage", room + "&message=hello", ""},
			{"join", "fullName=A&role=VIEWER&" + room, ""},
		}
		mode.set()
		for _, cl := range calls {
			method := http.MethodGet
			if cl.body != "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, c.url(cl.call, cl.query), strings.NewReader(cl.body))
			if cl.body != "" {
				req.Header.Set("Content-Type", "application/xml")
			}
			start := time.Now()
			resp, a := c.do(t, req)
			took := time.Since(start)
			what := fmt.Sprintf("%s with the server %s", cl.call, mode.name)
			if took > answerBound {
				t.Errorf("%s: answered after %v, the timeout is %v", what, took, callTimeout)
			}
			switch {
			case cl.call == "join":
				// A redirect, or BBB's error if an end went through before.
				if resp.StatusCode != http.StatusFound && a.ReturnCode != bbb.Failed {
					t.Errorf("%s: HTTP %d %s", what, resp.StatusCode, a.Raw)
				}
			case resp.StatusCode != http.StatusOK:
				t.Errorf("%s: HTTP %d", what, resp.StatusCode)
			case a.ReturnCode != bbb.Success && a.ReturnCode != bbb.Failed:
				t.Errorf("%s: no returncode in %q", what, a.Raw)
			case mode.name == "flapping":
				// Either answer is right from a server that answers every
				// other call.
			case cl.call == "getMeetings":
				// The failing server is left out, the other one is there.
				var got []string
				for _, m := range a.Meetings {
					got = append(got, m.MeetingID)
				}
				want := other.fake.Meetings()
				slices.Sort(got)
				slices.Sort(want)
				if a.ReturnCode != bbb.Success || !slices.Equal(got, want) {
					t.Errorf("%s: %s with meetings %v, want SUCCESS with %v", what, a.ReturnCode, got, want)
				}
			case a.ReturnCode != bbb.Failed || a.MessageKey != bbb.KeyInternalError:
				t.Errorf("%s: want FAILED/internalError from a server that cannot answer, got %s", what, a.Raw)
			}
		}
		direct.SetFlapping(0)
		direct.SetFailure(bbbtest.FailNone)
		cut.on.Store(false)
		// The meeting is there for the next mode (an end that went
		// through ended it).
		mustOK(t, "create again", c.get(t, "create", tg.create(tg.room)))

		settle()
		awaitNoGoroutineGrowth(t, "after the server was "+mode.name, before)
	}
}

// cutAnswers serves a fake BBB server, and while on, sends the first half
// of each answer (with the full Content-Length) and then resets the
// connection: the server did the work, and its answer is lost on the way.
type cutAnswers struct {
	fake *bbbtest.Server
	on   atomic.Bool
}

func (c *cutAnswers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.on.Load() {
		c.fake.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	c.fake.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body[:len(body)/2])
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, not an orderly close
	}
	_ = conn.Close()
}

// goroutineProfile returns the other running goroutines grouped by stack
// (the function names of each frame), with how many share each stack.
func goroutineProfile() map[string]int {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	out := map[string]int{}
	var count int
	var stack []string
	flush := func() {
		// The goroutine taking the profile is where it is called from,
		// which differs from call to call: leave it out.
		if count > 0 && !slices.Contains(stack, "runtime/pprof.writeGoroutine") {
			out[strings.Join(stack, "\n")] += count
		}
		count, stack = 0, nil
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "#\t"):
			// "#\t0x4a1b2c\tpkg.fn+0x1f\tfile:line": keep the function.
			if f := strings.Split(line, "\t"); len(f) >= 3 {
				fn, _, _ := strings.Cut(f[2], "+0x")
				stack = append(stack, fn)
			}
		default:
			if n, _, ok := strings.Cut(line, " @ "); ok {
				count, _ = strconv.Atoi(n)
			}
		}
	}
	flush()
	return out
}

// goroutinesIn counts the goroutines with a frame whose function name
// contains fn.
func goroutinesIn(fn string) int {
	n := 0
	for stack, c := range goroutineProfile() {
		if strings.Contains(stack, fn) {
			n += c
		}
	}
	return n
}

func total(profile map[string]int) int {
	n := 0
	for _, c := range profile {
		n += c
	}
	return n
}

// awaitNoConnections waits until no HTTP connection is open in the process
// (client or server side), so that a goroutine count means something.
func awaitNoConnections(t *testing.T) {
	t.Helper()
	eventually(t, "every HTTP connection closed", func() bool {
		return goroutinesIn("net/http.(*conn).serve")+goroutinesIn("net/http.(*persistConn)") == 0
	})
}

// awaitNoGoroutineGrowth waits until no stack has more goroutines than in
// before (comparing stack by stack, so that a goroutine of Caddy's that
// ended meanwhile cannot hide a new one); past the deadline it fails and
// names the stacks that grew.
func awaitNoGoroutineGrowth(t *testing.T, what string, before map[string]int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		now := goroutineProfile()
		var grew []string
		for stack, n := range now {
			if n > before[stack] {
				grew = append(grew, fmt.Sprintf("%d more of:\n%s", n-before[stack], stack))
			}
		}
		if len(grew) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(grew)
			t.Fatalf("%s: %d goroutines, %d before; grown:\n%s", what, total(now), total(before), strings.Join(grew, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
