package recordings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Retention says when recordings expire: the pool's rule, and a tenant's
// own on top of it. Nothing expires unless an age is set.
type Retention struct {
	// MaxAge: a recording whose meeting started longer ago than this is
	// deleted. Zero: none (a tenant's zero takes the pool's); Never: never
	// (a tenant's Never overrides the pool's age).
	MaxAge Age `json:"max_age,omitempty"`
	// UnpublishedMaxAge is MaxAge for unpublished recordings; zero: MaxAge
	// applies to them too.
	UnpublishedMaxAge Age `json:"unpublished_max_age,omitempty"`
	// KeepMeta are "<key>=<value>" rules (key with or without "meta_",
	// value with getRecordings' wildcards: "%x%", "%x", "x%", "%"): a
	// recording with a matching metadata value is never expired. A
	// tenant's rules add to the pool's.
	KeepMeta []string `json:"keep_meta,omitempty"`
}

// Age is a duration of a retention rule. In JSON it is a string such as
// "365d", "36h" or "off" (Never), or nanoseconds.
type Age time.Duration

// Never is the Age of a rule that keeps recordings for ever.
const Never Age = -1

const day = 24 * time.Hour

// ParseAge reads "365d", "12h", "1h30m", "off" or "never".
func ParseAge(s string) (Age, error) {
	switch strings.ToLower(s) {
	case "off", "never":
		return Never, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 100*366 {
			return 0, fmt.Errorf("age %q: want a number of days such as 365d", s)
		}
		return Age(time.Duration(days) * day), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("age %q: want a duration such as 365d, 36h or off", s)
	}
	return Age(d), nil
}

func (a Age) String() string {
	switch {
	case a == Never:
		return "off"
	case a > 0 && time.Duration(a)%day == 0:
		return strconv.FormatInt(int64(time.Duration(a)/day), 10) + "d"
	}
	return time.Duration(a).String()
}

// MarshalJSON writes an age as ParseAge reads it.
func (a Age) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// UnmarshalJSON reads an age as a string or as nanoseconds.
func (a *Age) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var ns int64
		if err := json.Unmarshal(b, &ns); err != nil || ns < -1 {
			return fmt.Errorf("age %s: want a string such as \"365d\" or nanoseconds", b)
		}
		*a = Age(ns)
		return nil
	}
	v, err := ParseAge(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Validate tells what is wrong with a rule, if anything.
func (r Retention) Validate() error {
	for _, a := range []Age{r.MaxAge, r.UnpublishedMaxAge} {
		if a < 0 && a != Never {
			return fmt.Errorf("retention: negative age %d", a)
		}
	}
	for _, k := range r.KeepMeta {
		if _, err := parseKeep(k); err != nil {
			return err
		}
	}
	return nil
}

// IsZero is true for a rule that says nothing.
func (r Retention) IsZero() bool {
	return r.MaxAge == 0 && r.UnpublishedMaxAge == 0 && len(r.KeepMeta) == 0
}

func parseKeep(s string) (MetaFilter, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(k)), "meta_")
	if !ok || k == "" || v == "" {
		return MetaFilter{}, fmt.Errorf("retention: keep_meta %q: want <key>=<value>, such as bbb-retain=true", s)
	}
	return MetaFilter{Key: k, Value: v}, nil
}

// Matches is BBB's match of a getRecordings meta_ filter's value: "%x%"
// contains, "%x" ends with, "x%" starts with, "%" anything, else equal;
// case-sensitive. The store's query of the same filter is in SQL.
func (f MetaFilter) Matches(value string) bool {
	v := f.Value
	switch {
	case v == "%":
		return true
	case len(v) >= 2 && strings.HasPrefix(v, "%") && strings.HasSuffix(v, "%"):
		return strings.Contains(value, v[1:len(v)-1])
	case strings.HasPrefix(v, "%"):
		return strings.HasSuffix(value, v[1:])
	case strings.HasSuffix(v, "%"):
		return strings.HasPrefix(value, v[:len(v)-1])
	}
	return value == v
}

