// Command bbbfake starts a number of fake BigBlueButton servers (package
// internal/bbbtest) for demos and benchmarks. It prints one line per server,
//
//	bbb1 http://127.0.0.1:PORT/bigbluebutton/api <secret>
//
// and serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

func main() {
	n := flag.Int("n", 3, "number of fake BBB servers")
	basePort := flag.Int("base-port", 0, "first port (servers use base, base+1, …); 0 = random ports")
	secret := flag.String("secret", "fake-bbb-secret", "shared secret of every server")
	version := flag.String("version", "3.0.0", "bbbVersion reported by the index call")
	host := flag.String("host", "127.0.0.1", "listen host")
	flag.Parse()

	if *n < 1 {
		fatalf("-n must be at least 1")
	}
	if *basePort < 0 || *basePort > 65535 || (*basePort > 0 && *basePort+*n-1 > 65535) {
		fatalf("-base-port out of range")
	}
	if *secret == "" {
		fatalf("-secret must not be empty")
	}

	// Handle signals before printing anything, so a script that reads the
	// server lines can stop us right away.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	servers := make([]*bbbtest.Server, 0, *n)
	closeAll := func() {
		for _, s := range servers {
			s.Close()
		}
	}
	for i := range *n {
		port := 0
		if *basePort > 0 {
			port = *basePort + i
		}
		s, err := bbbtest.New(bbbtest.Options{
			Secret:  *secret,
			Addr:    net.JoinHostPort(*host, strconv.Itoa(port)),
			Version: *version,
			// Bound the call log: benchmarks send millions of requests.
			MaxCalls: 1000,
		})
		if err != nil {
			closeAll()
			fatalf("server %d: %v", i+1, err)
		}
		servers = append(servers, s)
	}
	for i, s := range servers {
		fmt.Printf("bbb%d %s %s\n", i+1, s.URL(), s.Secret())
	}

	<-ctx.Done()
	closeAll()
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bbbfake: "+format+"\n", args...)
	os.Exit(2)
}
