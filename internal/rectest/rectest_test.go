package rectest

import (
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// The generated metadata must read back as what it describes.
func TestMetadataParses(t *testing.T) {
	r := Recording{MeetingID: "room & co", Name: "Gamma <Friends>", Host: "bbb2.example.com", Published: true,
		Meta: [][2]string{{"course", "math"}}}.WithDefaults()
	for _, f := range []string{"presentation", "video", "notes"} {
		m, err := recordings.ParseMetadata(strings.NewReader(r.MetadataXML(f)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if m.RecordID != r.ID || m.MeetingID != r.MeetingID || m.Name != r.Name || !m.Published || m.Format.Type != f {
			t.Fatalf("%s: parsed %+v", f, m)
		}
		if v, _ := m.MetaValue("course"); v != "math" {
			t.Fatalf("%s: meta course = %q", f, v)
		}
		if !strings.Contains(m.Format.URL, "bbb2.example.com") {
			t.Fatalf("%s: link %q is not on the given host", f, m.Format.URL)
		}
	}
	if r.ID != RecordID("room & co", 1715171203311) || !recordings.ValidRecordID(r.ID) {
		t.Fatalf("record id %q", r.ID)
	}
}
