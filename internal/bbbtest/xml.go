package bbbtest

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Responses are rendered by hand, one element per line like bbb-web's
// compressed FreeMarker output, with no XML declaration.

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type xmlWriter struct{ b *bytes.Buffer }

func (x xmlWriter) open(name string) {
	x.b.WriteByte('<')
	x.b.WriteString(name)
	x.b.WriteString(">\n")
}

func (x xmlWriter) close(name string) {
	x.b.WriteString("</")
	x.b.WriteString(name)
	x.b.WriteString(">\n")
}

func (x xmlWriter) text(name, v string) {
	x.b.WriteByte('<')
	x.b.WriteString(name)
	x.b.WriteByte('>')
	escapeInto(x.b, v)
	x.b.WriteString("</")
	x.b.WriteString(name)
	x.b.WriteString(">\n")
}

func (x xmlWriter) boolean(name string, v bool) {
	if v {
		x.text(name, "true")
	} else {
		x.text(name, "false")
	}
}

func (x xmlWriter) integer(name string, v int64) {
	x.text(name, strconv.FormatInt(v, 10))
}

func (x xmlWriter) raw(s string) { x.b.WriteString(s) }

// escapeInto writes s XML-escaped (like FreeMarker's XML auto-escaping);
// characters that are not allowed in XML are replaced by U+FFFD so the
// output always parses.
func escapeInto(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		width := 1
		esc := ""
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		default:
			if c < utf8.RuneSelf {
				if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
					esc = "\uFFFD"
				}
			} else {
				r, w := utf8.DecodeRuneInString(s[i:])
				width = w
				if (r == utf8.RuneError && w == 1) || !isXMLChar(r) {
					esc = "\uFFFD"
				}
			}
		}
		if esc != "" {
			b.WriteString(s[last:i])
			b.WriteString(esc)
			last = i + width
		}
		i += width
	}
	b.WriteString(s[last:])
}

func isXMLChar(r rune) bool {
	return r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF ||
		r == '\t' || r == '\n' || r == '\r'
}

// isXMLName reports whether s is safe to use as an element name (used for
// metadata and customdata keys, which bbb-web renders as element names).
func isXMLName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// writeXML writes an XML API response with BBB's headers.
func writeXML(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml;charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// reply renders <response>…</response> with build and writes it.
func reply(w http.ResponseWriter, build func(x xmlWriter)) {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	b.WriteString("<response>\n")
	build(xmlWriter{b})
	b.WriteString("</response>")
	writeXML(w, b.Bytes())
	if b.Cap() <= 64<<10 {
		bufPool.Put(b)
	}
}

// replyFailed writes FAILED with a messageKey and message.
func replyFailed(w http.ResponseWriter, key, msg string) {
	reply(w, func(x xmlWriter) {
		x.text("returncode", "FAILED")
		x.text("messageKey", key)
		x.text("message", msg)
	})
}

// replyErrors writes the rare errors-list shape (no top-level messageKey).
func replyErrors(w http.ResponseWriter, key, msg string) {
	reply(w, func(x xmlWriter) {
		x.text("returncode", "FAILED")
		x.open("errors")
		x.raw("<error><key>")
		escapeInto(x.b, key)
		x.raw("</key><message>")
		escapeInto(x.b, msg)
		x.raw("</message></error>\n")
		x.close("errors")
	})
}
