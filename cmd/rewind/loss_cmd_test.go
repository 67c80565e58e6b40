package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A topic whose retention is seconds long, records arriving all along, and
// a group that committed once and fell behind on purpose: describe
// forecasts when retention deletes its first unread record, the real
// retention of the broker then deletes it no earlier than forecast (and
// soon after), and describe and explain name the loss that happened.
func TestTimeToLossForecastAgainstRealRetention(t *testing.T) {
	const retention = 5 * time.Second
	b := rewindtest.Start(t, func(c *broker.Config) { c.RetentionCheckInterval = 100 * time.Millisecond })
	addr := b.Addr()
	adm := adminFor(t, addr)
	ctx := proctest.Ctx(t, time.Minute)
	// Small segments (Kafka's internal.segment.bytes), so retention
	// deletes a few records at a time.
	r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"retention.ms": ptr("5000"), "internal.segment.bytes": ptr("2048")}, "short")
	if err == nil {
		err = r.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	// A producer writing 40 records a second until the test ends.
	pcl := proctest.NewClient(t, addr, kgo.DefaultProduceTopic("short"))
	pctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for tick := time.NewTicker(25 * time.Millisecond); pctx.Err() == nil; <-tick.C {
			pcl.Produce(pctx, &kgo.Record{Value: []byte(strings.Repeat("x", 60))}, nil)
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait() })

	time.Sleep(time.Second)
	commitOffsets(t, addr, "behind", "short", 20) // then it never moves again
	committedAt := time.Now()
	time.Sleep(500 * time.Millisecond)

	type part struct {
		Committed         int64    `json:"committed"`
		LogStart          int64    `json:"log_start"`
		TimeToLossSeconds *float64 `json:"time_to_loss_seconds"`
		Loss              string   `json:"loss"`
	}
	var d struct {
		Partitions []part `json:"partitions"`
	}
	cliJSON(t, addr, &d, "group", "describe", "behind")
	asked := time.Now()
	if len(d.Partitions) != 1 || d.Partitions[0].TimeToLossSeconds == nil {
		t.Fatalf("describe of a group falling behind a 5s retention: %+v, want a time to loss", d)
	}
	p := d.Partitions[0]
	forecast := asked.Add(time.Duration(*p.TimeToLossSeconds * float64(time.Second)))
	// Offset 20 was produced 0.5s after the start (40 a second) and retention
	// is 5s: committed 0.5s later, the record was 0.5s old, so 4.5s remain.
	if left := forecast.Sub(committedAt); left < 2*time.Second || left > retention {
		t.Fatalf("forecast %s after the commit (%s), want about 4s: %+v", left, p.Loss, p)
	}
	if !strings.Contains(p.Loss, "at this pace retention (retention.ms) deletes unread records in about") {
		t.Errorf("loss line: %q", p.Loss)
	}
	// /metrics forecasts the same moment from the broker's side.
	if v, ok := timeToLossSeries(t, b, "behind", "short", "0"); !ok || (asked.Add(time.Duration(v*float64(time.Second))).Sub(forecast)).Abs() > time.Second {
		t.Errorf("rewind_consumergroup_time_to_loss_seconds = %v (%v), want about %.1f", v, ok, *p.TimeToLossSeconds)
	}
	// rewind lag forecasts the same, per group and topic.
	var lagRows []struct {
		TimeToLoss    *float64 `json:"time_to_loss_seconds"`
		LossPartition *int32   `json:"loss_partition"`
	}
	cliJSON(t, addr, &lagRows, "lag", "--group", "behind")
	if len(lagRows) != 1 || lagRows[0].TimeToLoss == nil || *lagRows[0].LossPartition != 0 ||
		(time.Now().Add(time.Duration(*lagRows[0].TimeToLoss*float64(time.Second))).Sub(forecast)).Abs() > time.Second {
		t.Errorf("rewind lag forecast %+v, want about %.1fs on partition 0", lagRows, *p.TimeToLossSeconds)
	}
	if out := cli(t, addr, "lag", "--group", "behind"); !strings.Contains(tableRow(t, out, "GROUP")[len(tableRow(t, out, "GROUP"))-1], "LOSS-IN") ||
		!strings.Contains(out, "behind short/0: at this pace retention (retention.ms) deletes unread records in about") {
		t.Errorf("rewind lag lacks the forecast:\n%s", out)
	}
	out := cli(t, addr, "group", "describe", "behind")
	if !strings.Contains(out, "short/0: at this pace retention (retention.ms) deletes unread records in about") {
		t.Errorf("describe lacks the forecast line:\n%s", out)
	}

	// The broker's own retention: when does the log start pass offset 20?
	var lost time.Time
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		starts, err := adm.ListStartOffsets(ctx, "short")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := starts.Lookup("short", 0); ok && o.Offset > 20 {
			lost = time.Now()
			break
		}
	}
	if lost.IsZero() {
		t.Fatal("retention never deleted offset 20")
	}
	t.Logf("forecast loss %s after the commit, real loss %s after it", forecast.Sub(committedAt).Round(time.Millisecond), lost.Sub(committedAt).Round(time.Millisecond))
	if lost.Before(forecast.Add(-500 * time.Millisecond)) {
		t.Errorf("retention deleted unread records %s before the forecast: the forecast must be the earliest", forecast.Sub(lost))
	}
	if lost.After(forecast.Add(3 * time.Second)) {
		t.Errorf("retention deleted unread records %s after the forecast", lost.Sub(forecast))
	}

	cliJSON(t, addr, &d, "group", "describe", "behind")
	if p := d.Partitions[0]; p.LogStart <= 20 || !strings.Contains(p.Loss, "retention already deleted") ||
		p.TimeToLossSeconds == nil || *p.TimeToLossSeconds != 0 {
		t.Errorf("describe after the loss: %+v", p)
	}
	if v, ok := timeToLossSeries(t, b, "behind", "short", "0"); !ok || v != 0 {
		t.Errorf("rewind_consumergroup_time_to_loss_seconds after the loss = %v (%v), want 0", v, ok)
	}
	if out := cli(t, addr, "lag", "--group", "behind"); !strings.Contains(out, "lost (p0)") || !strings.Contains(out, "retention already deleted") {
		t.Errorf("rewind lag after the loss:\n%s", out)
	}
	out = cli(t, addr, "group", "explain", "behind")
	if !strings.Contains(out, "committed-below-log-start") || !strings.Contains(out, "before the group read them: they are lost to it") ||
		!strings.Contains(out, "The group last committed here at") || !strings.Contains(out, "were deleted after that, unread") {
		t.Errorf("explain after the loss:\n%s", out)
	}
}

func ptr(s string) *string { return &s }

// timeToLossSeries reads the broker's forecast for one partition from its
// Prometheus registry (what /metrics serves).
func timeToLossSeries(t *testing.T, b *broker.Broker, group, topic, partition string) (float64, bool) {
	t.Helper()
	mfs, err := b.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rewind_consumergroup_time_to_loss_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["consumergroup"] == group && l["topic"] == topic && l["partition"] == partition {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}
