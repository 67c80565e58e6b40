package browser_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/rewindhq/rewind/admin"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/scenario"
	"github.com/rewindhq/rewind/rewindtest"
)

// env is a broker with its admin listener (the console), both on
// 127.0.0.1 random ports, in this process.
type env struct {
	b    *broker.Broker
	srv  *admin.Server
	base string // http://127.0.0.1:port
}

func newEnv(t *testing.T, opts ...broker.Option) *env {
	t.Helper()
	b := rewindtest.Start(t, opts...)
	srv := admin.New(b.AdminAPI(), admin.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), admin.WithVersion("test"))
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &env{b: b, srv: srv, base: "http://" + srv.Addr()}
}

// The console's end-to-end tests drive Debian's Chromium headless with
// chromedp. Without Chromium (a developer machine) they skip, saying how to
// get it; with REWIND_BROWSER_REQUIRED=1 (.ci/browser.sh) a missing browser
// fails. REWIND_CHROMIUM names another binary. Screenshots go to
// $REWIND_SCREENSHOTS when set (REWIND_SCREENSHOTS=$PWD/docs/screenshots
// refreshes the committed ones), else to the test's temporary directory.

func chromium(t *testing.T) string {
	t.Helper()
	cands := []string{os.Getenv("REWIND_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "Chromium is not installed: run `apt-get install chromium` (or set REWIND_CHROMIUM to a Chrome binary) to run the console's browser tests"
	if os.Getenv("REWIND_BROWSER_REQUIRED") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts headless Chromium for the test with the flags this
// machine's closed network needs, and fails the test on any JavaScript
// exception the page throws.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	var mu sync.Mutex
	var errs []string
	exception := func(d *runtime.ExceptionDetails) {
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		mu.Lock()
		errs = append(errs, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
		mu.Unlock()
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			exception(e.ExceptionDetails)
		case runtime.EventExceptionThrown:
			exception(e.ExceptionDetails)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			t.Errorf("JavaScript exception in the console: %s", e)
		}
	})
	return ctx
}

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("REWIND_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

type step = chromedp.Action[chromedp.Void]

// shot saves a full-page PNG.
func shot(dir, name string) step {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), buf, 0o644)
	})
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(expr string) step {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		// Elements come and go while the page renders: a failing lookup
		// is "not yet".
		guarded := fmt.Sprintf(`(() => { try { return !!(%s) } catch (_) { return false } })()`, expr)
		_, err := chromedp.Poll[bool](guarded, chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", expr, err)
		}
		return nil
	})
}

// eval runs a JavaScript expression for its string value.
func eval(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// stepTimeout bounds one run of steps, well inside the browser context's
// 3 minutes, so that a step that waits for what never comes leaves time
// to say what the page showed instead.
const stepTimeout = time.Minute

func run(t *testing.T, ctx context.Context, what string, steps ...step) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	err := chromedp.Do(sctx, steps...)
	cancel()
	if err != nil {
		t.Fatalf("%s: %v; the page then: %s", what, err, pageNow(ctx))
	}
}

// pageNow is where the page is and the start of its text, for a failure.
func pageNow(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + " | " + document.body.innerText.slice(0, 1500).replace(/\s+/g, " ")`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return v
}

// css selects with document.querySelector.
type css = chromedp.CSS

// fire dispatches a change event, as a person choosing in a select does.
func fire(sel string) step {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new Event('change'))`, sel))(ctx, tg)
		return err
	})
}

