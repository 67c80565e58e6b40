package broker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/lageval"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func startAt(t *testing.T, dir string) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.WithDataDir(dir), broker.WithListen("127.0.0.1:0"),
		broker.WithGroupInitialRebalanceDelay(0), broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	return b
}

// TestLagWindowsSurviveRestart checks that the commit windows Burrow's rules
// judge are rebuilt from __consumer_offsets at start, with the lag at each
// commit estimated from the time index, and that live commits carry the
// exact lag.
func TestLagWindowsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startAt(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	commit := func(o int64) {
		t.Helper()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: o, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, "billing", os); err != nil {
			t.Fatal(err)
		}
	}
	produce := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Three commits more than min-distance (1s) apart, each 5 behind.
	produce(10)
	commit(5)
	time.Sleep(1100 * time.Millisecond)
	produce(10)
	commit(15)
	time.Sleep(1100 * time.Millisecond)
	produce(10)
	commit(25)
	cl.Close()

	live := b.LagWindows("billing")[lageval.TopicPartition{Topic: "orders", Partition: 0}]
	if len(live) != 3 {
		t.Fatalf("live window %+v", live)
	}
	for i, c := range live {
		if c.Offset != int64(5+10*i) || c.Lag != 5 {
			t.Fatalf("live commit %d: %+v, want offset %d lag 5", i, c, 5+10*i)
		}
	}
	st := b.LagStatus("billing")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = startAt(t, dir)
	defer b.Close()
	replayed := b.LagWindows("billing")[lageval.TopicPartition{Topic: "orders", Partition: 0}]
	if len(replayed) != 3 {
		t.Fatalf("replayed window %+v", replayed)
	}
	for i, c := range replayed {
		if c.Offset != live[i].Offset || !c.Time.Equal(live[i].Time) {
			t.Errorf("replayed commit %d: %+v, want %+v", i, c, live[i])
		}
		// Estimated from record timestamps: the records produced before
		// the commit, maybe a few more written in the same millisecond.
		if c.Lag < 5 || c.Lag > 15 {
			t.Errorf("replayed commit %d: estimated lag %d, want about 5", i, c.Lag)
		}
	}
	if again := b.LagStatus("billing"); again.Status != st.Status || len(again.Partitions) != 1 {
		t.Errorf("status after restart %s, before %s", again.Status, st.Status)
	}
	if nf := b.LagStatus("nobody"); nf.Status != lageval.NotFound {
		t.Errorf("unknown group: %s", nf.Status)
	}
}

// burrowSeries returns the value of a kafka_burrow_* or kafka_consumergroup_*
// series of b's /metrics with the given labels, and whether it exists.
func burrowSeries(t *testing.T, b *broker.Broker, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := b.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestLagFollowsTheCoordinatorsEvents: the broker's lag recorder and
// /metrics follow what the coordinator applies (commits, OffsetDelete,
// DeleteGroups) and come back the same after a restart, which replays the
// offsets history to it.
func TestLagFollowsTheCoordinatorsEvents(t *testing.T) {
	dir := t.TempDir()
	b := startAt(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 20; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 12, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 15, LeaderEpoch: -1})
	for _, g := range []string{"billing", "audit"} {
		if err := adm.CommitAllOffsets(ctx, g, os); err != nil {
			t.Fatal(err)
		}
	}
	// Committed to the recorder with the exact lag at once (the event is
	// delivered before the commit is answered).
	w := b.LagWindows("billing")
	if c := w[lageval.TopicPartition{Topic: "orders", Partition: 1}]; len(c) != 1 || c[0].Offset != 15 || c[0].Lag != 5 {
		t.Fatalf("billing's window on orders/1: %+v", c)
	}
	del := kadm.TopicsSet{}
	del.Add("orders", 1)
	if resp, err := adm.DeleteOffsets(ctx, "billing", del); err != nil || resp.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, resp.Error())
	}
	if resp, err := adm.DeleteGroups(ctx, "audit"); err != nil || resp.Error() != nil {
		t.Fatalf("delete group: %v %v", err, resp.Error())
	}
	check := func(when string) {
		t.Helper()
		w := b.LagWindows("billing")
		if len(w) != 1 || len(w[lageval.TopicPartition{Topic: "orders", Partition: 0}]) != 1 {
			t.Fatalf("%s: billing's windows %+v, want orders/0 only", when, w)
		}
		if st := b.LagStatus("audit"); st.Status != lageval.NotFound {
			t.Fatalf("%s: deleted group audit is %s", when, st.Status)
		}
		if v, ok := burrowSeries(t, b, "kafka_burrow_total_lag", map[string]string{"group": "billing"}); !ok || v != 8 {
			t.Fatalf("%s: kafka_burrow_total_lag of billing %v (present %v), want 8", when, v, ok)
		}
		if v, ok := burrowSeries(t, b, "kafka_consumergroup_lag", map[string]string{"consumergroup": "billing", "partition": "0"}); !ok || v != 8 {
			t.Fatalf("%s: kafka_consumergroup_lag of billing orders/0 %v (present %v), want 8", when, v, ok)
		}
		if _, ok := burrowSeries(t, b, "kafka_burrow_partition_status", map[string]string{"group": "billing", "partition": "1"}); ok {
			t.Fatalf("%s: billing's deleted offset on orders/1 is still judged", when)
		}
		if _, ok := burrowSeries(t, b, "kafka_burrow_status", map[string]string{"group": "audit"}); ok {
			t.Fatalf("%s: the deleted group audit is still judged", when)
		}
	}
	check("before the restart")
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = startAt(t, dir)
	defer b.Close()
	check("after the restart")
}
