package recordings_test

import (
	"fmt"
	"testing"

	"github.com/bbb-balance/bbb_balance/internal/rectest"
)

// The test recordings are internal/rectest's, under short names.

// recID is the i-th test record id.
func recID(i int) string { return fmt.Sprintf("%040x-%013d", 0x9ed2ddf5+i, 1715171203311+int64(i)) }

// testRecording is the recording id as bbb-api.md §6's example has it.
func testRecording(id string, published bool) rectest.Recording {
	return rectest.Recording{ID: id, Published: published, Meta: [][2]string{
		{"bbb-origin", "greenlight"}, {"bbb-recording-ready-url", "https://app.example.com/recording_ready"}}}
}

// metadataXML is the metadata.xml of one format of recording id.
func metadataXML(id, format string, published bool) string {
	return testRecording(id, published).MetadataXML(format)
}

type tarEntry = rectest.Entry

func tarFile(name, body string) tarEntry { return rectest.File(name, body) }
func tarDir(name string) tarEntry        { return rectest.Dir(name) }

// formatFiles are the entries of one format of a recording.
func formatFiles(id, format string, published bool) []tarEntry {
	return testRecording(id, published).Entries(format)
}

// recordingTar is a recording tar of id with the given formats.
func recordingTar(t testing.TB, id string, published bool, formats ...string) []byte {
	t.Helper()
	return buildTar(t, testRecording(id, published).Entries(formats...))
}

func buildTar(t testing.TB, es []tarEntry) []byte {
	t.Helper()
	b, err := rectest.Tar(es)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte { return rectest.Gzip(b) }