// TestConsoleFindLaggingGroupAndReset opens the console on the 90-minute
// scenario, finds the lagging group from the overview, looks at its lag
// chart and explanation, runs a reset dry run (nothing changes), executes it
// after confirming, and checks a group with an active member cannot be
// reset. It saves a screenshot of each view.
func TestConsoleFindLaggingGroupAndReset(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	scenario.Seed(t, e.b.Addr(), e.b.Coordinator(), time.Now())
	scenario.CreateTopic(t, e.b.Addr(), "audit-log", 1)
	scenario.CommitNow(t, e.b.Addr(), "audit", "audit-log", map[int32]int64{0: 0})
	scenario.Member(t, e.b.Addr(), "audit", "audit-log", "audit-service")
	dir := screenshotDir(t)

	run(t, ctx, "overview",
		chromedp.Navigate(e.base+"/"),
		chromedp.WaitVisible(`//h2[text()="Groups behind or not OK"]`),
		waitJS(`document.querySelector('#broker-info code') !== null`),
		shot(dir, "overview.png"))

	// The overview lists billing as behind; its row leads to the groups.
	run(t, ctx, "groups list",
		chromedp.Click(css(`#nav a[data-nav="groups"]`)),
		chromedp.WaitVisible(css(`#groups-table tr[data-key="billing"]`)),
		waitJS(`document.querySelector('#groups-table tr[data-key="billing"] .badge').dataset.status === "ERR"`),
		waitJS(`document.querySelector('#groups-table tr[data-key="shipping"] .badge').dataset.status === "OK"`),
		waitJS(`document.querySelector('#groups-table tr[data-key="fraud-check"] .badge').dataset.status === "WARN"`),
		shot(dir, "groups.png"))
	// Lagging groups sort first.
	if first := eval(t, ctx, `document.querySelector('#groups-table tbody tr').dataset.key`); first != "billing" {
		t.Errorf("first group row %q, want billing (ERR, largest lag)", first)
	}

	run(t, ctx, "group lag",
		chromedp.Click(css(`#groups-table tr[data-key="billing"]`)),
		chromedp.WaitVisible(css(`#lag-chart svg path[data-series="orders/0"]`)),
		chromedp.WaitVisible(css(`#partitions-table tr[data-key="orders/0"]`)),
		waitJS(`document.querySelector('#partitions-table tr[data-key="orders/0"] .badge').dataset.status === "STOP"`),
		waitJS(`document.querySelector('#partitions-table tr[data-key="orders/0"] .reason').textContent.includes("no commit for")`),
		shot(dir, "group-lag.png"))

	run(t, ctx, "explain",
		chromedp.Click(css(`.subtabs button[data-tab="explain"]`)),
		chromedp.WaitVisible(css(`#explain-table tbody tr`)),
		waitJS(`document.querySelector("#explain-table").textContent.includes("wins over the initial policy")`),
		shot(dir, "explain.png"))

	before := e.b.Coordinator().Committed("billing")["orders"][0].Offset
	run(t, ctx, "reset dry run",
		chromedp.Click(css(`.subtabs button[data-tab="reset"]`)),
		chromedp.WaitVisible(css(`#reset-preview`)),
		chromedp.SetValue(css(`#reset-target`), "to-earliest"),
		chromedp.Click(css(`#reset-preview`)),
		chromedp.WaitVisible(css(`#plan-table tbody tr`)),
		waitJS(`document.querySelector('#reset-result').textContent.includes("Dry run: nothing changed")`),
		waitJS(`document.querySelector('#plan-table').textContent.includes("replays")`),
		waitJS(`!document.querySelector('#reset-execute').disabled`),
		shot(dir, "reset-dry-run.png"))
	if after := e.b.Coordinator().Committed("billing")["orders"][0].Offset; after != before {
		t.Fatalf("the dry run moved billing orders/0 from %d to %d", before, after)
	}

	run(t, ctx, "reset execute",
		chromedp.Click(css(`#reset-execute`)),
		chromedp.WaitVisible(css(`#confirm-name`)),
		waitJS(`document.querySelector('#confirm-execute').disabled`),
		chromedp.SendKeys(css(`#confirm-name`), "billing"),
		waitJS(`!document.querySelector('#confirm-execute').disabled`),
		shot(dir, "reset-confirm.png"),
		chromedp.Click(css(`#confirm-execute`)),
		waitJS(`document.querySelector('#reset-result').textContent.includes("Reset applied")`))
	for p, o := range e.b.Coordinator().Committed("billing")["orders"] {
		if o.Offset != 0 {
			t.Errorf("after the reset to earliest, billing orders/%d is at %d", p, o.Offset)
		}
	}

	// A group with a running consumer: the plan shows, execution is refused.
	run(t, ctx, "reset refused",
		chromedp.Navigate(e.base+"/#/groups/audit/reset"),
		chromedp.WaitVisible(css(`#reset-preview`)),
		chromedp.Click(css(`#reset-preview`)),
		chromedp.WaitVisible(css(`#plan-table`)),
		waitJS(`document.querySelector('#reset-result').textContent.includes("active member")`),
		waitJS(`document.querySelector('#reset-result').textContent.includes("audit-service")`),
		waitJS(`document.querySelector('#reset-execute').disabled`),
		shot(dir, "reset-refused.png"))

	run(t, ctx, "members",
		chromedp.Click(css(`.subtabs button[data-tab="members"]`)),
		waitJS(`document.querySelector('#members-table') && document.querySelector('#members-table').textContent.includes("audit-service")`),
		shot(dir, "members.png"))

	run(t, ctx, "history",
		chromedp.Navigate(e.base+"/#/groups/billing/history"),
		chromedp.WaitVisible(css(`#history-table tbody tr`)),
		waitJS(`document.querySelector('#history-table').textContent.includes("current")`),
		shot(dir, "history.png"))

	// The message browser, by offset and by time.
	run(t, ctx, "messages",
		chromedp.Navigate(e.base+"/#/topics/orders/1"),
		chromedp.WaitVisible(css(`#records-table tbody tr`)),
		waitJS(`document.querySelector('#records-table').textContent.includes('"order_id"')`),
		waitJS(`document.querySelector('#records-table').textContent.includes("trace-id=")`),
		shot(dir, "messages.png"),
		chromedp.SetValue(css(`#mb-mode`), "offset"),
		fire(`#mb-mode`),
		chromedp.SetValue(css(`#mb-offset`), "100"),
		chromedp.Click(css(`#mb-load`)),
		waitJS(`document.querySelector('#records-table tbody tr td').textContent === "100"`))
	firstOffset := eval(t, ctx, `document.querySelector('#records-table tbody tr td').textContent`)
	keys := eval(t, ctx, `document.querySelector('#records-table tbody tr td:nth-child(3)').textContent`)
	if firstOffset != "100" || !strings.HasPrefix(keys, "customer-") {
		t.Errorf("browse from offset 100: first row offset %q key %q", firstOffset, keys)
	}
	run(t, ctx, "topics",
		chromedp.Navigate(e.base+"/#/topics"),
		chromedp.WaitVisible(css(`#topics-table tr[data-key="orders"]`)),
		shot(dir, "topics.png"))
	t.Logf("screenshots in %s", dir)
}

