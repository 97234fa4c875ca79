package tenants

import (
	"reflect"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
)

func names(list []Config) []string {
	out := []string{}
	for _, c := range list {
		out = append(out, c.Name)
	}
	return out
}

func TestEffective(t *testing.T) {
	configured := []Config{
		{Name: "c", Secrets: []string{"c"}},
		{Name: "a", Secrets: []string{"a"}, MaxMeetings: 1},
		{Name: "gone", Secrets: []string{"g"}},
	}
	overrides := []Override{
		{Name: "zz", Config: Config{Name: "zz", Secrets: []string{"z"}}}, // added at run time
		{Name: "a", Config: Config{Name: "a", Secrets: []string{"a2"}}},  // a configured one changed
		{Name: "gone", Removed: true},                                    // a configured one removed
		{Name: "b", Config: Config{Name: "b", Secrets: []string{"b"}}},   // added at run time
		{Name: "was-added", Removed: true},                               // no config to undo
		{Name: "y", Config: Config{Name: "y", Secrets: []string{"y"}}},   // added at run time
	}
	list, source, notes := Effective(configured, overrides)
	if got, want := names(list), []string{"c", "a", "b", "y", "zz"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tenants %v, want %v (the config's in its order, then the added by name)", got, want)
	}
	if list[1].Secrets[0] != "a2" || list[1].MaxMeetings != 0 {
		t.Errorf("an override is the tenant's whole config: %+v", list[1])
	}
	if want := map[string]string{"c": FromConfig, "a": FromAdmin, "b": FromAdmin, "y": FromAdmin, "zz": FromAdmin}; !reflect.DeepEqual(source, want) {
		t.Errorf("source %v, want %v", source, want)
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "tenant gone is in the config but was removed through the admin API") {
		t.Errorf("notes %q", notes)
	}

	// Without overrides the config is the list, every tenant from it.
	list, source, notes = Effective(configured, nil)
	if !reflect.DeepEqual(list, configured) || len(notes) != 0 || len(source) != 3 || source["gone"] != FromConfig {
		t.Errorf("no overrides: %v %v %q", names(list), source, notes)
	}
	if list, _, _ := Effective(nil, nil); len(list) != 0 {
		t.Errorf("nothing: %v", names(list))
	}
}

func TestApply(t *testing.T) {
	b := Base{
		Secrets:     []string{"pool"},
		Create:      Params{Defaults: []Param{{Name: "record", Value: "true"}}, Exclude: []string{"logo"}},
		Join:        Params{Overrides: []Param{{Name: "userdata-x", Value: "1"}}},
		MaxDuration: 60,
		Algorithms:  []bbb.Algorithm{bbb.SHA256},
		Configured: []Config{
			{Name: "a", Secrets: []string{"a"}, MaxDuration: 30, Create: &Params{Overrides: []Param{{Name: "record", Value: "false"}}}},
			{Name: "gone", Secrets: []string{"g"}},
		},
	}
	set, notes, err := b.Apply([]Override{{Name: "gone", Removed: true}, {Name: "b", Config: Config{Name: "b", Secrets: []string{"b"}, Tag: "hd"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 {
		t.Errorf("notes %q", notes)
	}
	if d := set.Default; d.Name != "" || d.MaxDuration != 60 || !reflect.DeepEqual(d.Create, b.Create) || !reflect.DeepEqual(d.Join, b.Join) {
		t.Errorf("default tenant %+v", d)
	}
	if _, ok := set.Lookup("gone"); ok {
		t.Error("a removed tenant is in the set")
	}
	a, _ := set.Lookup("a")
	// a's rule for record replaces the pool's; the pool's others stay.
	if want := (Params{Overrides: []Param{{Name: "record", Value: "false"}}, Exclude: []string{"logo"}}); !reflect.DeepEqual(a.Create, want) {
		t.Errorf("a's create rules %+v, want %+v", a.Create, want)
	}
	if !reflect.DeepEqual(a.Join, b.Join) || a.MaxDuration != 30 {
		t.Errorf("a: join %+v, max duration %d", a.Join, a.MaxDuration)
	}
	bt, ok := set.Lookup("b")
	if !ok || bt.Tag != "hd" || bt.MaxDuration != 60 || !reflect.DeepEqual(bt.Create, b.Create) {
		t.Errorf("b (added at run time) %+v, %v", bt, ok)
	}
	// The algorithms reach every verifier.
	if bt.Verifier.Allows(bbb.SHA1) || !bt.Verifier.Allows(bbb.SHA256) || set.Default.Verifier.Allows(bbb.SHA1) {
		t.Error("the algorithms do not reach the verifiers")
	}

	// A list that makes no valid set is an error, whoever added what.
	_, _, err = b.Apply([]Override{{Name: "c", Config: Config{Name: "c", Secrets: []string{"c"}, PathPrefix: "/x"}},
		{Name: "d", Config: Config{Name: "d", Secrets: []string{"d"}, PathPrefix: "/x"}}})
	if err == nil || err.Error() != "tenants c and d have the same path_prefix /x" {
		t.Errorf("two tenants on one prefix: %v", err)
	}
	if _, _, err := b.Apply([]Override{{Name: "Bad", Config: Config{Name: "Bad", Secrets: []string{"x"}}}}); err == nil {
		t.Error("a bad name makes a set")
	}
}
