package rewindtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestStart is the shape of a user's test: a broker per test, a producer,
// a group consumer. (The same test with a Sarama producer is
// TestRewindtestStart in compat/sarama, the module that holds Sarama.)
func TestStart(t *testing.T) {
	b := rewindtest.Start(t)

	prod, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer pcancel()
	if err := prod.ProduceSync(pctx, &kgo.Record{Topic: "orders", Value: []byte("order-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup("billing"),
		kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(ctx)
	if err := ctx.Err(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Value) != "order-1" {
		t.Fatalf("consumed %v", recs)
	}
}

// TestTwoBrokersAreIndependent: each Start has its own port and data.
func TestTwoBrokersAreIndependent(t *testing.T) {
	a, b := rewindtest.Start(t), rewindtest.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("both brokers on %s", a.Addr())
	}
}

// BenchmarkStart measures start-to-ready: from nothing to a broker that
// answers a Metadata request.
func BenchmarkStart(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		br := rewindtest.Start(b)
		cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()))
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.Ping(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cl.Close()
		br.Close()
		b.StartTimer()
	}
}
