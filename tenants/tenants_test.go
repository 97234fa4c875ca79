package tenants

import (
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
)

func set(t *testing.T, named ...Tenant) *Set {
	t.Helper()
	s, err := NewSet(Tenant{Secrets: []string{"pool"}}, named, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResolve(t *testing.T) {
	s := set(t,
		Tenant{Name: "school-a", Secrets: []string{"a"}},
		Tenant{Name: "school-b", Secrets: []string{"b"}, Hosts: []string{"bbb.school-b.org"}},
		Tenant{Name: "moodle", Secrets: []string{"m"}, PathPrefix: "/moodle"},
	)
	for _, tc := range []struct{ host, path, tenant, rest string }{
		{"school-a.bbb.example.com", "/bigbluebutton/api/create", "school-a", "/bigbluebutton/api/create"},
		{"school-a.bbb.example.com:443", "/bigbluebutton/api/create", "school-a", "/bigbluebutton/api/create"},
		{"BBB.School-B.org", "/bigbluebutton/api/join", "school-b", "/bigbluebutton/api/join"},
		{"school-b.bbb.example.com", "/bigbluebutton/api", "", "/bigbluebutton/api"}, // has hosts: no label rule
		{"bbb.example.com", "/moodle/bigbluebutton/api/create", "moodle", "/bigbluebutton/api/create"},
		{"bbb.example.com", "/moodlex/bigbluebutton/api/create", "", "/moodlex/bigbluebutton/api/create"},
		{"bbb.example.com", "/bigbluebutton/api/create", "", "/bigbluebutton/api/create"},
		{"localhost", "/bigbluebutton/api", "", "/bigbluebutton/api"},
	} {
		got, rest := s.Resolve(tc.host, tc.path)
		if got.Name != tc.tenant || rest != tc.rest {
			t.Errorf("%s%s: tenant %q path %q, want %q %q", tc.host, tc.path, got.Name, rest, tc.tenant, tc.rest)
		}
	}
}

func TestMeetingIDs(t *testing.T) {
	s := set(t, Tenant{Name: "a", Secrets: []string{"x"}})
	a, _ := s.Lookup("a")
	for _, tc := range []struct {
		t      *Tenant
		id     string
		server string
		own    bool
	}{
		{a, "room", "a~room", true},
		{a, "x~y", "a~x~y", true}, // a tenant's own ids may hold "~"
		{s.Default, "room", "room", true},
		{s.Default, "a~room", "a~room", false},   // tenant a's
		{s.Default, "zz~room", "zz~room", false}, // no tenant zz (yet, or any more)
		{s.Default, "Zz~room", "Zz~room", true},  // not a tenant name's form
		{s.Default, "~room", "~room", true},
		{s.Default, "-a~room", "-a~room", true},
		{s.Default, "a b~room", "a b~room", true},
	} {
		got, own := tc.t.ServerID(tc.id)
		if got != tc.server || own != tc.own {
			t.Errorf("tenant %q id %q: %q %v, want %q %v", tc.t.Name, tc.id, got, own, tc.server, tc.own)
		}
	}
	for serverID, want := range map[string][2]string{
		"a~room":    {"a", "room"},
		"a~x~y":     {"a", "x~y"},
		"zz~room":   {"zz", "room"},
		"room":      {"", "room"},
		"Zz~room":   {"", "Zz~room"},
		"~room":     {"", "~room"},
		"a-~room":   {"", "a-~room"},
		"a.b~room":  {"", "a.b~room"},
		"":          {"", ""},
		"a~":        {"a", ""},
		"9-z~room~": {"9-z", "room~"},
	} {
		if name, id := Split(serverID); name != want[0] || id != want[1] {
			t.Errorf("Split(%q) = %q %q, want %q %q", serverID, name, id, want[0], want[1])
		}
	}
	if owner, id, ok := s.Owner("a~room"); !ok || owner != a || id != "room" {
		t.Fatalf("owner of a~room: %v %q %v", owner, id, ok)
	}
	if owner, _, ok := s.Owner("zz~room"); ok || owner != nil {
		t.Fatalf("zz~room belongs to no tenant in force, got %v", owner)
	}
	if owner, id, ok := s.Owner("room"); !ok || owner != s.Default || id != "room" {
		t.Fatalf("owner of room: %v %q %v", owner, id, ok)
	}
}

// FuzzServerID checks the scoping rule for every id: an id a tenant may
// use maps back onto that tenant and that id and no other, so no input of
// one front-end reaches another's meetings or recordings.
func FuzzServerID(f *testing.F) {
	for _, id := range []string{"room", "beta~X", "Beta~X", "beta%7EX", "~", "a~b~c", "", "-x~y", "x-~y", strings.Repeat("a", 64) + "~x"} {
		f.Add("", id)
		f.Add("beta", id)
	}
	f.Fuzz(func(t *testing.T, name, id string) {
		if name != "" && !ValidName(name) {
			return
		}
		tenant := &Tenant{Name: name}
		server, own := tenant.ServerID(id)
		if !own {
			if name != "" {
				t.Fatalf("tenant %q may not use its own id %q", name, id)
			}
			if owner, _ := Split(id); owner == "" {
				t.Fatalf("default id %q refused though Split gives it to the default", id)
			}
			return
		}
		if owner, back := Split(server); owner != name || back != id {
			t.Fatalf("tenant %q id %q: server id %q splits to %q %q", name, id, server, owner, back)
		}
	})
}

func TestParams(t *testing.T) {
	pool := Params{
		Defaults:  []Param{{"record", "true"}, {"welcome", "Hello"}},
		Overrides: []Param{{"allowStartStopRecording", "false"}},
		Exclude:   []string{"dialNumber"},
	}
	own := Params{Overrides: []Param{{"welcome", "Hi from A"}}}
	p := Merge(pool, own)
	q := p.Apply(bbb.Query("name=Room&dialNumber=123&record=false&allowStartStopRecording=true"))
	v := q.Values()
	for k, want := range map[string]string{"name": "Room", "record": "false", "welcome": "Hi from A", "allowStartStopRecording": "false", "dialNumber": ""} {
		if got := v.Get(k); got != want {
			t.Errorf("%s = %q, want %q (query %s)", k, got, want, q)
		}
	}
	if !strings.HasPrefix(string(q), "name=Room&record=false") {
		t.Errorf("the front-end's own parameters must stay as sent: %s", q)
	}
}

func TestNewSetErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		named []Tenant
		want  string
	}{
		"bad name":     {[]Tenant{{Name: "School A", Secrets: []string{"x"}}}, "DNS label"},
		"twice":        {[]Tenant{{Name: "a", Secrets: []string{"x"}}, {Name: "a", Secrets: []string{"y"}}}, "declared twice"},
		"no secret":    {[]Tenant{{Name: "a"}}, "no secret"},
		"same host":    {[]Tenant{{Name: "a", Secrets: []string{"x"}, Hosts: []string{"h"}}, {Name: "b", Secrets: []string{"y"}, Hosts: []string{"H"}}}, "share the host h"},
		"bad prefix":   {[]Tenant{{Name: "a", Secrets: []string{"x"}, PathPrefix: "a/"}}, "must start with /"},
		"same prefix":  {[]Tenant{{Name: "a", Secrets: []string{"x"}, PathPrefix: "/p"}, {Name: "b", Secrets: []string{"y"}, PathPrefix: "/p"}}, "same path_prefix"},
		"negative":     {[]Tenant{{Name: "a", Secrets: []string{"x"}, MaxMeetings: -1}}, "must not be negative"},
		"empty secret": {[]Tenant{{Name: "a", Secrets: []string{""}}}, "a secret is empty"},
	} {
		if _, err := NewSet(Tenant{Secrets: []string{"pool"}}, tc.named, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
