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
	if a.MeetingID("room") != "a~room" || s.Default.MeetingID("room") != "room" {
		t.Fatal("server-side ids")
	}
	if owner, id := s.Owner("a~room"); owner != a || id != "room" {
		t.Fatalf("owner of a~room: %q %q", owner.Name, id)
	}
	if owner, id := s.Owner("zz~room"); owner != s.Default || id != "zz~room" {
		t.Fatalf("owner of zz~room: %q %q", owner.Name, id)
	}
	if !s.Reserved(s.Default, "a~room") || s.Reserved(s.Default, "room") || s.Reserved(a, "a~room") {
		t.Fatal("reserved ids")
	}
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
