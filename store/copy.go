package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Copying a SQLite database into PostgreSQL (caddy bbb migrate), to move
// a single instance onto a shared database.
//
// The destination's tables become equal to the source's, rows the source
// no longer has included: the copy is meant to be run once while the
// balancer runs (the bulk, the recordings index) and again after it
// stopped, and that second run must carry the deletions too (a callback
// delivered meanwhile would otherwise go out twice, an ended meeting stay
// placed). Each table is read in key order on both sides and merged, so
// only the rows that differ are written: the second run is mostly reads.

// copyTables are the tables Copy copies, each after those its rows refer
// to, with their primary keys. The PostgreSQL-only tables (instances,
// leases, server_polls, schema_version) belong to the instances sharing
// the destination and are left alone.
var copyTables = []struct {
	name string
	key  []string
}{
	{"meetings", []string{"key"}},
	{"server_overrides", []string{"id"}},
	{"tenant_overrides", []string{"name"}},
	{"recordings", []string{"record_id"}},
	{"recording_formats", []string{"record_id", "format"}},
	{"recording_thumbnails", []string{"record_id", "format", "sequence"}},
	{"recording_meta", []string{"record_id", "key"}},
	{"recording_meta_edits", []string{"record_id", "key"}},
	{"recording_callbacks", []string{"meeting_id"}},
	{"meeting_callbacks", []string{"key"}},
	{"deliveries", []string{"id"}},
	{"upload_nonces", []string{"nonce"}},
	{"signing_keys", []string{"name"}},
}

// copyBatch is the most rows one statement writes or deletes: few round
// trips, well under PostgreSQL's 65535 parameters.
const copyBatch = 500

// instanceLive is how recently an instance must have been seen to count
// as running (they beat every half poll interval).
const instanceLive = 2 * time.Minute

// TableCount is what Copy did to one table.
type TableCount struct {
	Table   string
	Source  int64 // rows in the source
	Dest    int64 // rows in the destination after the copy, each equal to its source row
	Written int64 // rows the destination lacked or held otherwise, written
	Removed int64 // rows only the destination had, removed
}

// CopyReport is what Copy did, table by table, in the order copied.
type CopyReport struct {
	Tables []TableCount
}

