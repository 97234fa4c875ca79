package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/crypto/bcrypt"

	"github.com/bbb-balance/bbb_balance/console"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
	"github.com/bbb-balance/bbb_balance/internal/rectest"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// The operator console (bbb_console) in headless chromium, as an operator
// and a helpdesk person use it: behind basic_auth, over a pool of three
// fakes with meetings, a tenant and a refused recording.

// consolePool starts the pool the console tests look at, with two
// consoles in front: /console for alice (an operator) and /helpdesk for
// bob (read-only). It returns the recordings directory, and a reload of
// the same config.
func consolePool(t *testing.T) (p *pool, dir string, reload func()) {
	t.Helper()
	dir = t.TempDir()
	// A refused tar waits in failed/: a good recording, refused by a
	// disk that was full.
	rec := rectest.Recording{MeetingID: "math-4b", Published: true}.WithDefaults()
	if err := os.MkdirAll(filepath.Join(dir, "failed"), 0o755); err != nil {
		t.Fatal(err)
	}
	failed := filepath.Join(dir, "failed", rec.ID+".tar")
	if err := os.WriteFile(failed, mustTar(t, rec, "presentation"), 0o644); err != nil {
		t.Fatal(err)
	}
	note := time.Now().UTC().Format(time.RFC3339) + "\nwriting work/" + rec.ID + ": no space left on device\nMove the file back into the spool to import it again.\n"
	if err := os.WriteFile(failed+".error", []byte(note), 0o644); err != nil {
		t.Fatal(err)
	}
	p = startPool(t, 3, fastPolls+`
		tenant school-a {
			secret school-a-secret
			path_prefix /school-a
			max_meetings 1
		}
		recordings `+dir+` {
			settle 1ms
		}`)
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	site := fmt.Sprintf(`	basic_auth /console* {
		alice %s
	}
	bbb_console /console
	basic_auth /helpdesk* {
		bob %s
	}
	bbb_console /helpdesk {
		read_only
	}
	respond "not the API" 404`, hash("alice-password"), hash("bob-password"))
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(strings.Replace(p.caddyfile(), `	respond "not the API" 404`, site, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The charts take a sample every 300ms, so a test's minute draws them
	// (JSON only: the Caddyfile keeps the default 30s).
	var cfg any
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	if n := setConsoleHistoryStep(cfg, "300ms"); n != 2 {
		t.Fatalf("found %d bbb_console handlers in the adapted config", n)
	}
	raw, _ := json.Marshal(cfg)
	reload = func() {
		p.tester.InitServer(string(raw), "json")
		if t.Failed() {
			t.FailNow()
		}
	}
	reload()
	return p, dir, reload
}

// setConsoleHistoryStep sets history_step in every bbb_console handler of
// a JSON config, and counts them.
func setConsoleHistoryStep(v any, step string) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		if v["handler"] == "bbb_console" {
			v["history_step"] = step
			n++
		}
		for _, x := range v {
			n += setConsoleHistoryStep(x, step)
		}
	case []any:
		for _, x := range v {
			n += setConsoleHistoryStep(x, step)
		}
	}
	return n
}

// browserTab is one headless chromium tab, with the console messages the
// page wrote.
type browserTab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

func newBrowserTab(t *testing.T, bin string) *browserTab {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browserTab{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("starting chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// do runs steps, each bounded, and fails the test on an error.
func (b *browserTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browserTab, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// await waits until the JavaScript condition holds in the page.
func (b *browserTab) await(what, js string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(25*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s (%s): %v\nthe page says: %s\nits console: %v", what, js, err,
			eval[string](b, `document.querySelector('#summary')?.innerText + ' | ' + document.querySelector('#live')?.innerText`), b.errors(0))
	}
}

// errors returns the console's errors and exceptions since message from.
func (b *browserTab) errors(from int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.messages[min(from, len(b.messages)):] {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			out = append(out, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
		}
	}
	return out
}

func (b *browserTab) messageCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.messages)
}

// signIn sends basic-auth credentials with every request of the tab.
func (b *browserTab) signIn(user, password string) {
	b.t.Helper()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	if _, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
		b.t.Fatal(err)
	}
}

