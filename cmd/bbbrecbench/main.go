// Command bbbrecbench measures the recordings index at scale: it fills a
// database with N generated recordings (once; a later run reuses them),
// then times getRecordings calls through the real API handler over
// loopback HTTP and prints the figures as markdown lines.
//
//	go run ./cmd/bbbrecbench -n 1000000 -db /tmp/bbbrec.sqlite
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/api"
	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/rectest"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
	"github.com/bbb-balance/bbb_balance/tenants"
)

const secret = "bench-secret"

func main() {
	n := flag.Int("n", 1000000, "recordings in the index (0: none, no queries)")
	path := flag.String("db", "/tmp/bbbrec.sqlite", "database file (filled once, reused)")
	queries := flag.Int("queries", 2000, "calls per measured query kind")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the measured calls to this file")
	imports := flag.Int("import", 0, "also time the import of this many recording tars (2 formats each) from a spool")
	big := flag.Int("import-mib", 0, "also time the import of one recording holding a file of this many MiB")
	expire := flag.Int("expire", 0, "instead of the queries, time an expiry run over this many expired recordings (the oldest; on a copy of the index) and getRecordings beside it")
	flag.Parse()
	ctx := context.Background()
	if *imports > 0 {
		measureImport(ctx, *imports)
	}
	if *big > 0 {
		measureBigImport(ctx, *big)
	}
	if *n == 0 {
		return // no index to query
	}

	db, err := store.Open(ctx, *path)
	if err != nil {
		log.Fatal(err)
	}
	have, err := db.Find(ctx, recordings.Query{States: []string{"any"}, Limit: 1}, func(*recordings.Entry) error { return nil })
	if err != nil {
		log.Fatal(err)
	}
	if have < *n {
		start := time.Now()
		batch := make([]recordings.Entry, 0, 1000)
		for i := have; i < *n; i++ {
			batch = append(batch, generate(i))
			if len(batch) == cap(batch) || i == *n-1 {
				if _, err := db.SaveImports(ctx, batch); err != nil {
					log.Fatal(err)
				}
				batch = batch[:0]
			}
			if (i+1)%100000 == 0 {
				log.Printf("%d recordings, %.0f/s", i+1, float64(i+1-have)/time.Since(start).Seconds())
			}
		}
		log.Printf("indexed %d recordings in %s", *n-have, time.Since(start).Round(time.Second))
	}

	if *expire > 0 {
		db.Close()
		measureExpiry(ctx, *path, *n, *expire, *queries)
		return
	}
	if *queries == 0 {
		return
	}
	front := recordingsFront(db, nil)
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	srv := httptest.NewServer(front)
	defer srv.Close()
	client := srv.Client()
	meetings := *n / recordingsPerMeeting

	fmt.Printf("| query (%d recordings, %d sequential calls each) | p50 | p99 | answer |\n|---|---|---|---|\n", *n, *queries)
	measure(client, srv.URL, "getRecordings meetingID=<one meeting> (5 recordings)", *queries, func(r *rand.Rand) string {
		return "meetingID=" + meetingID(r.IntN(meetings))
	})
	measure(client, srv.URL, "getRecordings meta_bbb-context=<one course>&limit=100 (a page of 100)", *queries, func(r *rand.Rand) string {
		return fmt.Sprintf("meta_bbb-context=course-%d&limit=100", r.IntN(courses))
	})
	measure(client, srv.URL, "getRecordings meta_bbb-origin=moodle&meta_bbb-context=<course>&limit=100 (two filters ANDed)", *queries, func(r *rand.Rand) string {
		return fmt.Sprintf("meta_bbb-origin=moodle&meta_bbb-context=course-%d&limit=100", r.IntN(courses))
	})
	measure(client, srv.URL, "getRecordings meta_bbb-context=course-1%25&limit=100 (prefix wildcard)", *queries, func(r *rand.Rand) string {
		return "meta_bbb-context=course-1%25&limit=100"
	})
	measure(client, srv.URL, "getRecordings recordID=<one id>", *queries, func(r *rand.Rand) string {
		return "recordID=" + recordID(r.IntN(*n))
	})
	measure(client, srv.URL, "getRecordings limit=100&offset=<random> (newest first, no filter)", *queries/10, func(r *rand.Rand) string {
		return fmt.Sprintf("limit=100&offset=%d", r.IntN(10000))
	})

	db.Close()
	size := fileSize(*path) + fileSize(*path+"-wal")
	fmt.Printf("\nDatabase: %d recordings in %.0f MiB (%.1f KiB per recording with 2 formats, 3 thumbnails and 4 metadata keys).\n",
		*n, float64(size)/(1<<20), float64(size)/1024/float64(*n))
}

