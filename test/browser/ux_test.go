package browser_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rewindhq/rewind/internal/scenario"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsoleNeverCommittedAndLoss: the explain tab of a group whose member
// consumed and left without committing says so, explains the topic it
// subscribed to, and its topic picker explains any other topic; the group
// page of a group behind a topic with a one-minute retention says when
// retention deletes its unread records.
func TestConsoleNeverCommittedAndLoss(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	addr := e.b.Addr()
	scenario.CreateTopic(t, addr, "orders", 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	ms := "60000"
	if r, err := adm.CreateTopic(pctx, 1, 1, map[string]*string{"retention.ms": &ms}, "short"); err != nil || r.Err != nil {
		t.Fatalf("create short: %v %v", err, r.Err)
	}
	for i := 0; i < 10; i++ {
		for _, r := range []*kgo.Record{{Topic: "orders", Partition: int32(i % 2), Value: []byte("o")}, {Topic: "short", Value: []byte("s")}} {
			if err := cl.ProduceSync(pctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A member that reads and leaves without committing.
	m, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("nomark"), kgo.ConsumeTopics("orders"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 10 && pctx.Err() == nil; {
		n += m.PollFetches(pctx).NumRecords()
	}
	m.Close()
	for {
		d, err := adm.DescribeGroups(pctx, "nomark")
		if err == nil && d["nomark"].State == "Empty" {
			break
		}
		if pctx.Err() != nil {
			t.Fatal("nomark never became Empty")
		}
		time.Sleep(20 * time.Millisecond)
	}
	scenario.CommitNow(t, addr, "behind", "short", map[int32]int64{0: 2})
	dir := screenshotDir(t)

	run(t, ctx, "explain a group that never committed",
		chromedp.Navigate(e.base+"/#/groups/nomark/explain"),
		chromedp.WaitVisible(css(`#explain-table tbody tr`)),
		waitJS(`document.body.textContent.includes("never committed an offset")`),
		waitJS(`document.querySelector("#explain-table").textContent.includes("orders/0")`),
		waitJS(`document.querySelector("#explain-table").textContent.includes("orders/1")`),
		shot(dir, "explain-never-committed.png"),
		chromedp.SetValue(css(`#explain-topic`), "short"),
		fire(`#explain-topic`),
		waitJS(`document.querySelector("#explain-table").textContent.includes("short/0")`),
		waitJS(`!document.querySelector("#explain-table").textContent.includes("orders/0")`))

	run(t, ctx, "loss forecast",
		chromedp.Navigate(e.base+"/#/groups/behind"),
		chromedp.WaitVisible(css(`#partitions-table tr[data-key="short/0"]`)),
		waitJS(`document.querySelector('[data-loss="short/0"]').textContent.includes("deletes unread records in about")`),
		shot(dir, "group-loss.png"))

	// The console resets to another group's offsets, as rpk --to-group.
	scenario.CommitNow(t, addr, "other", "short", map[int32]int64{0: 7})
	run(t, ctx, "reset to another group",
		chromedp.Navigate(e.base+"/#/groups/behind/reset"),
		chromedp.WaitVisible(css(`#reset-preview`)),
		chromedp.SetValue(css(`#reset-target`), "to-group"),
		fire(`#reset-target`),
		chromedp.SendKeys(css(`#reset-arg`), "other"),
		chromedp.Click(css(`#reset-preview`)),
		chromedp.WaitVisible(css(`#plan-table tbody tr`)),
		waitJS(`document.querySelector('#plan-table tbody tr').textContent.includes("skips 5")`),
		shot(dir, "reset-to-group.png"))
}

// TestConsoleLagChartFollowsTheData: a group whose first commit is four
// minutes old is drawn over those minutes, not as a flat line in an hour;
// the y ticks are round numbers; twelve partitions get twelve colours; the
// times say their time zone.
func TestConsoleLagChartFollowsTheData(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	addr := e.b.Addr()
	scenario.CreateTopic(t, addr, "wide", 12)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offsets := map[int32]int64{}
	for p := int32(0); p < 12; p++ {
		for i := 0; i < 7; i++ {
			if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "wide", Partition: p, Value: []byte("w")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		offsets[p] = int64(p % 4)
	}
	now := time.Now()
	scenario.CommitAt(t, e.b.Coordinator(), "young", now.Add(-4*time.Minute), "wide", offsets)
	scenario.CommitNow(t, addr, "young", "wide", offsets)
	dir := screenshotDir(t)

	run(t, ctx, "lag chart",
		chromedp.Navigate(e.base+"/#/groups/young"),
		chromedp.WaitVisible(css(`#lag-chart svg path[data-series="wide/11"]`)),
		shot(dir, "group-lag-young.png"))
	from := eval(t, ctx, `document.querySelector('#lag-chart svg').dataset.from`)
	to := eval(t, ctx, `document.querySelector('#lag-chart svg').dataset.to`)
	var f, tt int64
	if _, err := fmt.Sscan(from+" "+to, &f, &tt); err != nil {
		t.Fatalf("chart frame %q-%q: %v", from, to, err)
	}
	if span := time.Duration(tt-f) * time.Millisecond; span < 4*time.Minute || span > 6*time.Minute {
		t.Errorf("a 4-minute-old group is charted over %s, want about 4 minutes", span)
	}
	ticks := eval(t, ctx, `[...document.querySelectorAll('#lag-chart .ytick')].map(e => e.textContent).join("|")`)
	if !roundTicks(ticks) {
		t.Errorf("y ticks %s are not round multiples of 1, 2 or 5 × 10^k", ticks)
	}
	colours := eval(t, ctx, `String(new Set([...document.querySelectorAll('#lag-chart svg path[data-series]')].map(p => p.getAttribute('stroke'))).size)`)
	if colours != "12" {
		t.Errorf("12 partitions drawn in %s colours", colours)
	}
	if zone := eval(t, ctx, `document.querySelector('#lag-chart-zone').textContent`); !strings.Contains(zone, "UTC") || !strings.Contains(zone, "first commit") {
		t.Errorf("chart caption %q names no time zone or frame", zone)
	}
}

// roundTicks reports whether the |-separated ticks start at 0 and rise
// by one step of 1, 2 or 5 times a power of ten.
func roundTicks(list string) bool {
	var vs []int
	for _, f := range strings.Split(strings.ReplaceAll(list, "\u202f", ""), "|") {
		var v int
		if _, err := fmt.Sscan(strings.ReplaceAll(f, ",", ""), &v); err != nil {
			return false
		}
		vs = append(vs, v)
	}
	if len(vs) < 2 || vs[0] != 0 {
		return false
	}
	step := vs[1]
	for m := step; m > 0; m /= 10 {
		if m < 10 && m != 1 && m != 2 && m != 5 {
			return false
		}
		if m >= 10 && m%10 != 0 {
			return false
		}
	}
	for i := range vs {
		if vs[i] != i*step {
			return false
		}
	}
	return true
}

// TestConsoleSlowAnswerKeepsNewerPage: a page whose API answer is slow,
// left for another before it arrives, must not replace the page opened
// since when the answer comes (nor install its refresh there): here the
// Topics page's answer is held 1.5 s while the user goes on to a group.
func TestConsoleSlowAnswerKeepsNewerPage(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	scenario.CreateTopic(t, e.b.Addr(), "orders", 2)
	scenario.CommitNow(t, e.b.Addr(), "audit", "orders", map[int32]int64{0: 0, 1: 0})
	run(t, ctx, "groups", chromedp.Navigate(e.base+"/#/groups"), chromedp.WaitVisible(css(`#groups-table`)))
	// The console's own fetch, with the answers of /api/v1/topics held.
	eval(t, ctx, `(() => {
		const f = window.fetch;
		window.fetch = (u, o) => String(u).startsWith("/api/v1/topics")
			? new Promise((r) => setTimeout(r, 1500)).then(() => f(u, o)) : f(u, o);
		location.hash = "#/topics";
		setTimeout(() => { location.hash = "#/groups/audit"; }, 100);
		return "";
	})()`)
	run(t, ctx, "to the group while Topics waits", chromedp.WaitVisible(css(`#partitions-table`)),
		chromedp.Sleep(3*time.Second))
	if got := eval(t, ctx, `location.hash + " " + document.querySelector('#crumbs').textContent`); got != "#/groups/audit Consumer groups / audit / Lag" {
		t.Errorf("after the slow answer: %q, want the group's page still", got)
	}
	if got := eval(t, ctx, `document.querySelector('#partitions-table') ? "table" : "gone"`); got != "table" {
		t.Errorf("the group's partitions table is %s after the slow answer came", got)
	}
}
