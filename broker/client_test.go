package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFranzGoIdempotentRoundTrip produces 20,000 records over four
// partitions with franz-go's default (idempotent, acks=all) producer and
// reads every one back, in order within each partition.
func TestFranzGoIdempotentRoundTrip(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "roundtrip"); err != nil {
		t.Fatal(err)
	}

	const n = 20000
	prod := newClient(t, b.Addr(), kgo.DefaultProduceTopic("roundtrip"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := 0; i < n; i++ {
		prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 4)), Value: []byte(fmt.Sprintf("v%06d", i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	cons := newClient(t, b.Addr(), kgo.ConsumeTopics("roundtrip"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := map[int32]int64{}
	lastVal := map[int32]string{}
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(seen), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			v := string(r.Value)
			if v <= lastVal[r.Partition] {
				t.Fatalf("partition %d: value %s after %s: out of order", r.Partition, v, lastVal[r.Partition])
			}
			lastVal[r.Partition] = v
			if seen[v] {
				t.Fatalf("duplicate %s", v)
			}
			seen[v] = true
		})
	}
	if len(next) != 4 {
		t.Fatalf("records landed on %d partitions, want 4", len(next))
	}
	offs, err := adm.ListEndOffsets(ctx, "roundtrip")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	if sum != n {
		t.Fatalf("end offsets sum to %d, want %d", sum, n)
	}
}

// TestRestartKeepsRecords closes the broker cleanly and starts a new one on
// the same data directory.
func TestRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t, 30*time.Second)
	b := rewindtest.Start(t, broker.WithDataDir(dir))
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("durable"), kgo.AllowAutoTopicCreation())
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := rewindtest.Start(t, broker.WithDataDir(dir))
	cons := newClient(t, b2.Addr(), kgo.ConsumeTopics("durable"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 10 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after restart read %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if v != fmt.Sprint(i) {
			t.Fatalf("record %d = %s", i, v)
		}
	}
	// New records continue at offset 10.
	r, err := newClient(t, b2.Addr(), kgo.DefaultProduceTopic("durable"), kgo.AllowAutoTopicCreation()).ProduceSync(ctx, kgo.StringRecord("10")).First()
	if err != nil {
		t.Fatal(err)
	}
	if r.Offset != 10 {
		t.Fatalf("first record after restart got offset %d, want 10", r.Offset)
	}
}