// Policy is the retention in force: the pool's rule and the tenants' own.
type Policy struct {
	Pool    Retention
	Tenants map[string]Retention
}

// Rule is the retention of one group of recordings (one tenant with its
// own rule, or all the others), ready to apply.
type Rule struct {
	// Tenant is the tenant whose own rule this is; Others is true instead
	// for the pool's rule, of every tenant but those with their own
	// (Except).
	Tenant string
	Others bool
	Except []string
	// Ages of published and unpublished recordings; 0: never expire.
	Published, Unpublished time.Duration
	Keep                   []MetaFilter
}

// Rules returns the rule of each group of recordings that has one with
// an age: the tenants with their own rule first, by name, then the others.
func (p Policy) Rules() []Rule {
	var out []Rule
	var own []string
	for name := range p.Tenants {
		own = append(own, name)
	}
	sort.Strings(own)
	for _, name := range own {
		r := p.merge(p.Tenants[name])
		r.Tenant = name
		if r.Published > 0 || r.Unpublished > 0 {
			out = append(out, r)
		}
	}
	r := p.merge(Retention{})
	r.Others, r.Except = true, own
	if r.Published > 0 || r.Unpublished > 0 {
		out = append(out, r)
	}
	return out
}

// merge lays a tenant's rule over the pool's: its ages replace the pool's,
// its keep rules add to them.
func (p Policy) merge(t Retention) Rule {
	maxAge, unpub := p.Pool.MaxAge, p.Pool.UnpublishedMaxAge
	if t.MaxAge != 0 {
		maxAge = t.MaxAge
		if t.UnpublishedMaxAge == 0 {
			unpub = 0 // the tenant's own age covers its unpublished too
		}
	}
	if t.UnpublishedMaxAge != 0 {
		unpub = t.UnpublishedMaxAge
	}
	if unpub == 0 {
		unpub = maxAge
	}
	var r Rule
	if maxAge > 0 {
		r.Published = time.Duration(maxAge)
	}
	if unpub > 0 {
		r.Unpublished = time.Duration(unpub)
	}
	for _, k := range append(append([]string(nil), p.Pool.KeepMeta...), t.KeepMeta...) {
		if f, err := parseKeep(k); err == nil { // validated with the config
			r.Keep = append(r.Keep, f)
		}
	}
	return r
}

// String names the rule in logs and reports: "pool" or "tenant <name>".
func (r Rule) String() string {
	if r.Others {
		return "pool"
	}
	return "tenant " + r.Tenant
}

// Applies is true when the rule is the one of tenant.
func (r Rule) Applies(tenant string) bool {
	if !r.Others {
		return tenant == r.Tenant
	}
	return !slices.Contains(r.Except, tenant)
}

// Expires tells whether e expires under r at now, and by which age
// ("max_age 365d" or "unpublished_max_age 30d").
func (r Rule) Expires(e *Entry, now time.Time) (string, bool) {
	if !r.Applies(e.Tenant) {
		return "", false
	}
	var age time.Duration
	var name string
	switch e.State {
	case StatePublished:
		age, name = r.Published, "max_age"
	case StateUnpublished:
		age, name = r.Unpublished, "unpublished_max_age"
	default:
		return "", false
	}
	if age <= 0 || e.StartTime >= now.Add(-age).UnixMilli() {
		return "", false
	}
	for _, k := range r.Keep {
		if v, ok := e.MetaValue(k.Key); ok && k.Matches(v) {
			return "", false
		}
	}
	return name + " " + Age(age).String(), true
}

// ExpiryQuery selects the candidates of one rule: published or
// unpublished recordings of its tenants that started before the cutoffs
// (Unix ms; 0: that state never expires), with no metadata matching Keep,
// after the cursor (StartTime, RecordID), oldest first.
type ExpiryQuery struct {
	Tenant                             string
	Others                             bool
	Except                             []string
	PublishedBefore, UnpublishedBefore int64
	Keep                               []MetaFilter
	AfterStartTime                     int64
	AfterRecordID                      string
}

