package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/bbb-balance/bbb_balance/recordings"
)

func TestIndexPage(t *testing.T) { forEachEngine(t, testIndexPage) }

// Every recording, of every state and tenant, once, in id order across
// pages, with its formats' names (none for a deleted one).
func testIndexPage(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	var want []recordings.IndexRow
	for i := range 5 {
		e := entry(fmt.Sprintf("m%d", i), 1715171203311+int64(i), recordings.StatePublished)
		if i%2 == 1 {
			e.State, e.Published, e.Tenant = recordings.StateUnpublished, false, "t1"
			e.Formats = e.Formats[1:] // video only
		}
		save(t, db, e)
		row := recordings.IndexRow{RecordID: e.RecordID, State: e.State, Published: e.Published}
		for _, f := range e.Formats {
			row.Formats = append(row.Formats, f.Type)
		}
		want = append(want, row)
	}
	if err := db.MarkDeleted(ctx, want[4].RecordID, ""); err != nil {
		t.Fatal(err)
	}
	want[4].State, want[4].Published, want[4].Formats = recordings.StateDeleted, false, nil

	var got []recordings.IndexRow
	for after := ""; ; {
		page, err := db.IndexPage(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].RecordID
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pages:\n%+v\nwant\n%+v", got, want)
	}
}
