package browser_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/scenario"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func kafkaClient(t *testing.T, addr string, opts ...kgo.Opt) (*kgo.Client, context.Context) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(func() { cancel(); cl.Close() })
	return cl, ctx
}

// clear empties an input.
func clear(sel string) step {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel))(ctx, tg)
		return err
	})
}

// waitTails waits until the console serves want live tails.
func waitTails(t *testing.T, e *env, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.Tails() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d live tails served, want %d", e.srv.Tails(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsoleProduceFilterTail produces from the topic page (by key, with
// a header, and one the topic's max.message.bytes refuses as it refuses a
// Kafka client), filters the message browser by value and header, and
// tails the partition live: the records produced by a Kafka client while
// it runs appear, the filter applies, and the tail ends on the broker when
// the view changes and when the page goes away.
func TestConsoleProduceFilterTail(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	addr := e.b.Addr()
	scenario.CreateTopic(t, addr, "orders", 3)
	// Uncompressed, so that max.message.bytes judges the bytes the
	// console sends too.
	cl, pctx := kafkaClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := 0; i < 60; i++ {
		status := "paid"
		if i%20 == 0 {
			status = "refunded"
		}
		r := &kgo.Record{Topic: "orders", Partition: 0, Key: []byte(fmt.Sprintf("customer-%d", i)), Value: []byte(fmt.Sprintf(`{"n":%d,"status":%q}`, i, status)),
			Headers: []kgo.RecordHeader{{Key: "region", Value: []byte([]string{"eu", "us"}[i%2])}}}
		if err := cl.ProduceSync(pctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	dir := screenshotDir(t)

	// Produce by key: the record lands where a Kafka client's default
	// partitioner puts the key.
	want := kgo.StickyKeyPartitioner(nil).ForTopic("orders").Partition(&kgo.Record{Key: []byte("customer-42")}, 3)
	run(t, ctx, "produce",
		chromedp.Navigate(e.base+"/#/topics/orders"),
		chromedp.WaitVisible(css(`#produce-send`)),
		chromedp.SendKeys(css(`#produce-key`), "customer-42"),
		chromedp.SendKeys(css(`#produce-value`), `{"n":42,"status":"console"}`),
		chromedp.Click(css(`#produce-add-header`)),
		chromedp.SendKeys(css(`.produce-header-key`), "trace-id"),
		chromedp.SendKeys(css(`.produce-header-value`), "abc-123"),
		chromedp.Click(css(`#produce-send`)),
		waitJS(`document.querySelector('#produce-result .banner.ok') !== null`),
		shot(dir, "produce.png"))
	if got := eval(t, ctx, `document.querySelector('#produce-result').textContent`); !strings.Contains(got, fmt.Sprintf("orders/%d", want)) {
		t.Errorf("produce result %q, want partition %d", got, want)
	}
	ti, _ := e.b.Topic("orders")
	recs, err := e.b.ReadRecords("orders", int32(want), ti.Partitions[want].HighWatermark-1, 1, storage.PreviewLimits{MaxField: 1 << 10, MaxHeaders: 4, MaxDecoded: 1 << 20})
	if err != nil || len(recs) == 0 {
		t.Fatalf("orders/%d: %v %v", want, recs, err)
	}
	last := recs[len(recs)-1]
	if string(last.Key) != "customer-42" || !strings.Contains(string(last.Value), "console") || len(last.Headers) != 1 || string(last.Headers[0].Value) != "abc-123" {
		t.Errorf("stored record: key %q value %q headers %+v", last.Key, last.Value, last.Headers)
	}

	// Too large for the topic's max.message.bytes: refused as the produce
	// path refuses a Kafka client, nothing stored.
	mmb := "300"
	adm := kadm.NewClient(cl)
	if _, err := adm.AlterTopicConfigs(pctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: &mmb}}, "orders"); err != nil {
		t.Fatal(err)
	}
	wire := cl.ProduceSync(pctx, &kgo.Record{Topic: "orders", Partition: 1, Value: []byte(strings.Repeat("x", 400))}).FirstErr()
	if wire == nil {
		t.Fatal("the Kafka client's large record was accepted")
	}
	run(t, ctx, "produce refused",
		chromedp.SetValue(css(`#produce-partition`), "1"),
		chromedp.SetValue(css(`#produce-value`), strings.Repeat("x", 400)),
		chromedp.Click(css(`#produce-send`)),
		waitJS(`document.querySelector('#produce-result .banner.err') !== null`))
	got := eval(t, ctx, `document.querySelector('#produce-result').textContent`)
	if !strings.Contains(got, "MESSAGE_TOO_LARGE") || !strings.Contains(wire.Error(), "MESSAGE_TOO_LARGE") {
		t.Errorf("console refusal %q, Kafka client's %v", got, wire)
	}
	if ti, _ := e.b.Topic("orders"); ti.Partitions[1].HighWatermark != int64(map[bool]int{true: 1}[want == 1]) {
		t.Errorf("refused records stored: orders/1 ends at %d", ti.Partitions[1].HighWatermark)
	}

	// Filter by value, then by header, on partition 0.
	run(t, ctx, "filter",
		chromedp.Navigate(e.base+"/#/topics/orders/0"),
		chromedp.WaitVisible(css(`#records-table tbody tr`)),
		chromedp.SendKeys(css(`#mb-value`), "refunded"),
		chromedp.Click(css(`#mb-filter-apply`)),
		waitJS(`document.querySelector('#mb-scan') !== null`),
		shot(dir, "messages-filter.png"))
	ti, _ = e.b.Topic("orders")
	wantScan := fmt.Sprintf("3 match(es) in %d record(s) examined", ti.Partitions[0].HighWatermark)
	if got := eval(t, ctx, `document.querySelector('#mb-scan').textContent`); !strings.Contains(got, wantScan) {
		t.Errorf("scan summary %q, want %q", got, wantScan)
	}
	if got := eval(t, ctx, `[...document.querySelectorAll('#records-table tbody tr')].map((r) => r.dataset.key).join(",")`); got != "0,20,40" {
		t.Errorf("value filter rows %q, want 0,20,40", got)
	}
	run(t, ctx, "header regex filter",
		clear(`#mb-value`),
		chromedp.SendKeys(css(`#mb-header`), "^region=us$"),
		chromedp.Click(css(`#mb-regex`)),
		chromedp.SendKeys(css(`#mb-key`), "customer-1"),
		chromedp.Click(css(`#mb-filter-apply`)),
		waitJS(`document.querySelector('#mb-scan') && document.querySelector('#mb-scan').textContent.includes("6 match(es)")`))
	if got := eval(t, ctx, `[...document.querySelectorAll('#records-table tbody tr')].map((r) => r.dataset.key).join(",")`); got != "1,11,13,15,17,19" {
		t.Errorf("key and header filter rows %q", got)
	}

	// Live tail with the key filter still set: only customer-1… records.
	run(t, ctx, "tail",
		clear(`#mb-header`),
		chromedp.Click(css(`#mb-tail`)),
		waitJS(`document.querySelector('#tail-status') !== null`))
	waitTails(t, e, 1)
	for _, k := range []string{"customer-100", "other-1", "customer-101"} {
		if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "orders", Partition: 0, Key: []byte(k), Value: []byte("live " + k)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, "tail shows",
		waitJS(`document.querySelectorAll('#tail-table tbody tr[data-key]').length === 2`),
		waitJS(`document.querySelector('#tail-table').textContent.includes("live customer-101")`),
		shot(dir, "live-tail.png"))
	if got := eval(t, ctx, `document.querySelector('#tail-table').textContent`); strings.Contains(got, "other-1") {
		t.Errorf("the tail showed a record its key filter excludes: %q", got)
	}
	// The tab is hidden: the tail pauses (the broker stops serving it),
	// and resumes where it was when the tab shows again, missing nothing.
	hide := func(hidden bool) step {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`Object.defineProperty(document, "hidden", { configurable: true, get: () => %v }); document.dispatchEvent(new Event("visibilitychange"))`, hidden))(ctx, tg)
			return err
		})
	}
	run(t, ctx, "hide", hide(true), waitJS(`document.querySelector('#mb-status').textContent.includes("paused while the tab is hidden")`))
	waitTails(t, e, 0)
	if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "orders", Partition: 0, Key: []byte("customer-102"), Value: []byte("live while hidden")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "show", hide(false),
		waitJS(`document.querySelector('#tail-table').textContent.includes("live while hidden")`))
	waitTails(t, e, 1)
	// Another view: the broker stops serving the tail.
	run(t, ctx, "leave", chromedp.Navigate(e.base+"/#/topics"), chromedp.WaitVisible(css(`#topics-table`)))
	waitTails(t, e, 0)
	// The page goes away altogether.
	run(t, ctx, "tail again",
		chromedp.Navigate(e.base+"/#/topics/orders/0"),
		chromedp.WaitVisible(css(`#mb-tail`)),
		chromedp.Click(css(`#mb-tail`)),
		waitJS(`document.querySelector('#tail-status') !== null`))
	waitTails(t, e, 1)
	run(t, ctx, "close the page", chromedp.Navigate("about:blank"))
	waitTails(t, e, 0)
}

