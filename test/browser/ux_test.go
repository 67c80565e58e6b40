package browser_test

import (
	"context"
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
}
