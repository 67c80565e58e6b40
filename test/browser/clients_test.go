package browser_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rewindhq/rewind/clientmetrics"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsoleClients opens the console's Clients view after a client
// subscribed to every metric pushed its own lag and fetch latency: its row
// shows its client id, software and those two figures as columns, and a
// click lists its series with their attributes.
func TestConsoleClients(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	rctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeClientMetrics, "all"
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = "metrics", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("*")
	rr.Configs = append(rr.Configs, c)
	alter.Resources = append(alter.Resources, rr)
	if resp, err := alter.RequestWith(rctx, admin); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("subscribe: %v %+v", err, resp)
	}
	app, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.ClientID("billing-consumer"))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close() // the console forgets a client once its connection closes
	sub, err := kmsg.NewPtrGetTelemetrySubscriptionsRequest().RequestWith(rctx, app)
	if err != nil || sub.ErrorCode != 0 {
		t.Fatalf("get subscriptions: %v %+v", err, sub)
	}
	payload, err := clientmetrics.Encode([]clientmetrics.Point{
		{Name: "org.apache.kafka.consumer.fetch.manager.records.lag.max", Value: 17},
		{Name: "org.apache.kafka.consumer.fetch.manager.records.lag", Value: 17, Attrs: map[string]string{"topic": "orders", "partition": "3"}},
		{Name: "org.apache.kafka.consumer.fetch.manager.fetch.latency.avg", Value: 12.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	push := kmsg.NewPtrPushTelemetryRequest()
	push.ClientInstanceID, push.SubscriptionID, push.CompressionType, push.Metrics = sub.ClientInstanceID, sub.SubscriptionID, 4, payload
	if resp, err := push.RequestWith(rctx, app); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("push: %v %+v", err, resp)
	}
	dir := screenshotDir(t)
	run(t, ctx, "clients",
		chromedp.Navigate(e.base+"/"),
		chromedp.WaitVisible(css(`#nav a[data-nav="clients"]`)),
		chromedp.Click(css(`#nav a[data-nav="clients"]`)),
		chromedp.WaitVisible(css(`#clients-table tbody tr`)),
		waitJS(`document.querySelector("#clients-table tbody tr").textContent.includes("billing-consumer")`))
	cells := eval(t, ctx, `[...document.querySelectorAll("#clients-table tbody tr td")].map((td) => td.textContent).join("|")`)
	if want := "billing-consumer|kgo "; len(cells) < len(want) || cells[:len(want)] != want {
		t.Errorf("row %q, want it to start %q", cells, want)
	}
	if n := eval(t, ctx, `[...document.querySelectorAll("#clients-table tbody tr td.num")].map((td) => td.textContent).join("|")`); n != "17|12.50|3" {
		t.Errorf("lag, fetch latency and series columns %q, want 17|12.50|3", n)
	}
	run(t, ctx, "series",
		chromedp.Click(css(`#clients-table tbody tr`)),
		chromedp.WaitVisible(css(`#client-series tbody tr`)),
		shot(dir, "clients.png"))
	rows := eval(t, ctx, `[...document.querySelectorAll("#client-series tbody tr")].map((tr) => tr.textContent).join("\n")`)
	want := "org.apache.kafka.consumer.fetch.manager.records.lagpartition=3topic=ordersgauge17"
	if !strings.Contains(rows, want) {
		t.Errorf("series rows %q, want one %q", rows, want)
	}
}
