// Command bbbload sends BBB API calls as fast as a number of clients can and
// reports the rate and latency. It is the load half of the bench/ scripts.
//
//	bbbload -url http://127.0.0.1:9100 -secret S -call join -c 32 -d 10s
//
// The calls (-call):
//
//	join         creates -meetings meetings, then joins them round-robin (each answer must be a 302)
//	create       creates a new meeting per request (must be SUCCESS)
//	getmeetings  getMeetings (must be SUCCESS and, with -want-meetings N, list N meetings)
//	get          plain GETs of -url as is (for a ceiling such as respond)
//
// -n stops after that many requests (to fill a pool with -call create); the
// rate is then taken over the time they took.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

func main() {
	var (
		base     = flag.String("url", "http://127.0.0.1:9100", "balancer (or BBB server) base URL, without /bigbluebutton/api")
		secret   = flag.String("secret", "", "secret to sign with")
		call     = flag.String("call", "join", "join, create, getmeetings or get")
		clients  = flag.Int("c", 32, "concurrent clients")
		duration = flag.Duration("d", 10*time.Second, "how long to send")
		meetings = flag.Int("meetings", 50, "meetings to join (join)")
		warmup   = flag.Duration("warmup", time.Second, "load sent before measuring")
		label    = flag.String("label", "", "name printed with the result")
		limit    = flag.Uint64("n", 0, "stop after this many requests (0: run for -d)")
		want     = flag.Int("want-meetings", -1, "getmeetings: the number of meetings every answer must list (-1: any)")
		rate     = flag.Float64("rate", 0, "send at most this many requests a second, all clients together (0: as fast as they can)")
	)
	flag.Parse()
	api := strings.TrimSuffix(*base, "/") + "/bigbluebutton/api/"

	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: *clients * 2, MaxConnsPerHost: *clients * 2},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	sign := func(c, q string) string { return api + c + "?" + bbb.Sign(bbb.SHA256, c, q, *secret) }
	run := os.Getpid()

	var next func(i uint64) (string, func(*http.Response, []byte) error)
	switch *call {
	case "join":
		ids := make([]string, *meetings)
		for i := range ids {
			ids[i] = fmt.Sprintf("load-%d-%d", run, i)
			if err := expectSuccess(client, sign("create", "name=Load&meetingID="+ids[i])); err != nil {
				fail("creating meeting %s: %v", ids[i], err)
			}
		}
		urls := make([]string, len(ids))
		for i, id := range ids {
			urls[i] = sign("join", "fullName=Load%20Tester&role=VIEWER&meetingID="+id)
		}
		next = func(i uint64) (string, func(*http.Response, []byte) error) {
			return urls[i%uint64(len(urls))], want302
		}
	case "create":
		var seq atomic.Uint64
		next = func(uint64) (string, func(*http.Response, []byte) error) {
			id := fmt.Sprintf("c-%d-%d", run, seq.Add(1))
			return sign("create", "name=Load&meetingID="+id), wantSuccess
		}
	case "getmeetings":
		u := sign("getMeetings", "")
		check := func(resp *http.Response, body []byte) error {
			if err := wantSuccess(resp, body); err != nil {
				return err
			}
			if n := bytes.Count(body, []byte("<meeting>")); *want >= 0 && n != *want {
				return fmt.Errorf("%d meetings listed, want %d", n, *want)
			}
			return nil
		}
		next = func(uint64) (string, func(*http.Response, []byte) error) { return u, check }
	case "get":
		next = func(uint64) (string, func(*http.Response, []byte) error) { return *base, wantAny }
	default:
		fail("unknown -call %q", *call)
	}

	measure := func(d time.Duration, limit uint64) (n int, errs int, lat []time.Duration, took time.Duration) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var mu sync.Mutex
		var wg sync.WaitGroup
		var counter atomic.Uint64
		var firstErr atomic.Value
		var pace <-chan time.Time // with -rate, one tick a request
		if *rate > 0 {
			t := time.NewTicker(time.Duration(float64(time.Second) / *rate))
			defer t.Stop()
			pace = t.C
		}
		for c := 0; c < *clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				bad := 0
				for ctx.Err() == nil {
					if pace != nil {
						select {
						case <-pace:
						case <-ctx.Done():
						}
						if ctx.Err() != nil {
							break
						}
					}
					i := counter.Add(1)
					if limit > 0 && i > limit {
						break
					}
					u, check := next(i)
					t0 := time.Now()
					err := do(client, u, check)
					if ctx.Err() != nil {
						break // cut off by the end of the run, not a failure
					}
					mine = append(mine, time.Since(t0))
					if err != nil {
						bad++
						firstErr.CompareAndSwap(nil, err.Error())
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				errs += bad
				mu.Unlock()
			}()
		}
		wg.Wait()
		if e := firstErr.Load(); e != nil {
			fmt.Fprintf(os.Stderr, "bbbload: first error: %s\n", e)
		}
		return len(lat), errs, lat, time.Since(start)
	}
	if *warmup > 0 {
		measure(*warmup, 0)
	}
	n, errs, lat, took := measure(*duration, *limit)
	window := *duration
	if *limit > 0 {
		window = took
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	fmt.Printf("%s call=%s clients=%d requests=%d errors=%d rate=%.0f/s p50=%s p99=%s\n",
		*label, *call, *clients, n, errs, float64(n)/window.Seconds(), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
	if errs > 0 {
		os.Exit(1)
	}
}

func do(client *http.Client, u string, check func(*http.Response, []byte) error) error {
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	return check(resp, body)
}

func want302(resp *http.Response, body []byte) error {
	if resp.StatusCode != http.StatusFound {
		return fmt.Errorf("HTTP %d, want 302: %.200s", resp.StatusCode, body)
	}
	return nil
}

func wantSuccess(resp *http.Response, body []byte) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	// returncode and messageKey open every BBB answer: the load generator
	// must not spend a large answer's time searching it to its end.
	env, err := bbb.ParseEnvelope(body[:min(len(body), 1024)])
	if err != nil {
		return err
	}
	if !env.OK() {
		return errors.New(env.MessageKey + ": " + env.Message)
	}
	return nil
}

func wantAny(resp *http.Response, _ []byte) error {
	if resp.StatusCode >= 500 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

func expectSuccess(client *http.Client, u string) error { return do(client, u, wantSuccess) }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bbbload: "+format+"\n", args...)
	os.Exit(2)
}