// TestConsoleTopicConfigs creates a topic with configs from the topics
// view, edits its configs on the topic page, and sees invalid values
// refused with the error a Kafka client gets for them, nothing changed.
func TestConsoleTopicConfigs(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, func(c *broker.Config) { c.OffsetsTopicPartitions = 1 })
	cl, pctx := kafkaClient(t, e.b.Addr())
	adm := kadm.NewClient(cl)
	dir := screenshotDir(t)

	run(t, ctx, "create with configs",
		chromedp.Navigate(e.base+"/#/topics"),
		chromedp.WaitVisible(css(`#new-topic-create`)),
		chromedp.SendKeys(css(`#new-topic-name`), "events"),
		chromedp.SendKeys(css(`#new-topic-partitions`), "2"),
		chromedp.SetValue(css(`#new-topic-retention`), "86400000"),
		chromedp.SetValue(css(`#new-topic-cleanup`), "compact,delete"),
		chromedp.SetValue(css(`#new-topic-compression`), "zstd"),
		chromedp.SendKeys(css(`#new-topic-configs`), "max.message.bytes=2097152"),
		shot(dir, "topic-create.png"),
		chromedp.Click(css(`#new-topic-create`)),
		chromedp.WaitVisible(css(`#topics-table tr[data-key="events"]`)),
		waitJS(`document.querySelector('#new-topic-result').textContent.includes("Created events with 2 partition(s)")`))
	ti, ok := e.b.Topic("events")
	if !ok || len(ti.Partitions) != 2 || ti.Configs["retention.ms"] != "86400000" || ti.Configs["cleanup.policy"] != "compact,delete" ||
		ti.Configs["compression.type"] != "zstd" || ti.Configs["max.message.bytes"] != "2097152" {
		t.Fatalf("events: %v %+v", ok, ti)
	}

	// An invalid config: the console shows the message CreateTopics gives.
	bad := "soon"
	wire, err := adm.ValidateCreateTopics(pctx, 1, 1, map[string]*string{"retention.ms": &bad}, "invalid")
	if err != nil {
		t.Fatal(err)
	}
	wr := wire["invalid"]
	if wr.Err == nil || wr.ErrMessage == "" {
		t.Fatalf("the wire accepted retention.ms=soon: %+v", wr)
	}
	run(t, ctx, "create refused",
		chromedp.SendKeys(css(`#new-topic-name`), "invalid"),
		chromedp.SendKeys(css(`#new-topic-configs`), "retention.ms=soon"),
		chromedp.Click(css(`#new-topic-create`)),
		waitJS(`document.querySelector('#new-topic-result .banner.err') !== null`))
	if got := eval(t, ctx, `document.querySelector('#new-topic-result').textContent`); !strings.Contains(got, wr.ErrMessage) || !strings.Contains(got, "INVALID_CONFIG") {
		t.Errorf("console: %q; Kafka client: %v %q", got, wr.Err, wr.ErrMessage)
	}
	if _, ok := e.b.Topic("invalid"); ok {
		t.Error("the refused topic was created")
	}

	// Edit: retention.ms set, cleanup.policy back to its default.
	run(t, ctx, "edit configs",
		chromedp.Navigate(e.base+"/#/topics/events"),
		chromedp.WaitVisible(css(`#config-table input[data-config="retention.ms"]`)),
		chromedp.SetValue(css(`#config-table input[data-config="retention.ms"]`), "3600000"),
		chromedp.Click(css(`#config-table input[data-reset="cleanup.policy"]`)),
		chromedp.Click(css(`#config-save`)),
		waitJS(`document.querySelector('#config-result .banner.ok') !== null`),
		shot(dir, "topic-configs.png"))
	ti, _ = e.b.Topic("events")
	if ti.Configs["retention.ms"] != "3600000" || ti.Configs["cleanup.policy"] != "" {
		t.Errorf("after the edit: %v", ti.Configs)
	}
	// Refused as IncrementalAlterConfigs refuses it, all or nothing.
	bogus := "bogus"
	resp, err := adm.ValidateAlterTopicConfigs(pctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: &bogus}}, "events")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 1 || resp[0].Err == nil {
		t.Fatalf("the wire accepted cleanup.policy=bogus: %+v", resp)
	}
	run(t, ctx, "edit refused",
		chromedp.SetValue(css(`#config-table input[data-config="retention.ms"]`), "60000"),
		chromedp.SetValue(css(`#config-table input[data-config="cleanup.policy"]`), "bogus"),
		chromedp.Click(css(`#config-save`)),
		waitJS(`document.querySelector('#config-result .banner.err') !== null`))
	if got := eval(t, ctx, `document.querySelector('#config-result').textContent`); !strings.Contains(got, resp[0].ErrMessage) || !strings.Contains(got, "INVALID_CONFIG") {
		t.Errorf("console: %q; Kafka client: %v %q", got, resp[0].Err, resp[0].ErrMessage)
	}
	ti, _ = e.b.Topic("events")
	if ti.Configs["retention.ms"] != "3600000" {
		t.Errorf("a refused edit changed retention.ms to %q", ti.Configs["retention.ms"])
	}
}

