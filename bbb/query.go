package bbb

import (
	"net/url"
	"strings"
)

// Query is a query string kept exactly as a client encoded it. BBB hashes
// the bytes on the wire, so parameters are read and edited in place rather
// than decoded and re-encoded: a client's %20, its parameter order and its
// odd but valid escapes all survive the trip to the BBB server.
type Query string

// pairs calls fn for each key=value pair with the key decoded and the value
// raw; fn returns false to stop.
func (q Query) pairs(fn func(key, rawValue string, start, end int) bool) {
	s := string(q)
	start := 0
	for start <= len(s) {
		end := strings.IndexByte(s[start:], '&')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		pair := s[start:end]
		if pair != "" {
			k, v, _ := strings.Cut(pair, "=")
			if dk, err := url.QueryUnescape(k); err == nil {
				k = dk
			}
			if !fn(k, v, start, end) {
				return
			}
		}
		start = end + 1
	}
}

// rawValue returns the still-encoded value of the first key.
func rawValue(rawQuery, key string) (value string, ok bool) {
	Query(rawQuery).pairs(func(k, v string, _, _ int) bool {
		if k == key {
			value, ok = v, true
			return false
		}
		return true
	})
	return value, ok
}

// Get returns the decoded value of the first key, or "".
func (q Query) Get(key string) string {
	v, _ := q.Lookup(key)
	return v
}

// Lookup returns the decoded value of the first key and whether it is there.
// A value that does not decode is returned raw.
func (q Query) Lookup(key string) (string, bool) {
	raw, ok := rawValue(string(q), key)
	if !ok {
		return "", false
	}
	if v, err := url.QueryUnescape(raw); err == nil {
		return v, true
	}
	return raw, true
}

// Without returns the query with every pair of the given keys removed.
func (q Query) Without(keys ...string) Query {
	drop := func(k string) bool {
		for _, key := range keys {
			if k == key {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	q.pairs(func(k, _ string, start, end int) bool {
		if !drop(k) {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(string(q)[start:end])
		}
		return true
	})
	return Query(b.String())
}

// With returns the query with key set to value: every old pair of key is
// removed and one pair, encoded with url.QueryEscape, is appended.
func (q Query) With(key, value string) Query {
	rest := q.Without(key)
	pair := url.QueryEscape(key) + "=" + url.QueryEscape(value)
	if rest == "" {
		return Query(pair)
	}
	return rest + "&" + Query(pair)
}

// Values decodes the query into url.Values (for reading many parameters).
func (q Query) Values() url.Values {
	v, _ := url.ParseQuery(string(q))
	return v
}
