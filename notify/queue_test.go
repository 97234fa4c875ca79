package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/notify"
	"github.com/bbb-balance/bbb_balance/store"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// outcome is one attempt's result as the Observer saw it.
type outcome struct{ kind, result string }

type env struct {
	db      *store.DB
	path    string
	q       *notify.Queue
	results chan outcome
	logs    *observer.ObservedLogs
	stop    func()
}

func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// newEnv starts a Queue on a fresh database; edit adjusts it before Run.
func newEnv(t *testing.T, path string, edit func(q *notify.Queue)) *env {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "x.db")
	}
	e := &env{db: openDB(t, path), path: path, results: make(chan outcome, 100)}
	core, logs := observer.New(zapcore.DebugLevel)
	e.logs = logs
	e.q = &notify.Queue{
		Store:    e.db,
		Logger:   zap.New(core),
		Backoff:  []time.Duration{time.Millisecond, time.Millisecond},
		Observer: func(kind, result string) { e.results <- outcome{kind, result} },
	}
	if edit != nil {
		edit(e.q)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { e.q.Run(ctx); close(ran) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			<-ran
			e.db.Close()
		})
	}
	t.Cleanup(e.stop)
	return e
}

func (e *env) enqueue(t *testing.T, url, body string) {
	t.Helper()
	err := e.q.Enqueue(context.Background(), notify.Delivery{Kind: "test", URL: url, ContentType: "text/plain", Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
}

// expect waits for the next results, in order.
func (e *env) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-e.results:
			if got.result != w {
				t.Fatalf("result %q, want %q", got.result, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no result after 10s, want %q", w)
		}
	}
}

// pending counts the deliveries left in the store.
func pending(t *testing.T, db *store.DB) int {
	t.Helper()
	due, err := db.DueDeliveries(context.Background(), time.Now().Add(24*365*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(due)
}

// receiver answers each request with the next status of its script (the
// last one repeats) and counts the requests.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	bodies   []string
	ctypes   []string
	*httptest.Server
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.bodies)
		r.bodies = append(r.bodies, string(b))
		r.ctypes = append(r.ctypes, req.Header.Get("Content-Type"))
		r.mu.Unlock()
		w.WriteHeader(r.statuses[min(n, len(r.statuses)-1)])
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func TestRetryThenDeliver(t *testing.T) {
	r := newReceiver(t, 500, 200)
	e := newEnv(t, "", nil)
	e.enqueue(t, r.URL+"/cb", "hello")
	e.expect(t, notify.ResultRetry, notify.ResultDelivered)
	if r.requests() != 2 || r.bodies[1] != "hello" || r.ctypes[1] != "text/plain" {
		t.Fatalf("receiver got %q %q", r.bodies, r.ctypes)
	}
	if n := pending(t, e.db); n != 0 {
		t.Fatalf("%d deliveries left", n)
	}
}

func TestStopOn404And410(t *testing.T) {
	for _, status := range []int{404, 410} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			r := newReceiver(t, status)
			e := newEnv(t, "", nil)
			e.enqueue(t, r.URL, "x")
			e.expect(t, notify.ResultStopped)
			if n := pending(t, e.db); n != 0 {
				t.Fatalf("%d deliveries left", n)
			}
			e.stop() // no further attempt can be under way
			if r.requests() != 1 {
				t.Fatalf("%d requests, want 1", r.requests())
			}
			if e.logs.FilterMessage("receiver declined the delivery; not retried").Len() != 1 {
				t.Error("stop not logged")
			}
		})
	}
}