// TestConsoleBreadcrumbs follows the trail between a topic, a partition,
// a group, a member and the explain view, and sees it on an unknown page.
func TestConsoleBreadcrumbs(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	scenario.CreateTopic(t, e.b.Addr(), "orders", 2)
	scenario.CommitNow(t, e.b.Addr(), "audit", "orders", map[int32]int64{0: 0, 1: 0})
	scenario.Member(t, e.b.Addr(), "audit", "orders", "audit-service")
	dir := screenshotDir(t)
	crumbs := func() string { return eval(t, ctx, `document.querySelector('#crumbs').textContent`) }

	run(t, ctx, "partition", chromedp.Navigate(e.base+"/#/topics/orders/1"), chromedp.WaitVisible(css(`#records-table`)))
	if got := crumbs(); got != "Topics / orders / Partition 1" {
		t.Errorf("partition trail %q", got)
	}
	// The lag chart loads after the table and pushes it down by its
	// legend: a click aimed at a row while it lands hits what moved there.
	run(t, ctx, "to the group", chromedp.Click(`//a[text()="audit"]`), chromedp.WaitVisible(css(`#partitions-table`)),
		waitJS(`document.querySelector('#lag-chart') && !document.querySelector('#lag-chart .spin')`))
	if got := crumbs(); got != "Consumer groups / audit / Lag" {
		t.Errorf("group trail %q", got)
	}
	run(t, ctx, "to the member",
		chromedp.Click(css(`#partitions-table tr[data-key="orders/0"] td:nth-child(7) a`)),
		chromedp.WaitVisible(css(`#member-partitions`)),
		waitJS(`document.querySelector('#member').textContent.includes("audit-service")`),
		shot(dir, "member.png"))
	if got := crumbs(); !strings.HasPrefix(got, "Consumer groups / audit / Members / audit-service") {
		t.Errorf("member trail %q", got)
	}
	run(t, ctx, "to explain", chromedp.Click(`//a[text()="explain orders"]`), chromedp.WaitVisible(css(`#explain-table tbody tr`)))
	if got := crumbs(); got != "Consumer groups / audit / Explain / orders" {
		t.Errorf("explain trail %q", got)
	}
	if got := eval(t, ctx, `document.querySelector('#explain-table .next-fetch').textContent`); got != "Next fetch starts at offset 0, the log end: it returns the next record produced." {
		t.Errorf("explain's next fetch %q", got)
	}
	run(t, ctx, "back to the partition",
		chromedp.Click(`//table[@id="explain-table"]//a[text()="orders/1"]`),
		chromedp.WaitVisible(css(`#records-table`)))
	if got := crumbs(); got != "Topics / orders / Partition 1" {
		t.Errorf("trail after explain %q", got)
	}
	// The partition's page is the topic's with one partition open: the
	// same tables are visible before the click's page replaces it, and
	// only the trail's last step tells the two apart.
	run(t, ctx, "up the trail", chromedp.Click(`//nav[@id="crumbs"]/a[text()="orders"]`), chromedp.WaitVisible(css(`#topic-partitions`)),
		waitJS(`document.querySelector('#crumbs [aria-current="page"]').textContent === "orders"`))
	if got := crumbs(); got != "Topics / orders" {
		t.Errorf("topic trail %q", got)
	}
	run(t, ctx, "unknown page", chromedp.Navigate(e.base+"/#/nowhere/at/all"), waitJS(`document.querySelector('#crumbs') !== null`))
	if got := crumbs(); got != "Overview / Unknown page" || !strings.Contains(eval(t, ctx, `document.querySelector('main').textContent`), "#/nowhere/at/all") {
		t.Errorf("unknown page trail %q", got)
	}
}