// ExpiryStore is a Store that can find the recordings a rule expires.
type ExpiryStore interface {
	// ExpiryCandidates returns up to limit recordings matching q, oldest
	// first, without their formats and metadata.
	ExpiryCandidates(ctx context.Context, q ExpiryQuery, limit int) ([]Entry, error)
}

// Expired is one recording an expiry run deleted, or would delete.
type Expired struct {
	RecordID  string `json:"record_id"`
	MeetingID string `json:"meeting_id"`
	Name      string `json:"name"`
	Tenant    string `json:"tenant"`
	State     string `json:"state"`
	StartTime int64  `json:"start_time"` // Unix ms
	Bytes     int64  `json:"bytes"`      // -1: not measured yet
	Rule      string `json:"rule"`       // "pool: max_age 365d"
}

// ExpiryReport is what an expiry run did (or, dry, would do).
type ExpiryReport struct {
	DryRun     bool      `json:"dry_run"`
	Recordings []Expired `json:"recordings"`
	Bytes      int64     `json:"bytes"` // of those measured
	// More is true when the run stopped at its limit with more due.
	More bool `json:"more"`
	// Failed counts the deletions that failed (logged; tried again next
	// run).
	Failed int `json:"failed"`
}

// ExpiryObserver hears of each expired recording (metrics).
type ExpiryObserver interface {
	Expired(e Expired)
}

// ExpirerConfig configures an Expirer. Store must be an ExpiryStore.
type ExpirerConfig struct {
	Store  Store
	Files  Files // nil: the index only
	Policy func() Policy
	// At is the time of day (since local midnight) of the daily run;
	// default 3h (03:00).
	At time.Duration
	// MaxPerRun bounds the recordings deleted by one run, so that a first
	// run over a large library does not keep the disk and the index busy
	// for long: the rest go in the next runs. Default 1000.
	MaxPerRun int
	Logger    *zap.Logger
	Observer  ExpiryObserver
	Now       func() time.Time // nil: time.Now
}

// DefaultExpiryAt and DefaultMaxPerRun are ExpirerConfig's defaults.
const (
	DefaultExpiryAt  = 3 * time.Hour
	DefaultMaxPerRun = 1000
)

// Expirer deletes the recordings the retention policy expires, once a day
// (Run) or when asked (Expire).
type Expirer struct {
	c     ExpirerConfig
	store ExpiryStore
}