// TestConsoleCreateTopic creates a topic from the topics view, and sees a
// creation past --max-broker-partitions refused with the Kafka error a
// Kafka client gets (POLICY_VIOLATION), nothing created.
func TestConsoleCreateTopic(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, func(c *broker.Config) { c.OffsetsTopicPartitions, c.MaxBrokerPartitions = 1, 10 })
	dir := screenshotDir(t)
	run(t, ctx, "create",
		chromedp.Navigate(e.base+"/#/topics"),
		chromedp.WaitVisible(css(`#new-topic-create`)),
		chromedp.SendKeys(css(`#new-topic-name`), "made-in-console"),
		chromedp.SendKeys(css(`#new-topic-partitions`), "3"),
		chromedp.Click(css(`#new-topic-create`)),
		chromedp.WaitVisible(css(`#topics-table tr[data-key="made-in-console"]`)),
		waitJS(`document.querySelector('#new-topic-result').textContent.includes("Created made-in-console with 3 partition(s)")`))
	if ti, ok := e.b.Topic("made-in-console"); !ok || len(ti.Partitions) != 3 {
		t.Fatalf("made-in-console: %v %+v", ok, ti)
	}
	run(t, ctx, "refused",
		chromedp.SendKeys(css(`#new-topic-name`), "too-big"),
		chromedp.SendKeys(css(`#new-topic-partitions`), "7"),
		chromedp.Click(css(`#new-topic-create`)),
		waitJS(`document.querySelector('#new-topic-result .banner.err') !== null`),
		waitJS(`document.querySelector('#new-topic-result').textContent.includes("POLICY_VIOLATION")`),
		waitJS(`document.querySelector('#new-topic-result').textContent.includes("--max-broker-partitions 10")`),
		shot(dir, "topic-create-refused.png"))
	if _, ok := e.b.Topic("too-big"); ok {
		t.Error("too-big was created past --max-broker-partitions")
	}
}
