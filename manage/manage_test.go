package manage

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
	"github.com/bbb-balance/bbb_balance/store"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// env is a Manager over a pool over a real store in a temporary
// directory, with fake BBB servers; its polls are recorded, not made.
type env struct {
	t      *testing.T
	m      *Manager
	pool   *balancer.Pool
	db     *store.DB
	logs   *observer.ObservedLogs
	tenant atomic.Pointer[tenants.Set]

	mu     sync.Mutex
	polled []string
}

const who Who = "tester"

func newEnv(t *testing.T, servers ...balancer.ServerConfig) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "bbb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pool := balancer.NewPool(db)
	if err := pool.Load(ctx); err != nil {
		t.Fatal(err)
	}
	pool.SetServers(servers)
	e := &env{t: t, pool: pool, db: db}
	core, logs := observer.New(zap.InfoLevel)
	e.logs = logs
	e.m = &Manager{
		Pool:    pool,
		Client:  &bbb.Client{HTTP: &http.Client{}},
		Timeout: 5 * time.Second,
		Poll: func(_ context.Context, ids []string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.polled = append(e.polled, ids...)
		},
		Tenants:     &e.tenant,
		TenantStore: db,
	}
	e.m.SetLogger(zap.New(core))
	return e
}

// fake starts a fake BBB server.
func fake(t *testing.T) *bbbtest.Server {
	t.Helper()
	f, err := bbbtest.New(bbbtest.Options{Secret: "fake-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func serverOf(id string, f *bbbtest.Server) balancer.ServerConfig {
	return balancer.ServerConfig{ID: id, URL: f.URL(), Secret: f.Secret()}
}

// takePolls returns the servers polled since the last call.
func (e *env) takePolls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.polled
	e.polled = nil
	return out
}

// online reports a good poll of id, which brings it online.
func (e *env) online(id string) {
	e.t.Helper()
	e.pool.Report(context.Background(), id, balancer.Poll{Started: time.Now()}, balancer.HealthRule{Passes: 1, Fails: 1})
	if st, _ := e.pool.Server(id); !st.Online {
		e.t.Fatalf("%s did not come online", id)
	}
}

// start runs meeting key on server id: placed, created on the server,
// confirmed.
func (e *env) start(key, id string) {
	e.t.Helper()
	ctx := context.Background()
	pl, err := e.pool.Place(ctx, balancer.Request{Key: key, MeetingID: key})
	if err != nil || pl.ServerID != id {
		e.t.Fatalf("placing %s: %+v %v, want it on %s", key, pl, err, id)
	}
	res, err := e.m.Client.Do(ctx, pl.Server, "create", bbb.Query("name=Room").With("meetingID", key), nil, "")
	if err != nil || !res.OK() {
		e.t.Fatalf("create on the fake: %v %+v", err, res)
	}
	if err := e.pool.Confirm(ctx, key, key, id, ""); err != nil {
		e.t.Fatal(err)
	}
}

// logged returns what was logged since the last call, each entry as its
// message and fields.
func (e *env) logged() []map[string]any {
	var out []map[string]any
	for _, entry := range e.logs.TakeAll() {
		m := entry.ContextMap()
		m["msg"] = entry.Message
		out = append(out, m)
	}
	return out
}

// wantLog checks that exactly one line was logged since the last call,
// by who, with the message and fields given.
func (e *env) wantLog(by Who, msg string, fields map[string]any) {
	e.t.Helper()
	got := e.logged()
	want := map[string]any{"msg": msg, "by": string(by)}
	for k, v := range fields {
		want[k] = v
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		e.t.Errorf("logged %v, want one line %v", got, want)
	}
}

func (e *env) wantNoLog() {
	e.t.Helper()
	if got := e.logged(); len(got) != 0 {
		e.t.Errorf("logged %v, want nothing", got)
	}
}

func TestServerActions(t *testing.T) {
	f1, f2 := fake(t), fake(t)
	e := newEnv(t, serverOf("bbb1", f1))
	ctx := context.Background()

	// An added server is polled at once and kept.
	st, err := e.m.AddServer(ctx, who, balancer.ServerConfig{ID: "bbb2", URL: f2.URL(), Secret: f2.Secret(), Tag: "hd"})
	if err != nil || st.ID != "bbb2" || st.Tag != "hd" || st.State != balancer.Enabled {
		t.Fatalf("add: %+v %v", st, err)
	}
	if p := e.takePolls(); !reflect.DeepEqual(p, []string{"bbb2"}) {
		t.Errorf("polled %v after an add, want bbb2", p)
	}
	e.wantLog(who, "server added", map[string]any{"server": "bbb2", "url": f2.URL(), "state": "enabled"})
	if _, err := e.m.AddServer(ctx, who, serverOf("bbb2", f2)); !errors.Is(err, balancer.ErrServerExists) {
		t.Errorf("adding bbb2 again: %v", err)
	}
	if _, err := e.m.AddServer(ctx, who, balancer.ServerConfig{ID: "bad", URL: "ftp://x", Secret: "s"}); !balancer.IsInvalid(err) {
		t.Errorf("adding a bad URL: %v", err)
	}
	e.wantNoLog()
	if p := e.takePolls(); len(p) != 0 {
		t.Errorf("refused adds polled %v", p)
	}

	// A change of weight or tag is not polled; of URL or secret it is.
	weight, tag := 2.5, ""
	st, err = e.m.UpdateServer(ctx, who, "bbb2", balancer.ServerPatch{Weight: &weight, Tag: &tag})
	if err != nil || st.Weight != 2.5 || st.Tag != "" {
		t.Fatalf("update: %+v %v", st, err)
	}
	if p := e.takePolls(); len(p) != 0 {
		t.Errorf("a weight change polled %v", p)
	}
	e.wantLog(who, "server updated", map[string]any{"server": "bbb2", "changed": []any{"tag", "weight"}})
	secret := f2.Secret()
	if _, err := e.m.UpdateServer(ctx, who, "bbb2", balancer.ServerPatch{Secret: &secret}); err != nil {
		t.Fatal(err)
	}
	if p := e.takePolls(); !reflect.DeepEqual(p, []string{"bbb2"}) {
		t.Errorf("a secret change polled %v, want bbb2", p)
	}
	e.wantLog(who, "server updated", map[string]any{"server": "bbb2", "changed": []any{"secret"}})
	if _, err := e.m.UpdateServer(ctx, who, "nope", balancer.ServerPatch{Weight: &weight}); !errors.Is(err, balancer.ErrNoSuchServer) {
		t.Errorf("updating an unknown server: %v", err)
	}
	e.wantNoLog()

	// States.
	for _, state := range []balancer.State{balancer.Cordoned, balancer.Disabled, balancer.Enabled} {
		st, err := e.m.SetState(ctx, who, "bbb2", state)
		if err != nil || st.State != state {
			t.Fatalf("set state %s: %+v %v", state, st, err)
		}
		e.wantLog(who, "server state changed", map[string]any{"server": "bbb2", "state": string(state)})
	}
	if _, err := e.m.SetState(ctx, who, "nope", balancer.Cordoned); !errors.Is(err, balancer.ErrNoSuchServer) {
		t.Errorf("cordoning an unknown server: %v", err)
	}
	e.wantNoLog()

	// A server with meetings is removed only when forced; its meetings
	// are forgotten, not ended.
	e.online("bbb1")
	e.start("room", "bbb1")
	if _, err := e.m.RemoveServer(ctx, who, "bbb1", false); !errors.Is(err, balancer.ErrHasMeetings) {
		t.Fatalf("removing a server with meetings: %v", err)
	}
	e.wantNoLog()
	if n, err := e.m.RemoveServer(ctx, who, "bbb1", true); err != nil || n != 1 {
		t.Fatalf("forced remove: %d %v", n, err)
	}
	e.wantLog(who, "server removed", map[string]any{"server": "bbb1", "forgotten_meetings": int64(1)})
	if _, ok := e.pool.Server("bbb1"); ok || len(e.pool.Meetings()) != 0 {
		t.Errorf("bbb1 or its meeting is still in the pool: %v", e.pool.Meetings())
	}
	if ms := f1.Meetings(); len(ms) != 1 {
		t.Errorf("a forced remove ended the server's meetings: %v", ms)
	}
	if n, err := e.m.RemoveServer(ctx, who, "bbb2", false); err != nil || n != 0 {
		t.Fatalf("removing an empty server: %d %v", n, err)
	}
	e.wantLog(who, "server removed", map[string]any{"server": "bbb2", "forgotten_meetings": int64(0)})
	if _, err := e.m.RemoveServer(ctx, who, "bbb2", true); !errors.Is(err, balancer.ErrNoSuchServer) {
		t.Errorf("removing it again: %v", err)
	}

	// The changes are kept: a restart over the same database has them.
	pool := balancer.NewPool(e.db)
	if err := pool.Load(ctx); err != nil {
		t.Fatal(err)
	}
	pool.SetServers([]balancer.ServerConfig{serverOf("bbb1", f1)})
	if len(pool.Servers()) != 0 {
		t.Errorf("after a restart: %+v", pool.Servers())
	}
}

// twoServers is an env over fake servers bbb1 (online) and bbb2.
func twoServers(t *testing.T) (*env, *bbbtest.Server, *bbbtest.Server) {
	f1, f2 := fake(t), fake(t)
	e := newEnv(t, serverOf("bbb1", f1), serverOf("bbb2", f2))
	e.online("bbb1")
	return e, f1, f2
}

func TestPanic(t *testing.T) {
	e, f1, f2 := twoServers(t)
	ctx := context.Background()
	e.start("one", "bbb1")
	e.start("two", "bbb1")
	if _, err := e.m.SetState(ctx, who, "bbb1", balancer.Disabled); err != nil { // bbb2 takes the next
		t.Fatal(err)
	}
	e.online("bbb2")
	e.start("other", "bbb2")
	if _, err := e.m.SetState(ctx, who, "bbb1", balancer.Enabled); err != nil {
		t.Fatal(err)
	}
	e.logged()

	// Panic ends every meeting of the server on it, forgets them and
	// disables it; the other server's meetings stay.
	n, err := e.m.Panic(ctx, who, "bbb1", false)
	if err != nil || n != 2 {
		t.Fatalf("panic: %d %v", n, err)
	}
	if ms := f1.Meetings(); len(ms) != 0 {
		t.Errorf("still running on bbb1: %v", ms)
	}
	if ms := e.pool.Meetings(); len(ms) != 1 || ms[0].Key != "other" || len(f2.Meetings()) != 1 {
		t.Errorf("registry %+v, bbb2 runs %v; want only other", ms, f2.Meetings())
	}
	if st, _ := e.pool.Server("bbb1"); st.State != balancer.Disabled {
		t.Errorf("after panic: %s", st.State)
	}
	e.wantLog(who, "server panic: meetings ended and forgotten",
		map[string]any{"server": "bbb1", "meetings": int64(2), "ended": int64(2), "kept_state": false})

	// keepState keeps the state; a server that does not answer has its
	// meetings forgotten all the same.
	if n, err := e.m.Panic(ctx, who, "bbb2", true); err != nil || n != 1 || len(f2.Meetings()) != 0 {
		t.Fatalf("panic, keeping the state: %d %v, bbb2 runs %v", n, err, f2.Meetings())
	}
	if st, _ := e.pool.Server("bbb2"); st.State != balancer.Enabled {
		t.Errorf("keep state: %s", st.State)
	}
	e.start("three", "bbb2")
	e.logged()
	f2.SetFailure(bbbtest.FailRefuse)
	if n, err := e.m.Panic(ctx, who, "bbb2", true); err != nil || n != 0 || len(e.pool.Meetings()) != 0 {
		t.Fatalf("panic of a server that is down: %d %v, registry %+v", n, err, e.pool.Meetings())
	}
	e.wantLog(who, "server panic: meetings ended and forgotten",
		map[string]any{"server": "bbb2", "meetings": int64(1), "ended": int64(0), "kept_state": true})
	if _, err := e.m.Panic(ctx, who, "nope", false); !errors.Is(err, balancer.ErrNoSuchServer) {
		t.Errorf("panic of an unknown server: %v", err)
	}
	e.wantNoLog()
}

func TestEndMeeting(t *testing.T) {
	f := fake(t)
	e := newEnv(t, serverOf("bbb1", f))
	ctx := context.Background()
	e.online("bbb1")
	e.start("school-a~room", "bbb1")
	e.start("gone", "bbb1")

	if err := e.m.EndMeeting(ctx, who, "school-a~room"); err != nil {
		t.Fatal(err)
	}
	if ms := f.Meetings(); len(ms) != 1 || ms[0] != "gone" {
		t.Errorf("the server runs %v, want only gone", ms)
	}
	e.wantLog(who, "meeting ended", map[string]any{"meeting": "school-a~room", "server": "bbb1", "server_confirmed": true})
	if err := e.m.EndMeeting(ctx, who, "school-a~room"); !errors.Is(err, balancer.ErrUnknownMeeting) {
		t.Errorf("ending it again: %v", err)
	}
	e.wantNoLog()

	// A meeting its server no longer knows, or a server that does not
	// answer: the meeting is forgotten all the same.
	f.EndMeeting("gone")
	if err := e.m.EndMeeting(ctx, who, "gone"); err != nil {
		t.Fatal(err)
	}
	e.wantLog(who, "meeting ended", map[string]any{"meeting": "gone", "server": "bbb1", "server_confirmed": true})
	e.start("down", "bbb1")
	f.SetFailure(bbbtest.FailHTTP500)
	if err := e.m.EndMeeting(ctx, who, "down"); err != nil {
		t.Fatal(err)
	}
	e.wantLog(who, "meeting ended", map[string]any{"meeting": "down", "server": "bbb1", "server_confirmed": false})
	if len(e.pool.Meetings()) != 0 {
		t.Errorf("still in the registry: %+v", e.pool.Meetings())
	}
}

// EndCopies ends the empty copies a poll found, on that server only.
func TestEndCopies(t *testing.T) {
	e, f1, f2 := twoServers(t)
	ctx := context.Background()
	e.start("room", "bbb1")
	// A copy of room on bbb2 (a create that seemed to fail there).
	ep := bbb.Endpoint{URL: f2.URL(), Secret: f2.Secret()}
	if res, err := e.m.Client.Do(ctx, ep, "create", bbb.Query("name=Room&meetingID=room"), nil, ""); err != nil || !res.OK() {
		t.Fatalf("create on bbb2: %v %+v", err, res)
	}
	e.logged()

	e.m.EndCopies(ctx, "bbb2", []string{"room"})
	if len(f2.Meetings()) != 0 || len(f1.Meetings()) != 1 || len(e.pool.Meetings()) != 1 {
		t.Errorf("bbb1 runs %v, bbb2 %v, registry %+v; want room on bbb1 only", f1.Meetings(), f2.Meetings(), e.pool.Meetings())
	}
	e.wantLog("poller", "ended an empty copy of a meeting the registry has on another server",
		map[string]any{"server": "bbb2", "meeting": "room", "server_confirmed": true})

	// A server removed meanwhile: nothing is sent.
	e.m.EndCopies(ctx, "nope", []string{"room"})
	e.wantNoLog()
	if len(f1.Meetings()) != 1 {
		t.Error("a copy on an unknown server ended the meeting elsewhere")
	}
}

// Log gives every line who asked, at the logger of the live config;
// without one, nothing is logged and nothing breaks.
func TestLog(t *testing.T) {
	m := &Manager{}
	m.Log(who, "before any config")
	core, logs := observer.New(zapcore.InfoLevel)
	m.SetLogger(zap.New(core))
	m.Log("admin API from 127.0.0.1:1234", "something", zap.String("k", "v"))
	got := logs.TakeAll()
	if len(got) != 1 || got[0].Message != "something" || got[0].ContextMap()["by"] != "admin API from 127.0.0.1:1234" || got[0].ContextMap()["k"] != "v" {
		t.Errorf("logged %+v", got)
	}
}