func TestGiveUpAfterLastBackoff(t *testing.T) {
	r := newReceiver(t, 503)
	e := newEnv(t, "", func(q *notify.Queue) {
		q.Backoff = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	})
	e.enqueue(t, r.URL+"/ready?token=SECRETTOKEN", "BODYSECRET")
	e.expect(t, notify.ResultRetry, notify.ResultRetry, notify.ResultRetry, notify.ResultGaveUp)
	e.stop()
	if r.requests() != 4 {
		t.Fatalf("%d requests, want 4 (the first and 3 retries)", r.requests())
	}
	db := openDB(t, e.path)
	defer db.Close()
	if n := pending(t, db); n != 0 {
		t.Fatalf("%d deliveries left", n)
	}
	gaveUp := e.logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(gaveUp) != 1 || gaveUp[0].ContextMap()["url"] != r.URL+"/ready" || gaveUp[0].ContextMap()["error"] != "HTTP 503" {
		t.Fatalf("give-up log: %+v", gaveUp)
	}
	for _, l := range e.logs.All() {
		line := l.Message + fmt.Sprint(l.ContextMap())
		if strings.Contains(line, "SECRETTOKEN") || strings.Contains(line, "BODYSECRET") {
			t.Errorf("log shows the query or the body: %s", line)
		}
	}
}

