package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Cluster is a PostgreSQL cluster of one test's own, which the test may
// stop and start (the shared cluster of BBB_TEST_POSTGRES serves every
// package's tests at once and must stay up). It uses the binaries and the
// unprivileged user that scripts/postgres.sh found (BBB_PG_BIN, BBB_PG_AS).
type Cluster struct {
	t    testing.TB
	bin  string
	as   []string
	dir  string
	port int
}

// NewCluster initdb's and starts a cluster, removed when t ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	Require(t)
	bin := os.Getenv("BBB_PG_BIN")
	if bin == "" {
		if os.Getenv("BBB_REQUIRE_POSTGRES") == "1" {
			t.Fatal("BBB_PG_BIN is not set: run the tests with scripts/test.sh")
		}
		t.Skip("BBB_PG_BIN is not set (scripts/postgres.sh sets it)")
	}
	dir, err := os.MkdirTemp("", "bbb-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, as: strings.Fields(os.Getenv("BBB_PG_AS")), dir: dir}
	if len(c.as) > 0 && os.Getuid() == 0 {
		// The cluster's user (PostgreSQL refuses root) must own its directory.
		if u, err := user.Lookup("postgres"); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			os.Chown(dir, uid, -1)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8")
	t.Cleanup(func() {
		c.command("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop").Run() // already stopped by the test, maybe
		os.RemoveAll(dir)
	})
	c.Start()
	return c
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// command runs one of the cluster's tools, as its user.
func (c *Cluster) command(tool string, args ...string) *exec.Cmd {
	argv := append(append([]string(nil), c.as...), append([]string{filepath.Join(c.bin, tool)}, args...)...)
	return exec.Command(argv[0], argv[1:]...)
}

// run runs a tool and fails the test if it fails.
func (c *Cluster) run(tool string, args ...string) {
	cmd := c.command(tool, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

// URL is the cluster's postgres database, as its superuser.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the cluster and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "start",
		"-o", fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c fsync=off", c.port, c.dir))
}

// Stop stops it the way a crash or a failover does: at once, connections
// cut.
func (c *Cluster) Stop() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
}