// Copy makes the copied tables of to, a PostgreSQL database, equal to
// those of from, a SQLite one, and checks that they are: every row of one
// snapshot of the source is in the destination, equal, and no other.
// Everything happens in one transaction on the destination, so a failed or
// interrupted copy changes nothing there; running it again is safe and
// writes only what changed. The source is only read, and may be in use.
// The destination must not be: Copy refuses while a balancer instance
// uses it (and locks the tables against one starting meanwhile). A text
// that PostgreSQL cannot hold (a NUL byte, invalid UTF-8) fails the copy
// with the table and key of its row. The report is empty on an error,
// except on a failed check, where it has the counts found.
func Copy(ctx context.Context, from, to *DB) (CopyReport, error) {
	var rep CopyReport
	if from.engine != SQLite {
		return rep, fmt.Errorf("store: the source of a copy must be a SQLite database, not %s", from.engine)
	}
	if to.engine != Postgres {
		return rep, fmt.Errorf("store: the destination of a copy must be a PostgreSQL database, not %s", to.engine)
	}
	if err := checkUnused(ctx, to); err != nil {
		return rep, err
	}
	src, err := from.db.Conn(ctx)
	if err != nil {
		return rep, err
	}
	defer src.Close()
	// One read transaction is one snapshot of every table, so each child
	// row comes with its parent. A plain BEGIN is deferred: BeginTx would
	// take the write lock (_txlock=immediate) and stop the balancer's
	// writes for the whole copy.
	if _, err := src.ExecContext(ctx, "BEGIN"); err != nil {
		return rep, err
	}
	defer func() {
		if _, err := src.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			src.Raw(func(any) error { return driver.ErrBadConn }) // not back to the pool inside a transaction
		}
	}()
	tables, err := copySchema(ctx, src, to.db)
	if err != nil {
		return rep, err
	}

	tx, err := to.db.BeginTx(ctx, nil)
	if err != nil {
		return rep, err
	}
	defer tx.Rollback()
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = quoteIdent(t.name)
	}
	// An instance starting meanwhile waits for the commit instead of
	// writing between the merge's reads and its writes. Reads go on: the
	// merge reads the destination on another connection.
	if _, err := tx.ExecContext(ctx, "LOCK TABLE "+strings.Join(names, ", ")+" IN EXCLUSIVE MODE"); err != nil {
		return rep, err
	}
	for _, t := range tables {
		tc, err := t.copy(ctx, src, to.db, tx)
		if err != nil {
			return CopyReport{}, fmt.Errorf("copying %s: %w", t.name, err)
		}
		rep.Tables = append(rep.Tables, tc)
	}
	// Deliveries keep their ids (a delivery in flight is deleted by its
	// id), so the identity's sequence must continue after them.
	if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('deliveries', 'id'), max(id))
		FROM deliveries HAVING max(id) IS NOT NULL`); err != nil {
		return CopyReport{}, fmt.Errorf("moving the deliveries' id sequence: %w", err)
	}
	// Checked inside the transaction, against the same snapshot: a copy
	// that does not hold up is never committed.
	var problems []string
	for i, t := range tables {
		n, problem, err := t.verify(ctx, src, tx, rep.Tables[i])
		if err != nil {
			return CopyReport{}, fmt.Errorf("checking %s: %w", t.name, err)
		}
		rep.Tables[i].Dest = n
		if problem != "" {
			problems = append(problems, problem)
		}
	}
	if len(problems) > 0 {
		return rep, fmt.Errorf("the copy does not match the source, so it was not committed: %s", strings.Join(problems, "; "))
	}
	if err := tx.Commit(); err != nil {
		return CopyReport{}, err
	}
	to.counts.reset()
	return rep, nil
}

// checkUnused refuses a destination that running instances use: the copy
// replaces what they keep there.
func checkUnused(ctx context.Context, to *DB) error {
	ins, err := to.Instances(ctx)
	if err != nil {
		return err
	}
	var live []string
	for _, in := range ins {
		if in.SeenAgo < instanceLive {
			live = append(live, fmt.Sprintf("%s (seen %s ago)", in.ID, in.SeenAgo.Round(time.Second)))
		}
	}
	if len(live) > 0 {
		return fmt.Errorf("store: balancer instances use the destination: %s; stop them first, the copy replaces what they keep there",
			strings.Join(live, ", "))
	}
	return nil
}

type cellKind byte

const (
	intCell cellKind = iota
	textCell
	blobCell
)

type copyColumn struct {
	name string
	kind cellKind
}

// copyTable is one table as Copy reads it: its key's columns first.
type copyTable struct {
	name string
	cols []copyColumn
	nkey int
}

// copySchema reads the copied tables' columns from the source, so a
// column a later migration adds is copied without more ado, and checks
// that the source has no table Copy does not know and that the
// destination's columns are the source's.
func copySchema(ctx context.Context, src *sql.Conn, dst *sql.DB) ([]*copyTable, error) {
	known := map[string]bool{}
	for _, ct := range copyTables {
		known[ct.name] = true
	}
	rows, err := src.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("store: the source has table(s) %s, which this build does not know how to copy", strings.Join(unknown, ", "))
	}

	var out []*copyTable
	for _, ct := range copyTables {
		t := &copyTable{name: ct.name, nkey: len(ct.key)}
		var rest []copyColumn
		pk := map[int]string{}
		rows, err := src.QueryContext(ctx, `SELECT name, upper(type), pk FROM pragma_table_info(?)`, ct.name)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var c copyColumn
			var typ string
			var pos int
			if err := rows.Scan(&c.name, &typ, &pos); err != nil {
				rows.Close()
				return nil, err
			}
			switch typ {
			case "INTEGER":
				c.kind = intCell
			case "TEXT":
				c.kind = textCell
			case "BLOB":
				c.kind = blobCell
			default:
				rows.Close()
				return nil, fmt.Errorf("store: %s.%s has type %q, which Copy does not know", ct.name, c.name, typ)
			}
			if pos > 0 {
				pk[pos] = c.name
			}
			rest = append(rest, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(rest) == 0 {
			return nil, fmt.Errorf("store: the source has no table %s", ct.name)
		}
		for i, k := range ct.key {
			if pk[i+1] != k || len(pk) != len(ct.key) {
				return nil, fmt.Errorf("store: the primary key of %s in the source is not (%s)", ct.name, strings.Join(ct.key, ", "))
			}
			j := slices.IndexFunc(rest, func(c copyColumn) bool { return c.name == k })
			t.cols = append(t.cols, rest[j])
			rest = slices.Delete(rest, j, j+1)
		}
		t.cols = append(t.cols, rest...)
		if err := t.checkDest(ctx, dst); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// checkDest checks that the destination's table has the same columns,
// of types that hold the source's values.
func (t *copyTable) checkDest(ctx context.Context, dst *sql.DB) error {
	holds := map[cellKind][]string{intCell: {"integer", "bigint"}, textCell: {"text"}, blobCell: {"bytea"}}
	rows, err := dst.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ?`, t.name)
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return err
		}
		i := slices.IndexFunc(t.cols, func(c copyColumn) bool { return c.name == name })
		if i < 0 {
			return fmt.Errorf("store: the destination's %s has a column %s, which the source's has not", t.name, name)
		}
		if !slices.Contains(holds[t.cols[i].kind], typ) {
			return fmt.Errorf("store: the destination's %s.%s is %s, which cannot hold the source's values", t.name, name, typ)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if seen != len(t.cols) {
		return fmt.Errorf("store: the destination's %s has %d of the source's %d columns", t.name, seen, len(t.cols))
	}
	return nil
}

