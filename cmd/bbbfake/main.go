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
	"time"

	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

func main() {
	n := flag.Int("n", 3, "number of fake BBB servers")
	basePort := flag.Int("base-port", 0, "first port (servers use base, base+1, …); 0 = random ports")
	secret := flag.String("secret", "fake-bbb-secret", "shared secret of every server")
	version := flag.String("version", "3.0.0", "bbbVersion reported by the index call")
	host := flag.String("host", "127.0.0.1", "listen host")
	flap := flag.Duration("flap", 0, "make bbb1 fail for this long, then answer for this long, and so on (0: never)")
	flapFor := flag.Duration("flap-for", 0, "stop -flap after this long, leaving bbb1 up (0: never)")
	flapMode := flag.String("flap-mode", "drop-answer", "how bbb1 fails while -flap has it down: reset (reads the call, closes the connection), drop-answer (does the call's work, then closes without answering) or refuse")
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
	if *flap > 0 {
		modes := map[string]bbbtest.Failure{"reset": bbbtest.FailReset, "drop-answer": bbbtest.FailDropAnswer, "refuse": bbbtest.FailRefuse}
		mode, ok := modes[*flapMode]
		if !ok {
			closeAll()
			fatalf("-flap-mode %q: reset, drop-answer or refuse", *flapMode)
		}
		flapCtx := ctx
		if *flapFor > 0 {
			var cancel context.CancelFunc
			flapCtx, cancel = context.WithTimeout(ctx, *flapFor)
			defer cancel()
		}
		go flapping(flapCtx, servers[0], mode, *flap)
	}

	<-ctx.Done()
	closeAll()
}

// flapping takes s down (mode) and up again every d until ctx is done.
func flapping(ctx context.Context, s *bbbtest.Server, mode bbbtest.Failure, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	down := false
	for {
		select {
		case <-ctx.Done():
			if down {
				s.SetFailure(bbbtest.FailNone)
				fmt.Fprintln(os.Stderr, "bbb1 up (flapping over)")
			}
			return
		case <-t.C:
		}
		down = !down
		if down {
			s.SetFailure(mode)
		} else {
			s.SetFailure(bbbtest.FailNone)
		}
		fmt.Fprintf(os.Stderr, "bbb1 %s\n", map[bool]string{true: "down (" + mode.String() + ")", false: "up"}[down])
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bbbfake: "+format+"\n", args...)
	os.Exit(2)
}
