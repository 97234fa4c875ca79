package recordings_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/internal/rectest"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// retentionNow is the clock of the retention tests.
var retentionNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(d int) int64 { return retentionNow.Add(-time.Duration(d) * 24 * time.Hour).UnixMilli() }

// library of the retention tests: each recording imported from a tar, as
// the servers send them.
type retentionLib struct {
	*importRig
	ids map[string]string // name in the test → record id
}

func newRetentionLib(t *testing.T, recs map[string]rectest.Recording) *retentionLib {
	t.Helper()
	r := &retentionLib{importRig: newImportRig(t), ids: map[string]string{}}
	im := r.importer(func(c *recordings.ImporterConfig) { c.TenantOf = tenants.Split })
	for name, rec := range recs {
		rec = rec.WithDefaults()
		b, err := rec.Tar("presentation")
		if err != nil {
			t.Fatal(err)
		}
		if err := im.ImportTar(context.Background(), r.spool(rec.ID+".tar", b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r.ids[name] = rec.ID
	}
	return r
}

func (r *retentionLib) expirer(p recordings.Policy, mod func(*recordings.ExpirerConfig)) (*recordings.Expirer, *expiryObserver) {
	r.t.Helper()
	obs := &expiryObserver{}
	c := recordings.ExpirerConfig{Store: r.db, Files: r.lib, Policy: func() recordings.Policy { return p },
		Observer: obs, Now: func() time.Time { return retentionNow }}
	if mod != nil {
		mod(&c)
	}
	x, err := recordings.NewExpirer(c)
	if err != nil {
		r.t.Fatal(err)
	}
	return x, obs
}

// names returns the test names of the recordings in rep, sorted.
func (r *retentionLib) names(rep recordings.ExpiryReport) []string {
	byID := map[string]string{}
	for name, id := range r.ids {
		byID[id] = name
	}
	var out []string
	for _, x := range rep.Recordings {
		out = append(out, byID[x.RecordID])
	}
	sort.Strings(out)
	return out
}

// states returns each recording's state, with its files and row checked
// to agree.
func (r *retentionLib) states() map[string]string {
	out := map[string]string{}
	for name, id := range r.ids {
		out[name] = r.consistent(id).State
	}
	return out
}

type expiryObserver struct {
	mu    sync.Mutex
	rules []string
}

func (o *expiryObserver) Expired(x recordings.Expired) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rules = append(o.rules, x.Tenant+" "+x.Rule)
}

func age(t *testing.T, s string) recordings.Age {
	t.Helper()
	a, err := recordings.ParseAge(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func retentionFixture(t *testing.T) (*retentionLib, recordings.Policy) {
	lib := newRetentionLib(t, map[string]rectest.Recording{
		"old":            {MeetingID: "m-old", Published: true, StartTime: daysAgo(400)},
		"recent":         {MeetingID: "m-recent", Published: true, StartTime: daysAgo(100)},
		"old-unpub":      {MeetingID: "m-unpub", Published: false, StartTime: daysAgo(40)},
		"young-unpub":    {MeetingID: "m-unpub2", Published: false, StartTime: daysAgo(20)},
		"old-kept":       {MeetingID: "m-kept", Published: true, StartTime: daysAgo(400), Meta: [][2]string{{"bbb-retain", "true"}}},
		"a-old":          {MeetingID: "school-a~m1", Published: true, StartTime: daysAgo(100)},
		"a-young":        {MeetingID: "school-a~m2", Published: true, StartTime: daysAgo(50)},
		"a-unpub":        {MeetingID: "school-a~m3", Published: false, StartTime: daysAgo(40)},
		"b-forever":      {MeetingID: "school-b~m1", Published: true, StartTime: daysAgo(4000)},
		"c-pool":         {MeetingID: "school-c~m1", Published: true, StartTime: daysAgo(400)},
		"a-kept-by-pool": {MeetingID: "school-a~m4", Published: true, StartTime: daysAgo(400), Meta: [][2]string{{"bbb-retain", "true"}}},
		"a-kept-own":     {MeetingID: "school-a~m5", Published: true, StartTime: daysAgo(400), Meta: [][2]string{{"course", "law-2025"}}},
	})
	p := recordings.Policy{
		Pool: recordings.Retention{MaxAge: age(t, "365d"), UnpublishedMaxAge: age(t, "30d"), KeepMeta: []string{"meta_bbb-retain=true"}},
		Tenants: map[string]recordings.Retention{
			// school-a: 90 days for all its recordings (its own age covers
			// its unpublished ones: a-unpub, 40 days, stays although the
			// pool's 30 days would take it), and its own keep rule beside
			// the pool's.
			"school-a": {MaxAge: age(t, "90d"), KeepMeta: []string{"course=law-%"}},
			"school-b": {MaxAge: recordings.Never},
		},
	}
	return lib, p
}

// The ages, tenants' rules and keep rules decide what goes; a dry run
// lists it and changes nothing; a run deletes exactly that, as
// deleteRecordings would, logged and counted with the rule.
func TestRetention(t *testing.T) {
	lib, p := retentionFixture(t)
	x, obs := lib.expirer(p, nil)
	ctx := context.Background()
	before := lib.states()
	want := []string{"a-old", "c-pool", "old", "old-unpub"}

	dry, err := x.Expire(ctx, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := lib.names(dry); !reflect.DeepEqual(got, want) || !dry.DryRun || dry.More {
		t.Fatalf("dry run lists %v (more %t), want %v", got, dry.More, want)
	}
	if dry.Bytes <= 0 {
		t.Fatalf("dry run: %d bytes", dry.Bytes)
	}
	for _, rec := range dry.Recordings {
		if rec.Bytes <= 0 {
			t.Fatalf("dry run: %s without its size", rec.RecordID)
		}
	}
	if after := lib.states(); !reflect.DeepEqual(after, before) {
		t.Fatalf("a dry run changed the library: %v → %v", before, after)
	}
	if len(obs.rules) != 0 {
		t.Fatalf("a dry run counted %v", obs.rules)
	}

	rep, err := x.Expire(ctx, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := lib.names(rep); !reflect.DeepEqual(got, want) || rep.Failed != 0 {
		t.Fatalf("run deleted %v (failed %d), want %v", got, rep.Failed, want)
	}
	states := lib.states()
	for name, state := range states {
		expired := sort.SearchStrings(want, name) < len(want) && want[sort.SearchStrings(want, name)] == name
		if expired != (state == recordings.StateDeleted) {
			t.Errorf("%s: state %s after the run", name, state)
		}
	}
	sort.Strings(obs.rules)
	wantRules := []string{
		" pool: max_age 365d", " pool: unpublished_max_age 30d", "school-a tenant school-a: max_age 90d",
		"school-c pool: max_age 365d",
	}
	if !reflect.DeepEqual(obs.rules, wantRules) {
		t.Fatalf("counted %q, want %q", obs.rules, wantRules)
	}
	again, err := x.Expire(ctx, false, 0)
	if err != nil || len(again.Recordings) != 0 {
		t.Fatalf("a second run deleted %v, %v", lib.names(again), err)
	}
}

// A run deletes at most its bound; the next runs take the rest.
func TestRetentionBatchBound(t *testing.T) {
	lib, p := retentionFixture(t)
	x, _ := lib.expirer(p, func(c *recordings.ExpirerConfig) { c.MaxPerRun = 2 })
	ctx := context.Background()
	var all []string
	for run := 1; ; run++ {
		rep, err := x.Expire(ctx, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Recordings) > 2 {
			t.Fatalf("run %d deleted %d, bound 2", run, len(rep.Recordings))
		}
		all = append(all, lib.names(rep)...)
		if !rep.More {
			break
		}
		if run > 5 {
			t.Fatalf("runs never end: %v", all)
		}
	}
	sort.Strings(all)
	if want := []string{"a-old", "c-pool", "old", "old-unpub"}; !reflect.DeepEqual(all, want) {
		t.Fatalf("runs deleted %v, want %v", all, want)
	}
	// A limit given with the call (the CLI's --limit) bounds it too.
	lib2, p2 := retentionFixture(t)
	x2, _ := lib2.expirer(p2, nil)
	rep, err := x2.Expire(ctx, true, 3)
	if err != nil || len(rep.Recordings) != 3 || !rep.More {
		t.Fatalf("dry run with limit 3: %d, more %t, %v", len(rep.Recordings), rep.More, err)
	}
}

// staleCandidates answers the expiry query as it was before a keep tag
// was set: the expirer must see the tag when it reads the recording again
// under its lock, and spare it.
type staleCandidates struct{ *retentionLib }

func (s staleCandidates) ExpiryCandidates(ctx context.Context, q recordings.ExpiryQuery, limit int) ([]recordings.Entry, error) {
	q.Keep = nil
	return s.db.ExpiryCandidates(ctx, q, limit)
}

func TestRetentionReadsAgainUnderLock(t *testing.T) {
	lib, p := retentionFixture(t)
	type store struct {
		recordings.Store
		staleCandidates
	}
	st := store{lib.db, staleCandidates{lib}}
	x, _ := lib.expirer(p, func(c *recordings.ExpirerConfig) { c.Store = st })
	rep, err := x.Expire(context.Background(), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := lib.names(rep); !reflect.DeepEqual(got, []string{"a-old", "c-pool", "old", "old-unpub"}) {
		t.Fatalf("deleted %v", got)
	}
	for _, name := range []string{"old-kept", "a-kept-by-pool", "a-kept-own"} {
		if st := lib.states()[name]; st != recordings.StatePublished {
			t.Fatalf("%s: %s", name, st)
		}
	}
}

// No rule with an age: nothing is ever deleted (the default).
func TestRetentionDefaultDeletesNothing(t *testing.T) {
	lib, _ := retentionFixture(t)
	for _, p := range []recordings.Policy{
		{},
		{Pool: recordings.Retention{KeepMeta: []string{"a=b"}}},
		{Tenants: map[string]recordings.Retention{"school-b": {MaxAge: recordings.Never}}},
	} {
		x, _ := lib.expirer(p, nil)
		rep, err := x.Expire(context.Background(), false, 0)
		if err != nil || len(rep.Recordings) != 0 {
			t.Fatalf("policy %+v deleted %v, %v", p, lib.names(rep), err)
		}
	}
}

func TestPolicyRules(t *testing.T) {
	p := recordings.Policy{
		Pool: recordings.Retention{MaxAge: age(t, "365d"), UnpublishedMaxAge: age(t, "30d"), KeepMeta: []string{"keep=yes"}},
		Tenants: map[string]recordings.Retention{
			"only-unpub": {UnpublishedMaxAge: age(t, "7d")},
			"own":        {MaxAge: age(t, "90d"), KeepMeta: []string{"meta_Course=x%"}},
			"forever":    {MaxAge: recordings.Never},
			"keep-only":  {KeepMeta: []string{"z=1"}},
		},
	}
	var got []string
	for _, r := range p.Rules() {
		var keep []string
		for _, k := range r.Keep {
			keep = append(keep, k.Key+"="+k.Value)
		}
		got = append(got, r.String()+" "+recordings.Age(r.Published).String()+" "+recordings.Age(r.Unpublished).String()+
			" "+strings.Join(keep, ",")+" except="+strings.Join(r.Except, ","))
	}
	want := []string{
		"tenant keep-only 365d 30d keep=yes,z=1 except=",
		"tenant only-unpub 365d 7d keep=yes except=",
		"tenant own 90d 90d keep=yes,course=x% except=",
		"pool 365d 30d keep=yes except=forever,keep-only,only-unpub,own",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rules\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAge(t *testing.T) {
	for in, want := range map[string]string{"365d": "365d", "36h": "36h0m0s", "48h": "2d", "off": "off", "never": "off"} {
		a, err := recordings.ParseAge(in)
		if err != nil || a.String() != want {
			t.Errorf("ParseAge(%q) = %s, %v; want %s", in, a, err, want)
		}
	}
	for _, bad := range []string{"", "0d", "-3d", "1y", "d", "0s", "-1h"} {
		if _, err := recordings.ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q) accepted", bad)
		}
	}
	var r recordings.Retention
	if err := json.Unmarshal([]byte(`{"max_age":"365d","unpublished_max_age":"off","keep_meta":["bbb-retain=true"]}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.MaxAge != age(t, "365d") || r.UnpublishedMaxAge != recordings.Never {
		t.Fatalf("%+v", r)
	}
	b, _ := json.Marshal(r)
	if string(b) != `{"max_age":"365d","unpublished_max_age":"off","keep_meta":["bbb-retain=true"]}` {
		t.Fatalf("JSON %s", b)
	}
	for _, bad := range []recordings.Retention{{KeepMeta: []string{"novalue"}}, {KeepMeta: []string{"=x"}}, {MaxAge: -5}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestNextRun(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data")
	}
	for _, c := range []struct{ now, want time.Time }{
		{time.Date(2026, 6, 1, 2, 0, 0, 0, berlin), time.Date(2026, 6, 1, 3, 0, 0, 0, berlin)},
		{time.Date(2026, 6, 1, 3, 0, 0, 0, berlin), time.Date(2026, 6, 2, 3, 0, 0, 0, berlin)},
		{time.Date(2026, 6, 1, 23, 0, 0, 0, berlin), time.Date(2026, 6, 2, 3, 0, 0, 0, berlin)},
		// The night the clocks go forward: 03:00 local still.
		{time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), time.Date(2026, 3, 29, 3, 0, 0, 0, berlin)},
		{time.Date(2026, 12, 31, 4, 0, 0, 0, berlin), time.Date(2027, 1, 1, 3, 0, 0, 0, berlin)},
	} {
		if got := recordings.NextRun(c.now, 3*time.Hour); !got.Equal(c.want) {
			t.Errorf("NextRun(%s) = %s, want %s", c.now, got, c.want)
		}
	}
}