// cell is one value of a row. SQLite's values are typed per value, not per
// column; each is read as its column's declared type, which is what
// PostgreSQL's column holds.
type cell struct {
	null bool
	i    int64
	s    string
	b    []byte
}

func toCell(k cellKind, v any) (cell, error) {
	switch v := v.(type) {
	case nil:
		return cell{null: true}, nil
	case int64:
		if k == intCell {
			return cell{i: v}, nil
		}
	case int32:
		if k == intCell {
			return cell{i: int64(v)}, nil
		}
	case string:
		switch k {
		case textCell:
			return cell{s: v}, nil
		case blobCell:
			return cell{b: []byte(v)}, nil
		}
	case []byte:
		switch k {
		case textCell:
			return cell{s: string(v)}, nil
		case blobCell:
			return cell{b: v}, nil
		}
	}
	return cell{}, fmt.Errorf("a value of type %T", v)
}

func (c cell) value(k cellKind) any {
	switch {
	case c.null:
		return nil
	case k == intCell:
		return c.i
	case k == textCell:
		return c.s
	case c.b == nil:
		return []byte{} // an empty blob, not NULL
	default:
		return c.b
	}
}

func compareCells(k cellKind, a, b cell) int {
	switch {
	case a.null || b.null:
		if a.null == b.null {
			return 0
		}
		if a.null {
			return -1
		}
		return 1
	case k == intCell:
		return cmp.Compare(a.i, b.i)
	case k == textCell:
		return strings.Compare(a.s, b.s)
	default:
		return bytes.Compare(a.b, b.b)
	}
}

