package bbb

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzQuery checks Query's in-place editing against its promises on any
// query a client can send: Get and Lookup agree, Without removes exactly
// the named keys and keeps every other pair byte for byte, and With leaves
// one pair that decodes to the value set.
func FuzzQuery(f *testing.F) {
	f.Add("name=Test%20Meeting&meetingID=abc+1&checksum=ff&meta_x=%27&meetingID=second", "meetingID", "new id & more")
	f.Add("", "a", "")
	f.Add("&&a&=b&a=&%zz=1&a=%zz", "a", "%")
	f.Add("meeting%49D=x&meetingID=y", "meetingID", "z")
	f.Add("k=v;w&k+k=1&k%20k=2", "k k", "\x00é")
	f.Fuzz(func(t *testing.T, raw, key, value string) {
		q := Query(raw)
		v, ok := q.Lookup(key)
		if got := q.Get(key); got != v || (!ok && v != "") {
			t.Fatalf("Get(%q) = %q, Lookup = %q, %v", key, got, v, ok)
		}

		rest := q.Without(key)
		if _, still := rest.Lookup(key); still {
			t.Fatalf("Without(%q) of %q left the key: %q", key, raw, rest)
		}
		if len(rest) > len(raw) {
			t.Fatalf("Without(%q) of %q grew it: %q", key, raw, rest)
		}
		if want := keptPairs(raw, key); string(rest) != want {
			t.Fatalf("Without(%q) of %q = %q, want %q", key, raw, rest, want)
		}

		set := q.With(key, value)
		if got, ok := set.Lookup(key); !ok || got != value {
			t.Fatalf("With(%q, %q) on %q = %q, reads back %q %v", key, value, raw, set, got, ok)
		}
		if got := set.Without(key); got != rest {
			t.Fatalf("With then Without of %q on %q = %q, want %q", key, raw, got, rest)
		}
		_ = q.Values()
	})
}

// keptPairs is Without done the slow, obvious way: split on &, drop empty
// pairs and those whose decoded key is key.
func keptPairs(raw, key string) string {
	var kept []string
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, _, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if k != key {
			kept = append(kept, pair)
		}
	}
	return strings.Join(kept, "&")
}
