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