// compareKeys orders rows by key as both engines sort them: text by its
// bytes (SQLite's BINARY, PostgreSQL's "C"), numbers by value.
func (t *copyTable) compareKeys(a, b []cell) int {
	for i := range t.nkey {
		if c := compareCells(t.cols[i].kind, a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func (t *copyTable) equal(a, b []cell) bool {
	for i, c := range t.cols {
		if compareCells(c.kind, a[i], b[i]) != 0 {
			return false
		}
	}
	return true
}

// key names a row in errors.
func (t *copyTable) key(row []cell) string {
	parts := make([]string, t.nkey)
	for i := range parts {
		if t.cols[i].kind == intCell {
			parts[i] = fmt.Sprintf("%s=%d", t.cols[i].name, row[i].i)
		} else {
			parts[i] = fmt.Sprintf("%s=%q", t.cols[i].name, row[i].s)
		}
	}
	return t.name + " (" + strings.Join(parts, ", ") + ")"
}

// check refuses a text PostgreSQL would refuse or change, naming its row:
// rather a failed copy than a row lost or altered.
func (t *copyTable) check(row []cell) error {
	for i, c := range t.cols {
		if c.kind != textCell || row[i].null {
			continue
		}
		switch s := row[i].s; {
		case strings.IndexByte(s, 0) >= 0:
			return fmt.Errorf("%s: %s holds a NUL byte, which PostgreSQL's text cannot hold", t.key(row), c.name)
		case !utf8.ValidString(s):
			return fmt.Errorf("%s: %s is not valid UTF-8, which PostgreSQL's text must be", t.key(row), c.name)
		}
	}
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// rowReader reads a table in key order.
type rowReader struct {
	t     *copyTable
	rows  *sql.Rows
	vals  []any
	ptrs  []any
	row   []cell
	n     int64 // rows read
	err   error
	where string
}

func (t *copyTable) read(ctx context.Context, q queryer, engine Engine) (*rowReader, error) {
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = quoteIdent(c.name)
	}
	order := make([]string, t.nkey)
	for i := range order {
		order[i] = cols[i]
		if engine == Postgres && t.cols[i].kind == textCell {
			order[i] += ` COLLATE "C"` // as the schema has it; said again so the merge never depends on it
		}
	}
	rows, err := q.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+quoteIdent(t.name)+" ORDER BY "+strings.Join(order, ", "))
	if err != nil {
		return nil, err
	}
	r := &rowReader{t: t, rows: rows, vals: make([]any, len(cols)), ptrs: make([]any, len(cols)), where: string(engine)}
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	return r, nil
}

// next reads the next row into r.row (a new slice each time); false at
// the end or on an error, in r.err. Keys out of order are an error: the
// merges rely on both sides agreeing on it.
func (r *rowReader) next() bool {
	if r.rows == nil {
		return false
	}
	if !r.rows.Next() {
		r.close()
		return false
	}
	if r.err = r.rows.Scan(r.ptrs...); r.err != nil {
		r.close()
		return false
	}
	row := make([]cell, len(r.vals))
	for i, v := range r.vals {
		c, err := toCell(r.t.cols[i].kind, v)
		if err != nil {
			r.err = fmt.Errorf("%s in %s: %s is %v, not %s", r.t.key(row), r.where, r.t.cols[i].name, err, kindName(r.t.cols[i].kind))
			r.close()
			return false
		}
		row[i] = c
	}
	if r.n > 0 && r.t.compareKeys(r.row, row) >= 0 {
		r.err = fmt.Errorf("%s: the rows of %s do not come in key order after %s", r.where, r.t.name, r.t.key(r.row))
		r.close()
		return false
	}
	r.row = row
	r.n++
	return true
}

func (r *rowReader) close() {
	if r.rows == nil {
		return
	}
	if err := r.rows.Close(); r.err == nil {
		r.err = err
	}
	if err := r.rows.Err(); r.err == nil {
		r.err = err
	}
	r.rows = nil
}

func kindName(k cellKind) string {
	return [...]string{intCell: "an integer", textCell: "a text", blobCell: "a blob"}[k]
}

// merge walks the source and the destination side by side, in key order,
// calling fn with each key's source row and destination row (nil where
// that side has none).
func merge(s, d *rowReader, fn func(src, dst []cell) error) error {
	sok, dok := s.next(), d.next()
	for (sok || dok) && s.err == nil && d.err == nil {
		c := -1
		switch {
		case !sok:
			c = 1
		case dok:
			c = s.t.compareKeys(s.row, d.row)
		}
		var err error
		switch {
		case c < 0:
			err = fn(s.row, nil)
			sok = s.next()
		case c > 0:
			err = fn(nil, d.row)
			dok = d.next()
		default:
			err = fn(s.row, d.row)
			sok, dok = s.next(), d.next()
		}
		if err != nil {
			return err
		}
	}
	if s.err != nil {
		return s.err
	}
	return d.err
}

// copy writes into tx the rows of the source's snapshot that the
// destination (as committed, read on another connection) lacks or holds
// otherwise, and deletes those it has that the source has not.
func (t *copyTable) copy(ctx context.Context, src *sql.Conn, dst *sql.DB, tx *sql.Tx) (TableCount, error) {
	tc := TableCount{Table: t.name}
	s, err := t.read(ctx, src, SQLite)
	if err != nil {
		return tc, err
	}
	defer s.close()
	d, err := t.read(ctx, dst, Postgres)
	if err != nil {
		return tc, err
	}
	defer d.close()
	batch := max(1, min(copyBatch, 60000/len(t.cols)))
	var upserts, deletes [][]cell
	flush := func(all bool) error {
		if len(upserts) > 0 && (all || len(upserts) >= batch) {
			if _, err := tx.ExecContext(ctx, t.upsertSQL(len(upserts)), t.args(upserts, len(t.cols))...); err != nil {
				return fmt.Errorf("writing rows from %s on: %w", t.key(upserts[0]), err)
			}
			tc.Written += int64(len(upserts))
			upserts = upserts[:0]
		}
		if len(deletes) > 0 && (all || len(deletes) >= batch) {
			// A parent deleted earlier took its children with it (ON
			// DELETE CASCADE); they count as removed all the same.
			if _, err := tx.ExecContext(ctx, t.deleteSQL(len(deletes)), t.args(deletes, t.nkey)...); err != nil {
				return fmt.Errorf("deleting rows from %s on: %w", t.key(deletes[0]), err)
			}
			deletes = deletes[:0]
		}
		return nil
	}
	err = merge(s, d, func(srow, drow []cell) error {
		switch {
		case srow == nil:
			deletes = append(deletes, drow)
			tc.Removed++
		case drow == nil || !t.equal(srow, drow):
			if err := t.check(srow); err != nil {
				return err
			}
			upserts = append(upserts, srow)
		}
		return flush(false)
	})
	if err == nil {
		err = flush(true)
	}
	tc.Source = s.n
	return tc, err
}

// verify compares, inside tx, the destination's table with the source's
// snapshot, row by row. It returns the destination's count and, if they
// differ, what differs.
//
// A table the copy neither wrote nor removed rows of is only counted: the
// merge has just found each of its rows equal to the source's, and the
// lock kept anyone else from changing it since. That halves the reads of
// a copy run again after a first one, the one the balancer is stopped
// for.
func (t *copyTable) verify(ctx context.Context, src *sql.Conn, tx *sql.Tx, did TableCount) (int64, string, error) {
	if did.Written == 0 && did.Removed == 0 {
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(t.name)).Scan(&n); err != nil {
			return 0, "", err
		}
		if n != did.Source {
			return n, fmt.Sprintf("%s: %d row(s), %d in the source", t.name, n, did.Source), nil
		}
		return n, "", nil
	}
	s, err := t.read(ctx, src, SQLite)
	if err != nil {
		return 0, "", err
	}
	defer s.close()
	d, err := t.read(ctx, tx, Postgres)
	if err != nil {
		return 0, "", err
	}
	defer d.close()
	var missing, extra, differ int
	var first string
	err = merge(s, d, func(srow, drow []cell) error {
		var what string
		switch {
		case drow == nil:
			missing++
			what = "missing: " + t.key(srow)
		case srow == nil:
			extra++
			what = "not in the source: " + t.key(drow)
		case !t.equal(srow, drow):
			differ++
			what = "differs: " + t.key(srow)
		default:
			return nil
		}
		if first == "" {
			first = what
		}
		return nil
	})
	if err != nil || first == "" {
		return d.n, "", err
	}
	return d.n, fmt.Sprintf("%s: %d row(s) missing, %d not in the source, %d differ (first %s)", t.name, missing, extra, differ, first), nil
}

func (t *copyTable) upsertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + quoteIdent(t.name) + " (")
	for i, c := range t.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.name))
	}
	b.WriteString(") VALUES ")
	row := "(" + placeholders(len(t.cols)) + ")"
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT (")
	for i := range t.nkey {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(t.cols[i].name))
	}
	if len(t.cols) == t.nkey {
		b.WriteString(") DO NOTHING")
		return b.String()
	}
	b.WriteString(") DO UPDATE SET ")
	for i, c := range t.cols[t.nkey:] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.name) + " = excluded." + quoteIdent(c.name))
	}
	return b.String()
}

func (t *copyTable) deleteSQL(n int) string {
	keys := make([]string, t.nkey)
	for i := range keys {
		keys[i] = quoteIdent(t.cols[i].name)
	}
	tuple := "(" + placeholders(t.nkey) + ")"
	tuples := strings.TrimSuffix(strings.Repeat(tuple+", ", n), ", ")
	return "DELETE FROM " + quoteIdent(t.name) + " WHERE (" + strings.Join(keys, ", ") + ") IN (" + tuples + ")"
}

// args are the first n values of each row, as the statements take them.
func (t *copyTable) args(rows [][]cell, n int) []any {
	out := make([]any, 0, len(rows)*n)
	for _, row := range rows {
		for i := range n {
			out = append(out, row[i].value(t.cols[i].kind))
		}
	}
	return out
}

func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
