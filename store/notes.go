package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/cluster"
)

// The registry's changes reach the other instances sharing a PostgreSQL
// database as notifications on bbb_meetings. They are sent in batches, by
// one goroutine, outside the transactions that made them: PostgreSQL
// serialises the commits of transactions that NOTIFY (a global lock held
// through the commit's WAL flush), which, one NOTIFY per create, capped
// creates at the disk's flush rate. A batch is one small transaction of its
// own that writes nothing, whatever the number of changes in it.
//
// A change is sent after its own commit, so another instance that hears of
// it finds it in the database. Batches of two instances may arrive in
// another order than their commits; and an instance that dies between a
// commit and its batch never sends it. The listeners' periodic resync
// (cluster.ResyncEvery) bounds how long either leaves an instance's memory
// behind the database.

// noteBatch is the payload of one notification: the changes, and the
// instance that made them.
type noteBatch struct {
	By    string         `json:"by"`
	Notes []cluster.Note `json:"notes"`
}

// maxNotePayload keeps a batch under PostgreSQL's 8000-byte payload limit
// (the batch's own fields take the rest).
const maxNotePayload = 7000

// noteSize is a note's share of a batch's payload: as encoded, with the
// escapes its meeting id may need, and its comma.
func noteSize(n cluster.Note) int {
	raw, _ := json.Marshal(n)
	return len(raw) + 1
}

// noteMeeting queues a registry change for the other instances; on SQLite
// (one instance) it does nothing.
func (s *DB) noteMeeting(op string, m balancer.MeetingRecord) {
	if s.notes == nil {
		return
	}
	n := cluster.Note{Meetings: true, Op: op, Key: m.Key, MeetingID: m.MeetingID, Server: m.ServerID,
		Created: m.Created.UnixMilli(), Bridge: m.VoiceBridge}
	select {
	case s.notes <- n:
	case <-s.stop:
	}
}

// notifier sends the queued changes, as many as fit one payload at a time.
func (s *DB) notifier() {
	defer close(s.notesDone)
	batch := noteBatch{By: appNamePrefix + s.instance}
	var next *cluster.Note // taken, but too big for the batch before
	for {
		var n cluster.Note
		if next != nil {
			n, next = *next, nil
		} else {
			select {
			case n = <-s.notes:
			case <-s.stop:
				return
			}
		}
		batch.Notes = append(batch.Notes[:0], n)
		size := noteSize(n)
	more:
		for {
			select {
			case n := <-s.notes:
				if sz := noteSize(n); size+sz > maxNotePayload {
					next = &n
					break more
				} else {
					batch.Notes = append(batch.Notes, n)
					size += sz
				}
			default:
				break more
			}
		}
		raw, err := json.Marshal(batch)
		if err != nil {
			continue
		}
		// Sent at most twice: a lost batch costs a resync's delay, not
		// correctness; a notifier stuck on an unreachable database would
		// hold up the creates behind a full queue.
		for try := 0; try < 2; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = s.db.ExecContext(ctx, "SELECT pg_notify('bbb_meetings', ?)", string(raw))
			cancel()
			if err == nil {
				break
			}
		}
	}
}