// A transport error carries the URL in Go's error text; it must not reach
// the logs or the store with its query.
func TestTransportErrorRedacted(t *testing.T) {
	r := newReceiver(t, 200)
	dead := r.URL
	r.Close()
	e := newEnv(t, "", func(q *notify.Queue) { q.Backoff = []time.Duration{} })
	e.enqueue(t, dead+"/x?token=SECRETTOKEN", "x")
	e.expect(t, notify.ResultGaveUp)
	for _, l := range e.logs.All() {
		line := l.Message + fmt.Sprint(l.ContextMap())
		if strings.Contains(line, "SECRETTOKEN") {
			t.Errorf("log shows the query: %s", line)
		}
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	e := newEnv(t, "", func(q *notify.Queue) {
		q.Timeout = 20 * time.Millisecond
		q.Backoff = []time.Duration{time.Hour}
	})
	e.enqueue(t, slow.URL, "x")
	e.expect(t, notify.ResultRetry)
	due, err := e.db.DueDeliveries(context.Background(), time.Now().Add(2*time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].Attempts != 1 || !strings.HasPrefix(due[0].LastError, "no answer within") {
		t.Fatalf("after a timeout: %+v %v", due, err)
	}
}

// What was pending when the process stopped is delivered by the next one.
func TestRestartDeliversPending(t *testing.T) {
	r := newReceiver(t, 500, 200)
	path := filepath.Join(t.TempDir(), "x.db")
	e := newEnv(t, path, func(q *notify.Queue) { q.Backoff = []time.Duration{time.Hour} })
	e.enqueue(t, r.URL+"/a", "a")
	e.expect(t, notify.ResultRetry) // "a" failed once, due again in an hour
	e.stop()

	// One more stored by a process that stopped before attempting it.
	db := openDB(t, path)
	if _, err := db.EnqueueDelivery(context.Background(), notify.Delivery{Kind: "test", URL: r.URL + "/b",
		Body: []byte("b"), NextAt: time.Now(), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	later := time.Now().Add(2 * time.Hour)
	e2 := newEnv(t, path, func(q *notify.Queue) { q.Now = func() time.Time { return later } })
	e2.expect(t, notify.ResultDelivered, notify.ResultDelivered)
	if n := pending(t, e2.db); n != 0 {
		t.Fatalf("%d deliveries left", n)
	}
	r.mu.Lock()
	got := strings.Join(r.bodies, ",")
	r.mu.Unlock()
	if got != "a,a,b" && got != "a,b,a" {
		t.Fatalf("receiver got %s", got)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	// Even a client told to follow redirects does not.
	e := newEnv(t, "", func(q *notify.Queue) {
		q.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
		q.Backoff = []time.Duration{}
	})
	e.enqueue(t, redirect.URL, "signed")
	e.expect(t, notify.ResultGaveUp)
	if hits.Load() != 0 {
		t.Fatalf("redirect target got %d requests", hits.Load())
	}
}

// One receiver that does not answer does not hold up the others.
func TestSlowReceiverDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer slow.Close()
	fast := newReceiver(t, 200)
	e := newEnv(t, "", func(q *notify.Queue) { q.Concurrency = 2 })
	e.enqueue(t, slow.URL, "slow")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("slow receiver never called")
	}
	e.enqueue(t, fast.URL, "fast")
	e.expect(t, notify.ResultDelivered) // while the slow one still hangs
	if fast.requests() != 1 {
		t.Fatalf("fast receiver got %d requests", fast.requests())
	}
	close(release)
	e.expect(t, notify.ResultDelivered)
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	e := newEnv(t, "", nil)
	for _, u := range []string{"", "ftp://x/y", "/relative", "http://", "://x", "https://user:pw@%zz"} {
		err := e.q.Enqueue(context.Background(), notify.Delivery{Kind: "test", URL: u})
		if err == nil {
			t.Errorf("URL %q accepted", u)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows credentials: %v", err)
		}
	}
	if err := e.q.Enqueue(context.Background(), notify.Delivery{URL: "https://x/"}); err == nil {
		t.Error("delivery without a kind accepted")
	}
	if n := pending(t, e.db); n != 0 {
		t.Fatalf("%d deliveries stored", n)
	}
}

// failingReschedule is a store whose RescheduleDelivery fails.
type failingReschedule struct{ *store.DB }

func (failingReschedule) RescheduleDelivery(context.Context, int64, int, time.Time, string) error {
	return fmt.Errorf("disk I/O error")
}

// When the store cannot record a failure, the row still says "due now";
// the queue must not hammer the receiver with it.
func TestStoreFailureDoesNotHammer(t *testing.T) {
	r := newReceiver(t, 500)
	ok := newReceiver(t, 200)
	e := newEnv(t, "", func(q *notify.Queue) {
		q.Store = failingReschedule{q.Store.(*store.DB)}
		q.Backoff = []time.Duration{time.Hour}
	})
	e.enqueue(t, r.URL, "x")
	e.expect(t, notify.ResultRetry)
	// The next dispatch (for this one) would have sent the held one again.
	e.enqueue(t, ok.URL, "y")
	e.expect(t, notify.ResultDelivered)
	if n := r.requests(); n != 1 {
		t.Fatalf("failing receiver got %d requests, want 1", n)
	}
}

// A GET with headers (a relayed end callback, an analytics bearer token)
// is made as stored, after a restart too, and its retries keep both.
func TestGetWithHeadersSurvivesRestart(t *testing.T) {
	type seen struct{ method, query, auth, agent, ctype, body string }
	var mu sync.Mutex
	var got []seen
	status := atomic.Int32{}
	status.Store(500)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("User-Agent"), r.Header.Get("Content-Type"), string(b)})
		mu.Unlock()
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)

	path := filepath.Join(t.TempDir(), "x.db")
	e := newEnv(t, path, func(q *notify.Queue) { q.Backoff = []time.Duration{time.Hour} })
	err := e.q.Enqueue(context.Background(), notify.Delivery{Kind: "end", Method: http.MethodGet,
		URL: srv.URL + "/ended?x=1&recordingmarks=false&meetingID=room", ContentType: "text/plain", Body: []byte("ignored"),
		Header: http.Header{"Authorization": {"Bearer t0k"}, "user-agent": {"BigBlueButton Analytics Callback"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.expect(t, notify.ResultRetry)
	e.stop()

	status.Store(200)
	later := time.Now().Add(2 * time.Hour)
	e2 := newEnv(t, path, func(q *notify.Queue) { q.Now = func() time.Time { return later } })
	e2.expect(t, notify.ResultDelivered)
	mu.Lock()
	defer mu.Unlock()
	want := seen{"GET", "x=1&recordingmarks=false&meetingID=room", "Bearer t0k", "BigBlueButton Analytics Callback", "", ""}
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Fatalf("receiver got %+v, want twice %+v", got, want)
	}
}

func TestEnqueueRejectsOtherMethods(t *testing.T) {
	e := newEnv(t, "", nil)
	for _, m := range []string{"PUT", "get", "DELETE"} {
		if err := e.q.Enqueue(context.Background(), notify.Delivery{Kind: "test", Method: m, URL: "https://x/"}); err == nil {
			t.Errorf("method %q accepted", m)
		}
	}
	if n := pending(t, e.db); n != 0 {
		t.Fatalf("%d deliveries stored", n)
	}
}