// NewExpirer checks c and fills in its defaults.
func NewExpirer(c ExpirerConfig) (*Expirer, error) {
	st, ok := c.Store.(ExpiryStore)
	if !ok {
		return nil, errors.New("recordings: expirer: the store cannot find expired recordings")
	}
	if c.Policy == nil {
		return nil, errors.New("recordings: expirer: no policy")
	}
	if c.At < 0 || c.At >= day {
		return nil, fmt.Errorf("recordings: expirer: time of day %s out of range", c.At)
	}
	if c.At == 0 {
		c.At = DefaultExpiryAt
	}
	if c.MaxPerRun <= 0 {
		c.MaxPerRun = DefaultMaxPerRun
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Expirer{c: c, store: st}, nil
}

// NextRun is the first time of day at (since midnight, on the wall clock:
// 03:00 stays 03:00 across a change of daylight saving time) after now, in
// now's location.
func NextRun(now time.Time, at time.Duration) time.Time {
	hour, minute := int(at/time.Hour), int(at%time.Hour/time.Minute)
	y, m, d := now.Date()
	t := time.Date(y, m, d, hour, minute, 0, 0, now.Location())
	if !t.After(now) {
		t = time.Date(y, m, d+1, hour, minute, 0, 0, now.Location())
	}
	return t
}

// Run expires recordings each day at the configured time until ctx ends.
// The importer runs it, so one process of those sharing a library does.
func (x *Expirer) Run(ctx context.Context) {
	for {
		next := NextRun(x.c.Now(), x.c.At)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if len(x.c.Policy().Rules()) == 0 {
			continue
		}
		rep, err := x.Expire(ctx, false, 0)
		if err != nil && ctx.Err() == nil {
			x.c.Logger.Error("recordings expiry run", zap.Error(err))
		}
		x.c.Logger.Info("recordings expiry run done", zap.Int("expired", len(rep.Recordings)),
			zap.Int64("bytes", rep.Bytes), zap.Bool("more", rep.More), zap.Int("failed", rep.Failed))
	}
}

// candidatePage is how many candidates one query reads.
const candidatePage = 200

// Expire deletes (dry: lists) the recordings the policy expires now, at
// most limit of them (0: MaxPerRun, what a scheduled run does).
// Each is read again and its rule checked under its lock before it goes,
// so a recording that changed since the query (a keep tag set, a
// publish) is spared.
func (x *Expirer) Expire(ctx context.Context, dry bool, limit int) (ExpiryReport, error) {
	if limit <= 0 {
		limit = x.c.MaxPerRun
	}
	rep := ExpiryReport{DryRun: dry, Recordings: []Expired{}}
	now := x.c.Now()
	for _, rule := range x.c.Policy().Rules() {
		q := ExpiryQuery{Tenant: rule.Tenant, Others: rule.Others, Except: rule.Except, Keep: rule.Keep}
		if rule.Published > 0 {
			q.PublishedBefore = now.Add(-rule.Published).UnixMilli()
		}
		if rule.Unpublished > 0 {
			q.UnpublishedBefore = now.Add(-rule.Unpublished).UnixMilli()
		}
		for {
			if len(rep.Recordings) >= limit {
				rep.More = true // at least one rule is left unread, or its rest
				return rep, nil
			}
			size := min(candidatePage, limit-len(rep.Recordings)+1) // one more tells whether more are due
			page, err := x.store.ExpiryCandidates(ctx, q, size)
			if err != nil {
				return rep, err
			}
			for i := range page {
				e := &page[i]
				q.AfterStartTime, q.AfterRecordID = e.StartTime, e.RecordID
				if len(rep.Recordings) >= limit {
					rep.More = true
					return rep, nil
				}
				why, ok := rule.Expires(e, now) // the query's answer, checked
				if !ok {
					continue
				}
				if !dry {
					if why, ok, err = x.delete(ctx, e.RecordID, rule, now); err != nil {
						rep.Failed++
						x.c.Logger.Error("expiring a recording failed", zap.String("record_id", e.RecordID), zap.Error(err))
						continue
					}
					if !ok {
						continue
					}
				}
				ex := Expired{RecordID: e.RecordID, MeetingID: e.MeetingID, Name: e.Name, Tenant: e.Tenant, State: e.State,
					StartTime: e.StartTime, Bytes: e.Bytes, Rule: rule.String() + ": " + why}
				rep.Recordings = append(rep.Recordings, ex)
				if e.Bytes > 0 {
					rep.Bytes += e.Bytes
				}
				if !dry {
					x.c.Logger.Info("recording expired", zap.String("record_id", e.RecordID), zap.String("tenant", e.Tenant),
						zap.String("meeting_id", e.MeetingID), zap.String("state", e.State),
						zap.Time("started", time.UnixMilli(e.StartTime)), zap.Int64("bytes", e.Bytes), zap.String("rule", ex.Rule))
					if x.c.Observer != nil {
						x.c.Observer.Expired(ex)
					}
				}
			}
			if len(page) < size {
				break
			}
		}
	}
	return rep, nil
}

// delete deletes one recording if, read again under its lock, the rule
// still expires it.
func (x *Expirer) delete(ctx context.Context, id string, rule Rule, now time.Time) (string, bool, error) {
	if x.c.Files != nil {
		defer x.c.Files.Lock(id)()
	}
	cur, found, err := x.c.Store.Recording(ctx, id)
	if err != nil || !found {
		return "", false, err
	}
	why, ok := rule.Expires(&cur, now)
	if !ok {
		return "", false, nil
	}
	return why, true, deleteLocked(ctx, x.c.Store, x.c.Files, id, "")
}
