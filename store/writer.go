package store

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
)

// Small writes (one meeting placed, one ended) go through one writer
// goroutine that commits whatever has queued up in a single transaction:
// a burst of creates costs one commit instead of one each, and SQLite never
// has two writers waiting on its lock. Each caller still returns only once
// its own write is committed.

const maxBatch = 256

type writeOp struct {
	query string
	args  []any
	done  chan error
}

var errClosed = errors.New("store: database closed")

// write queues one statement and waits until it is committed.
func (s *DB) write(ctx context.Context, query string, args ...any) error {
	if s.engine == Postgres {
		return s.writeNow(ctx, query, args)
	}
	op := writeOp{query: query, args: args, done: make(chan error, 1)}
	select {
	case s.writes <- op:
	case <-s.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the write happens; wait for it even if ctx ends, so the
	// caller never believes a committed write failed. The writer drains the
	// queue before it stops, so an op it has not answered by then was queued
	// too late.
	select {
	case err := <-op.done:
		return err
	case <-s.done:
		select {
		case err := <-op.done:
			return err
		default:
			return errClosed
		}
	}
}

func (s *DB) writer() {
	defer close(s.done)
	batch := make([]writeOp, 0, maxBatch)
	for {
		select {
		case op := <-s.writes:
			batch = append(batch[:0], op)
		case <-s.stop:
			// Drain what was queued before Close.
			for {
				select {
				case op := <-s.writes:
					s.commit([]writeOp{op})
				default:
					return
				}
			}
		}
		// Let the creates already under way reach the queue: one commit for
		// many is what keeps SQLite off the create path's budget.
		runtime.Gosched()
	more:
		for len(batch) < maxBatch {
			select {
			case op := <-s.writes:
				batch = append(batch, op)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

// commit runs a batch in one transaction. A statement that fails fails
// alone (SQLite rolls back just that statement); if the commit fails, every
// write of the batch reports it.
func (s *DB) commit(batch []writeOp) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	tx, err := s.db.BeginTx(ctx, nil)
	if err == nil {
		for i, op := range batch {
			if st := s.prepared(ctx, op.query); st != nil {
				_, errs[i] = tx.StmtContext(ctx, st).ExecContext(ctx, op.args...)
			} else {
				_, errs[i] = tx.ExecContext(ctx, op.query, op.args...)
			}
		}
		err = tx.Commit()
	}
	for i, op := range batch {
		if err != nil {
			op.done <- err
		} else {
			op.done <- errs[i]
		}
	}
}

// prepared returns query prepared once for the writer, or nil for a query
// of several statements (SQLite prepares only the first of them) or one
// that does not prepare. The create path writes the same few statements
// thousands of times a second; compiling each anew was a tenth of the
// writer's time. Only the writer goroutine calls it.
func (s *DB) prepared(ctx context.Context, query string) *sql.Stmt {
	if st, ok := s.stmts[query]; ok {
		return st
	}
	var st *sql.Stmt
	if !strings.Contains(strings.TrimRight(strings.TrimSpace(query), ";"), ";") {
		st, _ = s.db.PrepareContext(ctx, query)
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st // nil too: not tried again
	return st
}

// writeNow runs a write of one or more statements in one transaction, at
// once: PostgreSQL commits concurrent transactions together by itself, and
// a failed statement there would abort every other write of a shared batch.
func (s *DB) writeNow(ctx context.Context, query string, args []any) error {
	select {
	case <-s.stop:
		return errClosed
	default:
	}
	qs, as := splitStatements(query, args)
	if len(qs) == 1 {
		_, err := s.db.ExecContext(ctx, qs[0], as[0]...)
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i, q := range qs {
		if _, err := tx.ExecContext(ctx, q, as[i]...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
