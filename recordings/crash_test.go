package recordings_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
)

const childEnv = "BBB_RECORDINGS_IMPORT_CHILD" // "<library root>|<db path>"

// TestImportChild is the child process of TestKill9DuringImport: it
// imports the spool and then waits to be killed.
func TestImportChild(t *testing.T) {
	arg := os.Getenv(childEnv)
	if arg == "" {
		t.Skip("child process of TestKill9DuringImport")
	}
	var root, dbPath string
	if _, err := fmt.Sscanf(arg, "%s %s", &root, &dbPath); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lib, err := recordings.NewLibrary(recordings.LibraryConfig{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	im, err := recordings.NewImporter(recordings.ImporterConfig{Library: lib, Store: db, Settle: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	select {} // killed here at the latest
}

// TestKill9DuringImport kills an importing process at a random point and
// checks that every recording is either fully imported or its tar still
// waits, then that a new importer finishes the job.
func TestKill9DuringImport(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	root := t.TempDir()
	dbPath := filepath.Join(t.TempDir(), "x.db")
	lib, err := recordings.NewLibrary(recordings.LibraryConfig{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 40
	ids := make([]string, n)
	{
		db, err := store.Open(ctx, dbPath)
		if err != nil {
			t.Fatal(err)
		}
		r := &importRig{t: t, lib: lib, db: db, obs: &importObserver{}}
		im := r.importer(nil)
		for i := range ids {
			ids[i] = recID(100 + i)
			// A third already exists: the kill may hit a re-import.
			if i%3 == 0 {
				if err := im.ImportTar(ctx, r.spool("first.tar", recordingTar(t, ids[i], true, "presentation"))); err != nil {
					t.Fatal(err)
				}
			}
			r.spool(ids[i]+".tar", recordingTar(t, ids[i], true, "presentation", "video"))
		}
		db.Close()
	}
	waiting := func() map[string]bool {
		w := map[string]bool{}
		ents, _ := os.ReadDir(lib.SpoolDir)
		for _, e := range ents {
			// A tar claimed by an import still waits.
			name, _ := strings.CutSuffix(strings.TrimPrefix(e.Name(), "."), ".importing")
			w[name] = true
		}
		return w
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestImportChild$")
	cmd.Env = append(os.Environ(), childEnv+"="+root+" "+dbPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	killAt := 1 + rand.IntN(n-1) // tars still waiting when the kill is sent
	deadline := time.Now().Add(60 * time.Second)
	for len(waiting()) > killAt {
		select {
		case err := <-exited:
			t.Fatalf("child exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("child imported nothing in time; %d tars wait", len(waiting()))
		}
		time.Sleep(time.Millisecond)
	}
	// Jitter of about one import, so the kill lands anywhere in the next one.
	time.Sleep(time.Duration(rand.IntN(10_000)) * time.Microsecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	t.Logf("killed with %d of %d tars waiting", len(waiting()), n)

	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := &importRig{t: t, lib: lib, db: db, obs: &importObserver{}}
	w := waiting()
	for _, id := range ids {
		if w[id+".tar"] {
			continue // may be anywhere in between: its tar will repair it
		}
		if e := r.consistent(id); formatTypes(e) != "presentation,video" {
			t.Fatalf("%s: tar gone but recording incomplete: %+v", id, e)
		}
	}
	// Restart: what Run does first, then the spool.
	if err := lib.CleanWork(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.importer(nil).ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if e := r.consistent(id); formatTypes(e) != "presentation,video" {
			t.Fatalf("%s after restart: %+v", id, e)
		}
	}
	if w := waiting(); len(w) != 0 {
		t.Fatalf("spool after restart: %v", w)
	}
	workEmpty(t, lib)
}