// recordingsFront is the BBB API in front of an index (and its files).
func recordingsFront(db *store.DB, files recordings.Files) *api.Front {
	set, err := tenants.NewSet(tenants.Tenant{Secrets: []string{secret}}, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	var live atomic.Pointer[tenants.Set]
	live.Store(set)
	return &api.Front{
		Tenants:    &live,
		Logger:     zap.NewNop(),
		Recordings: &api.Recordings{Servers: api.Servers{Pool: balancer.NewPool(nil), Logger: zap.NewNop()}, Index: db, Files: files},
	}
}

// measureExpiry times an expiry run over the oldest expired recordings of
// a copy of the index at path (n recordings; the original stays for the
// next runs), with a library holding a format directory for each of them,
// and getRecordings' latencies before and while it runs: one client
// calling one query after another (a meeting's recordings, a course's
// page), as measure does.
func measureExpiry(ctx context.Context, path string, n, expired, calls int) {
	root, lib, _ := importPlace(ctx, "bbbrecbench-expire-")
	defer os.RemoveAll(root)
	cp := filepath.Join(root, "expire.sqlite")
	start := time.Now()
	if out, err := exec.Command("sqlite3", path, ".backup "+cp).CombinedOutput(); err != nil {
		// No sqlite3 command: a plain copy of a closed database will do.
		if err := copyFile(path, cp); err != nil {
			log.Fatalf("copying the index: %v %s", err, out)
		}
	}
	db, err := store.Open(ctx, cp)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for i := range expired {
		e := generate(i)
		d := lib.Dir(e.RecordID, "presentation", e.Published)
		if err := os.MkdirAll(d, 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "metadata.xml"), []byte("<recording/>"), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("copied the index and made %d recordings' files in %s", expired, time.Since(start).Round(time.Second))
	// The clock: the oldest `expired` recordings are older than 365 days.
	now := time.UnixMilli(1700000000000 + int64(expired)*60000).Add(365 * 24 * time.Hour)
	x, err := recordings.NewExpirer(recordings.ExpirerConfig{
		Store: db, Files: lib, MaxPerRun: expired,
		Policy: func() recordings.Policy {
			return recordings.Policy{Pool: recordings.Retention{MaxAge: recordings.Age(365 * 24 * time.Hour), KeepMeta: []string{"bbb-retain=true"}}}
		},
		Now: func() time.Time { return now },
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(recordingsFront(db, lib))
	defer srv.Close()
	meetings := n / recordingsPerMeeting
	query := func(r *rand.Rand) string {
		if r.IntN(2) == 0 {
			return "meetingID=" + meetingID(r.IntN(meetings))
		}
		return fmt.Sprintf("meta_bbb-context=course-%d&limit=100", r.IntN(courses))
	}
	call := func(r *rand.Rand) time.Duration {
		took, _ := getRecordings(srv.Client(), srv.URL, query(r))
		return took
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range calls / 5 {
		call(r) // warm the index's pages
	}
	var quiet []time.Duration
	for range calls {
		quiet = append(quiet, call(r))
	}
	stop, done := make(chan struct{}), make(chan struct{})
	var busy []time.Duration
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			busy = append(busy, call(r))
		}
	}()
	start = time.Now()
	rep, err := x.Expire(ctx, false, 0)
	took := time.Since(start)
	close(stop)
	<-done
	if err != nil || rep.Failed > 0 || len(rep.Recordings) != expired {
		log.Fatalf("expiry: %d expired, %d failed, %v", len(rep.Recordings), rep.Failed, err)
	}
	left, _ := os.ReadDir(filepath.Join(lib.PublishedDir, "presentation"))
	p := func(l []time.Duration, q int) time.Duration {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return l[len(l)*q/100]
	}
	qp99, bp99 := p(quiet, 99), p(busy, 99)
	fmt.Printf("| expiry run: %d of %d recordings expired (files and rows) | %s = %.0f recordings/s (%d format directories left) |\n",
		expired, n, took.Round(time.Millisecond), float64(expired)/took.Seconds(), len(left))
	fmt.Printf("| getRecordings before the run (%d calls) | p50 %s, p99 %s |\n", len(quiet), ms(p(quiet, 50)), ms(qp99))
	fmt.Printf("| getRecordings during the run (%d calls) | p50 %s, p99 %s: **%.2f×** the p99 before (bound 2×) |\n",
		len(busy), ms(p(busy, 50)), ms(bp99), float64(bp99)/float64(qp99))
	fmt.Printf("RESULT expiry_rate %.0f\nRESULT expiry_p99_ratio %.2f\n", float64(expired)/took.Seconds(), float64(bp99)/float64(qp99))
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// measureImport times the importer on n tars waiting in a spool, as after
// a burst of published recordings: extraction, metadata parsing, the
// moves into published/, the fsyncs of what each import wrote and the
// synced commits (batched when they queue up).
func measureImport(ctx context.Context, n int) {
	root, lib, db := importPlace(ctx, "bbbrecbench-import-")
	defer os.RemoveAll(root)
	defer db.Close()
	var bytes int64
	for i := range n {
		r := rectest.Recording{MeetingID: fmt.Sprintf("import-%d", i), Published: true}
		b, err := r.Tar("presentation", "video")
		if err != nil {
			log.Fatal(err)
		}
		bytes += int64(len(b))
		if err := os.WriteFile(filepath.Join(lib.SpoolDir, r.WithDefaults().ID+".tar"), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	im, err := recordings.NewImporter(recordings.ImporterConfig{Library: lib, Store: db, Settle: -1})
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	if _, err := im.ImportSpool(ctx); err != nil {
		log.Fatal(err)
	}
	took := time.Since(start)
	left, _ := os.ReadDir(lib.SpoolDir)
	fmt.Printf("Import: %d tars (2 formats, %d files, %.0f KiB each) in %s = %.0f recordings/s (%d left in the spool).\n\n",
		n, len(rectest.Recording{}.Entries("presentation", "video")), float64(bytes)/float64(n)/1024, took.Round(time.Millisecond),
		float64(n)/took.Seconds(), len(left))
}

// measureBigImport times the import of one recording whose video file has
// mib MiB, read from a tar in the page cache (it was just written): the
// pace at which the importer writes a large recording and makes it
// durable, to compare with the disk's (bench/recordings.sh measures it).
func measureBigImport(ctx context.Context, mib int) {
	root, lib, db := importPlace(ctx, "bbbrecbench-big-")
	defer os.RemoveAll(root)
	defer db.Close()
	r := rectest.Recording{MeetingID: "big", Published: true}
	id := r.WithDefaults().ID
	b, err := rectest.Tar(append(r.Entries("video"), rectest.File("video/"+id+"/video-1.webm", strings.Repeat("v", mib<<20))))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib.SpoolDir, id+".tar"), b, 0o644); err != nil {
		log.Fatal(err)
	}
	im, err := recordings.NewImporter(recordings.ImporterConfig{Library: lib, Store: db, Settle: -1})
	if err != nil {
		log.Fatal(err)
	}
	_ = exec.Command("sync").Run() // the tar's own writeback is not the import's
	start := time.Now()
	if _, err := im.ImportSpool(ctx); err != nil {
		log.Fatal(err)
	}
	took := time.Since(start)
	left, _ := os.ReadDir(lib.SpoolDir)
	size := float64(len(b)) / (1 << 20)
	fmt.Printf("Import of one recording of %.0f MiB in %s = %.0f MiB/s (%d left in the spool).\n\n",
		size, took.Round(time.Millisecond), size/took.Seconds(), len(left))
}

func measure(c *http.Client, base, name string, calls int, query func(*rand.Rand) string) {
	// Untimed first calls bring the index's pages into memory, as a
	// running balancer has them (other queries, from other seeds).
	warm := rand.New(rand.NewPCG(3, 4))
	for range calls / 5 {
		getRecordings(c, base, query(warm))
	}
	r := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, calls)
	var bytes int64
	for range calls {
		took, n := getRecordings(c, base, query(r))
		lat = append(lat, took)
		bytes += n
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("| %s | %s | %s | %.0f KiB |\n", name, ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), float64(bytes)/float64(calls)/1024)
}

// getRecordings calls getRecordings with query q, signed, and returns how
// long the answer took and its size.
func getRecordings(c *http.Client, base, q string) (time.Duration, int64) {
	u := base + "/bigbluebutton/api/getRecordings?" + q + "&checksum=" + bbb.Checksum(bbb.SHA256, "getRecordings", q, secret)
	start := time.Now()
	resp, err := c.Get(u)
	if err != nil {
		log.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), n
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// The generated pool: 5 recordings per meeting, 2,000 courses, two
// front-ends.
const (
	recordingsPerMeeting = 5
	courses              = 2000
)

func meetingID(m int) string { return fmt.Sprintf("meeting-%07d", m) }

func recordID(i int) string {
	return fmt.Sprintf("%040x-%013d", i/recordingsPerMeeting, 1700000000000+int64(i)*60000)
}

func generate(i int) recordings.Entry {
	id := recordID(i)
	m := i / recordingsPerMeeting
	start := 1700000000000 + int64(i)*60000
	origin := "greenlight"
	if m%3 == 0 {
		origin = "moodle"
	}
	state := recordings.StatePublished
	if i%10 == 9 {
		state = recordings.StateUnpublished
	}
	thumbs := make([]recordings.Thumbnail, 3)
	for t := range thumbs {
		p := fmt.Sprintf("/presentation/%s/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-%d.png", id, t+1)
		thumbs[t] = recordings.Thumbnail{Width: "176", Height: "136", Alt: fmt.Sprintf("Slide %d", t+1), URL: "https://bbb1.example.com" + p, Path: p}
	}
	return recordings.Entry{ServerID: "bbb1", Recording: recordings.Recording{
		RecordID: id, MeetingID: meetingID(m), InternalMeetingID: id, Name: fmt.Sprintf("Lecture %d", m),
		Published: state == recordings.StatePublished, State: state, StartTime: start, EndTime: start + 3600000,
		Participants: 1 + i%40, RawSize: 200000000,
		Meta: []recordings.MetaEntry{
			{Key: "isBreakout", Value: "false"}, {Key: "meetingId", Value: meetingID(m)},
			{Key: "bbb-origin", Value: origin}, {Key: "bbb-context", Value: fmt.Sprintf("course-%d", m%courses)},
		},
		Formats: []recordings.Format{
			{Type: "presentation", URL: "https://bbb1.example.com/playback/presentation/2.3/" + id, Path: "/playback/presentation/2.3/" + id,
				ProcessingTime: 60000, DurationMS: 3600000, Length: 60, Size: 48000000, Thumbnails: thumbs},
			{Type: "video", URL: "https://bbb1.example.com/playback/video/" + id + "/", Path: "/playback/video/" + id + "/",
				ProcessingTime: 400000, DurationMS: 3600000, Length: 60, Size: 125000000},
		},
	}}
}

// importPlace makes a fresh library and index in a temporary directory
// (root; the caller removes it and closes db) for an import measurement.
func importPlace(ctx context.Context, prefix string) (root string, lib *recordings.Library, db *store.DB) {
	root, err := os.MkdirTemp("", prefix)
	if err != nil {
		log.Fatal(err)
	}
	if lib, err = recordings.NewLibrary(recordings.LibraryConfig{Root: root}); err != nil {
		log.Fatal(err)
	}
	if db, err = store.Open(ctx, filepath.Join(root, "import.sqlite")); err != nil {
		log.Fatal(err)
	}
	return root, lib, db
}