// screenshot saves the page as a person sees it at width × height, and
// the whole page, where a person can look at them.
func (b *browserTab) screenshot(name string, width, height int64, mobile bool) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	}
	b.do("resizing to "+name, chromedp.EmulateViewport(width, height, opts...),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.await("the layout of "+name, `document.readyState === 'complete'`)
	dir := artifacts(b.t)
	for file, shot := range map[string]chromedp.Action[[]byte]{
		name + ".png":      chromedp.CaptureScreenshot(),
		name + "-full.png": chromedp.FullScreenshot(100),
	} {
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		png, err := chromedp.Run(ctx, shot)
		cancel()
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", file, err)
		}
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot: %s", p)
	}
}

// colorScheme makes the page's system prefer a light or dark scheme.
func (b *browserTab) colorScheme(scheme string) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
		b.t.Fatal(err)
	}
}

// artifacts is where a test run leaves files for a person: $BBB_ARTIFACTS,
// else test-output/console at the repository's root.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BBB_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "test-output")
	}
	dir, err := filepath.Abs(filepath.Join(dir, "console"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// focused describes the focused element: what a keyboard user is on.
const focused = `(() => { const e = document.activeElement;
	if (!e || e === document.body) return 'body';
	return e.tagName.toLowerCase() + ':' + (e.getAttribute('aria-label') || e.textContent.trim().replace(/\s+/g, ' ') || e.id);
})()`

// tabUntil presses Tab until the focused element is want; it fails after
// max presses.
func (b *browserTab) tabUntil(want string, max int) {
	b.t.Helper()
	for i := 0; i < max; i++ {
		b.do("Tab", chromedp.KeyEvent(kb.Tab))
		if eval[string](b, focused) == want {
			return
		}
	}
	b.t.Fatalf("%d Tabs never reached %q", max, want)
}

// unnamed lists the controls and images of the accessibility tree that
// have no accessible name; the tree must have at least atLeast of them
// (with a modal dialog open, only the dialog's are there).
func (b *browserTab) unnamed(atLeast int) []string {
	b.t.Helper()
	tree, err := chromedp.Call(b.ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		b.t.Fatal(err)
	}
	needName := map[string]bool{"button": true, "link": true, "textbox": true, "searchbox": true, "spinbutton": true,
		"combobox": true, "checkbox": true, "image": true, "img": true, "dialog": true, "search": false}
	var out []string
	checked := 0
	for _, n := range tree.Nodes {
		if n.Ignored || n.Role == nil {
			continue
		}
		role := strings.Trim(string(n.Role.Value), `"`)
		if !needName[role] {
			continue
		}
		checked++
		name := ""
		if n.Name != nil {
			name = strings.Trim(string(n.Name.Value), `"`)
		}
		if strings.TrimSpace(name) == "" {
			out = append(out, fmt.Sprintf("%s (DOM node %d)", role, n.BackendDOMNodeID))
		}
	}
	if checked < atLeast {
		b.t.Fatalf("the accessibility tree has %d controls: the check is broken", checked)
	}
	return out
}

func TestConsoleInChromium(t *testing.T) {
	bin := chromium(t)
	p, dir, reload := consolePool(t)
	c := newClient()
	// Meetings with people in them, and one of the tenant (at its limit).
	for i, id := range []string{"maths-4b", "physics-lab", "staff-meeting", "parents-evening"} {
		mustOK(t, "create", c.get(t, "create", createQuery(id)))
		f := p.fakes[p.holder(id)]
		for n := 0; n < 3*(i+1); n++ {
			if err := f.AddAttendee(id, bbbtest.Attendee{FullName: fmt.Sprint("P", n), Voice: n%2 == 0, Video: n%3 == 0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustOK(t, "tenant create", newTenantClient("school-a-secret", "/school-a", "").get(t, "create", createQuery("assembly")))

	b := newBrowserTab(t, bin)
	b.signIn("alice", "alice-password")
	b.do("open the console", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/console/"))
	from := 0

	t.Run("shows the pool", func(t *testing.T) {
		b.t = t
		b.await("three servers", `document.querySelectorAll('#servers-table tbody tr').length === 3`)
		b.await("the meetings, with their people", `['maths-4b', 'physics-lab', 'staff-meeting', 'parents-evening', 'assembly']
			.every(id => document.querySelector('#meetings-table').innerText.includes(id))
			&& document.querySelector('#t-participants').textContent === '30'`)
		b.await("the verdict", `document.querySelector('#summary').classList.contains('summary-warn')
			&& document.querySelector('#problems').innerText.includes('Tenant school-a is at its limit of 1 meeting:')`)
		b.await("the tenant", `document.querySelector('#tenants-table').innerText.includes('1 of 1')`)
		b.await("the refused recording with its reason", `document.querySelector('#failed-table').innerText.includes('no space left on device')`)
		b.await("the poller", `document.querySelector('#poller-text').textContent.startsWith('This balancer polls every server every 0.05 s')
			&& document.querySelector('#t-poller').className === ''`)
		if got := eval[string](b, `document.querySelector('.who').textContent`); !strings.Contains(got, "Signed in as alice") {
			t.Errorf("the header says %q", got)
		}
		// Search: "where is this meeting?", by its name.
		b.do("search", chromedp.SendKeys(chromedp.ID("q"), "room physics"))
		b.await("the search's answer", `document.querySelectorAll('#meetings-table tbody tr').length === 1
			&& document.querySelector('#meetings-table').innerText.includes('physics-lab')
			&& document.querySelector('#meetings-note').textContent.startsWith('1 meeting match')`)
		b.do("clear the search", chromedp.Evaluate[chromedp.Void](`document.querySelector('#q').value = ''`),
			chromedp.Click(chromedp.CSS(`#search button`)))
		b.await("every meeting again", `document.querySelectorAll('#meetings-table tbody tr').length === 5`)
		// A morning's classes come and go: the charts draw it, a sample a
		// step.
		for k := 0; k < 24; k++ {
			for i, id := range []string{"maths-4b", "physics-lab", "staff-meeting", "parents-evening"} {
				n := max(1, 6*(i+1)+int(float64(5*(i+1))*math.Sin(float64(k)/3+float64(i))))
				if err := p.fakes[p.holder(id)].SetCounts(id, n, n/4, n/2, n/3, 1); err != nil {
					t.Fatal(err)
				}
			}
			samples := historyLen(t)
			eventually(t, "a sample of the charts", func() bool { return historyLen(t) > samples })
		}
		b.await("the load charts", `[...document.querySelectorAll('#servers-table .spark polyline')].length === 3`)
		b.screenshot("console-desktop", 1280, 800, false)
		b.screenshot("console-phone", 390, 844, true)
		b.do("back to desktop", chromedp.EmulateViewport(1280, 800))
	})

	t.Run("a server going down shows", func(t *testing.T) {
		b.t = t
		p.fakes[2].SetFailure(bbbtest.FailRefuse)
		b.await("bbb3 offline", `document.querySelector('#server-bbb3').classList.contains('row-bad')
			&& document.querySelector('#server-bbb3').innerText.includes('Offline')
			&& document.querySelector('#summary').classList.contains('summary-error')
			&& document.querySelector('#problems a[href="#server-bbb3"]')?.textContent.startsWith('bbb3 is offline')`)
		b.screenshot("console-desktop-server-down", 1280, 800, false)
		b.colorScheme("dark")
		b.screenshot("console-desktop-dark", 1280, 800, false)
		b.colorScheme("light")
		b.do("back to desktop", chromedp.EmulateViewport(1280, 800))
		p.fakes[2].SetFailure(bbbtest.FailNone)
		b.await("bbb3 back", `document.querySelector('#server-bbb3 .health .pill').textContent === 'Online'`)
	})

	t.Run("cordon from the page reaches the balancer", func(t *testing.T) {
		b.t = t
		b.do("cordon bbb1", chromedp.Click(chromedp.CSS("#server-bbb1 button.manage")), chromedp.WaitVisible(chromedp.ID("manage")),
			chromedp.Click(chromedp.CSS(`#manage [data-act="cordon"]`)))
		eventually(t, "bbb1 cordoned", func() bool { return serverStatus(t, "bbb1").State == "cordoned" })
		b.await("the page shows it", `document.querySelector('#server-bbb1 td.state span').textContent === 'cordoned'
			&& !document.querySelector('#manage').open && document.querySelector('#toast').textContent === 'bbb1 is now cordoned.'`)
		// The weight, from its form.
		b.do("weigh bbb2", chromedp.Click(chromedp.CSS("#server-bbb2 button.manage")), chromedp.WaitVisible(chromedp.ID("manage")),
			chromedp.SetValue(chromedp.ID("weight"), "1.5"), chromedp.Click(chromedp.CSS(`#weight-form button[type="submit"]`)))
		eventually(t, "bbb2 weighs 1.5", func() bool { return serverStatus(t, "bbb2").Weight == 1.5 })
	})

	t.Run("keyboard", func(t *testing.T) {
		b.t = t
		b.do("start at the top", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.scrollTo(0, 0)`))
		// Tab walks through every control of the page, and each action
		// button among them.
		want := eval[[]string](b, `[...document.querySelectorAll('a[href], button, input')]
			.filter(e => e.offsetParent !== null && !e.closest('dialog'))
			.map(e => e.tagName.toLowerCase() + ':' + (e.getAttribute('aria-label') || e.textContent.trim().replace(/\s+/g, ' ') || e.id))`)
		seen := map[string]bool{}
		missing := func() []string {
			var out []string
			for _, w := range want {
				if !seen[w] {
					out = append(out, w)
				}
			}
			return out
		}
		for i := 0; i < 2*len(want)+5 && len(missing()) > 0; i++ {
			b.do("Tab", chromedp.KeyEvent(kb.Tab))
			seen[eval[string](b, focused)] = true
		}
		missed := missing()
		if len(missed) > 0 {
			t.Errorf("Tab never reached %q", missed)
		}
		for _, action := range []string{"button:Manage bbb1", "button:Manage bbb2", "button:Manage bbb3", "button:End meeting Room maths-4b",
			"button:Retry " + eval[string](b, `document.querySelector('#failed-table tbody th').textContent`), "input:q", "button:Search"} {
			if !seen[action] {
				t.Errorf("Tab never reached %s; it reached %v", action, seen)
			}
		}

		// Enter opens a server's dialog; Tab stays inside it; Escape
		// closes it and gives the focus back.
		b.do("start at the top", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.scrollTo(0, 0)`))
		b.tabUntil("button:Manage bbb2", 3*len(want))
		b.do("Enter", chromedp.KeyEvent(kb.Enter))
		b.await("the dialog", `document.querySelector('#manage').open && document.querySelector('#manage').contains(document.activeElement)`)
		inside := map[string]bool{}
		for i := 0; i < 14; i++ {
			key := chromedp.KeyEvent(kb.Tab)
			if i >= 10 {
				key = chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift))
			}
			b.do("Tab in the dialog", key)
			if !eval[bool](b, `document.querySelector('#manage').contains(document.activeElement)`) {
				t.Fatalf("Tab left the dialog for %s", eval[string](b, focused))
			}
			inside[eval[string](b, focused)] = true
		}
		for _, w := range []string{"button:Enable bbb2", "button:Cordon bbb2", "button:Disable bbb2", "input:weight", "button:Set weight",
			"button:Panic bbb2", "button:Remove bbb2", "button:Close"} {
			if !inside[w] {
				t.Errorf("Tab in the dialog never reached %s (reached %v)", w, inside)
			}
		}
		// Its names, while it is open.
		if missing := b.unnamed(9); len(missing) > 0 {
			t.Errorf("without an accessible name, with the dialog open: %v", missing)
		}
		b.screenshot("console-manage-dialog", 1280, 800, false)
		b.do("Escape", chromedp.KeyEvent(kb.Escape))
		b.await("the dialog closed, the focus back", `!document.querySelector('#manage').open`)
		if got := eval[string](b, focused); got != "button:Manage bbb2" {
			t.Errorf("after Escape the focus is on %s", got)
		}

		// A destructive action asks first; its dialog has the focus on
		// Cancel, and Escape cancels.
		b.do("Space", chromedp.KeyEvent(" "))
		b.await("the dialog again", `document.querySelector('#manage').open`)
		b.tabUntil("button:Panic bbb2", 12)
		b.do("Enter on Panic", chromedp.KeyEvent(kb.Enter))
		b.await("the confirmation", `document.querySelector('#confirm').open`)
		if got := eval[string](b, focused); got != "button:Cancel" {
			t.Errorf("the confirmation starts on %s", got)
		}
		b.screenshot("console-confirm-phone", 390, 844, true)
		b.do("back to desktop", chromedp.EmulateViewport(1280, 800))
		for i := 0; i < 4; i++ {
			b.do("Tab in the confirmation", chromedp.KeyEvent(kb.Tab))
			if !eval[bool](b, `document.querySelector('#confirm').contains(document.activeElement)`) {
				t.Fatalf("Tab left the confirmation for %s", eval[string](b, focused))
			}
		}
		b.do("Escape the confirmation", chromedp.KeyEvent(kb.Escape))
		b.await("the confirmation closed", `!document.querySelector('#confirm').open && document.querySelector('#manage').open`)
		if got := eval[string](b, focused); got != "button:Panic bbb2" {
			t.Errorf("after the confirmation the focus is on %s", got)
		}
		b.do("Escape the dialog", chromedp.KeyEvent(kb.Escape))
		if s := serverStatus(t, "bbb2"); s.State != "enabled" {
			t.Errorf("a cancelled panic disabled bbb2: %+v", s)
		}
		for _, f := range p.fakes {
			for _, call := range apiCalls(f) {
				if call.Name == "end" {
					t.Errorf("a cancelled panic ended a meeting: %+v", call)
				}
			}
		}

		// Space on an action button carries it out: bbb1 enabled again.
		b.do("start at the top", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.scrollTo(0, 0)`))
		b.tabUntil("button:Manage bbb1", 3*len(want))
		b.do("Enter", chromedp.KeyEvent(kb.Enter))
		b.await("bbb1's dialog", `document.querySelector('#manage').open`)
		b.tabUntil("button:Enable bbb1", 12)
		b.do("Space on Enable", chromedp.KeyEvent(" "))
		eventually(t, "bbb1 enabled", func() bool { return serverStatus(t, "bbb1").State == "enabled" })
		b.await("the dialog closed, the focus back", `!document.querySelector('#manage').open
			&& document.activeElement === document.querySelector('#server-bbb1 button.manage')`)
	})

	t.Run("labels", func(t *testing.T) {
		b.t = t
		if missing := b.unnamed(25); len(missing) > 0 {
			t.Errorf("without an accessible name: %v", missing)
		}
		// Every form control has its label, every image its text.
		if got := eval[[]string](b, `[...document.querySelectorAll('input')].filter(i => !i.labels.length).map(i => i.id)`); len(got) > 0 {
			t.Errorf("inputs without a label: %v", got)
		}
	})

	t.Run("end a meeting and retry an import", func(t *testing.T) {
		b.t = t
		b.do("end staff-meeting", chromedp.Click(chromedp.CSS(`#meetings-table tr[data-key="staff-meeting"] button`)))
		b.await("the confirmation", `document.querySelector('#confirm').open`)
		if title := eval[string](b, `document.querySelector('#confirm-title').textContent`); title != "End meeting Room staff-meeting?" {
			t.Errorf("confirmation %q", title)
		}
		b.do("confirm", chromedp.Click(chromedp.ID("confirm-ok")))
		eventually(t, "staff-meeting ended", func() bool { _, ok := registry(t)["staff-meeting"]; return !ok })
		b.await("the page lost it", `!document.querySelector('#meetings-table').innerText.includes('staff-meeting')`)

		b.do("retry the refused tar", chromedp.Click(chromedp.CSS(`#failed-table button`)))
		var list struct {
			Total int `json:"total"`
		}
		eventually(t, "the recording imported", func() bool { adminGet(t, "/bbb/recordings", &list); return list.Total == 1 })
		var failed []recordings.FailedImport
		adminGet(t, "/bbb/recordings/failed", &failed)
		if notes, _ := filepath.Glob(filepath.Join(dir, "failed", "*.error")); len(failed) != 0 || len(notes) != 0 {
			t.Errorf("still failed: %+v %v", failed, notes)
		}
		b.await("the page's list emptied", `!document.querySelector('#failed-empty').hidden`)
	})

	t.Run("no console errors", func(t *testing.T) {
		if errs := b.errors(from); len(errs) > 0 {
			t.Errorf("the page wrote errors:\n%s", strings.Join(errs, "\n"))
		}
	})

	t.Run("an action without the token is refused", func(t *testing.T) {
		b.t = t
		from = b.messageCount()
		got := eval[string](b, `fetch('actions/cordon', {method: 'POST', headers: {'Content-Type': 'application/json'},
			body: JSON.stringify({server: 'bbb2'})}).then(r => r.status + ' ' + r.statusText)`)
		if !strings.HasPrefix(got, "403") {
			t.Errorf("a POST without the token from the page: %s", got)
		}
		eventually(t, "the refusal in the browser's log", func() bool {
			return strings.Contains(strings.Join(b.errors(from), "\n"), "console/actions/cordon")
		})
		// From elsewhere, with the right password and even the token.
		token := eval[string](b, `document.querySelector('meta[name="csrf-token"]').content`)
		for what, h := range map[string]http.Header{
			"no token":         {"Sec-Fetch-Site": {"same-origin"}},
			"another site":     {console.CSRFHeader: {token}, "Sec-Fetch-Site": {"cross-site"}},
			"another origin":   {console.CSRFHeader: {token}, "Origin": {"https://evil.example.com"}},
			"no origin at all": {console.CSRFHeader: {token}},
		} {
			if code, body := consolePost(t, "/console/actions/cordon", "alice", "alice-password", h); code != 403 {
				t.Errorf("%s: %d %s", what, code, body)
			}
		}
		if s := serverStatus(t, "bbb2"); s.State != "enabled" {
			t.Errorf("a refused request cordoned bbb2")
		}
		if code, _ := consolePost(t, "/console/actions/cordon", "alice", "wrong", http.Header{}); code != 401 {
			t.Errorf("a wrong password: %d", code)
		}
	})

	t.Run("read-only hides and refuses actions", func(t *testing.T) {
		b.t = t
		b.signIn("bob", "bob-password")
		b.do("open the helpdesk console", chromedp.Navigate(base+"/helpdesk/"))
		from = b.messageCount()
		b.await("the pool", `document.querySelectorAll('#servers-table tbody tr').length === 3
			&& document.querySelectorAll('#meetings-table tbody tr').length === 4`)
		if n := eval[int](b, `document.querySelectorAll('main button:not([type="submit"]), dialog, [data-act]').length`); n != 0 {
			t.Errorf("the read-only page has %d action buttons or dialogs", n)
		}
		if got := eval[string](b, `document.querySelector('.who').textContent`); !strings.Contains(got, "bob") || !strings.Contains(got, "read-only") {
			t.Errorf("the header says %q", got)
		}
		if errs := b.errors(from); len(errs) > 0 {
			t.Errorf("the read-only page wrote errors:\n%s", strings.Join(errs, "\n"))
		}
		b.screenshot("console-helpdesk-phone", 390, 844, true)
		got := eval[string](b, `fetch('actions/cordon', {method: 'POST', headers: {'Content-Type': 'application/json',
			'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content}, body: JSON.stringify({server: 'bbb2'})})
			.then(r => r.json().then(j => r.status + ' ' + j.error))`)
		if !strings.HasPrefix(got, "403") || !strings.Contains(got, "read-only") {
			t.Errorf("a POST to the read-only console: %s", got)
		}
		// The browser logs the refusal, as it should: before what follows.
		eventually(t, "the refusal in the browser's log", func() bool {
			return strings.Contains(strings.Join(b.errors(from), "\n"), "helpdesk/actions/cordon")
		})
		if s := serverStatus(t, "bbb2"); s.State != "enabled" {
			t.Errorf("the read-only console cordoned bbb2")
		}
	})

	t.Run("a reload, and the page carries on", func(t *testing.T) {
		b.t = t
		from = b.messageCount()
		reload() // ends the old config's streams; the page connects to the new one
		if err := p.fakes[p.holder("physics-lab")].SetCounts("physics-lab", 42, 0, 0, 0, 1); err != nil {
			t.Fatal(err)
		}
		b.await("the new count", `document.querySelector('#meetings-table tr[data-key="physics-lab"] td.num').textContent === '42'
			&& document.querySelector('#live-text').textContent === 'Live'`)
		if errs := b.errors(from); len(errs) > 0 {
			t.Errorf("the page wrote errors over the reload:\n%s", strings.Join(errs, "\n"))
		}
	})
}

// historyLen is how many samples the console's load chart of bbb1 has.
func historyLen(t *testing.T) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/console/state", nil)
	req.SetBasicAuth("alice", "alice-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var state struct {
		History struct {
			Series map[string][]float64 `json:"series"`
		} `json:"history"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		t.Fatalf("GET /console/state: %d %v", resp.StatusCode, err)
	}
	return len(state.History.Series["bbb1"])
}

// consolePost posts an action to a console as user, with the headers
// given, outside the browser.
func consolePost(t *testing.T, path, user, password string, h http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(`{"server":"bbb2"}`))
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
