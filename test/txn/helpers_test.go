package txn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// name is a name unique to this run (Kafka outlives a test binary with
// REWIND_KAFKA_BOOTSTRAP).
func name(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, b broker, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(client(t, b))
	resp, err := adm.CreateTopic(ctxFor(t, 30*time.Second), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// produceInput writes the records from to to-1 of an input, keyed and
// valued k%05d / v%05d, record i to partition i%partitions, without a
// transaction, in small batches (about ten records) so that consumers
// read them in many steps, and returns their values.
func produceInput(t *testing.T, b broker, topic string, from, to int, partitions int32) []string {
	t.Helper()
	cl := client(t, b, kgo.DefaultProduceTopic(topic), kgo.UnknownTopicRetries(-1), kgo.ProducerBatchMaxBytes(512),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := ctxFor(t, time.Minute)
	n := to - from
	vals := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		vals[i] = fmt.Sprintf("v%05d", from+i)
		r := &kgo.Record{Key: fmt.Appendf(nil, "k%05d", from+i), Value: []byte(vals[i]), Partition: int32(from+i) % partitions}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) { errs <- err })
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("produce input: %v", err)
		}
	}
	return vals
}

// stableEnds waits until no transaction is open on topic (the last stable
// offset of every partition equals its high watermark: every transaction
// committed, aborted or timed out and its marker written) and returns the
// end offsets.
func stableEnds(t *testing.T, b broker, topic string, within time.Duration) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(client(t, b))
	deadline := time.Now().Add(within)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		hw, err1 := adm.ListEndOffsets(ctx, topic)
		lso, err2 := adm.ListCommittedOffsets(ctx, topic)
		cancel()
		if err1 == nil && err2 == nil && hw.Error() == nil && lso.Error() == nil {
			ends := map[int32]int64{}
			same := true
			hw.Each(func(o kadm.ListedOffset) {
				ends[o.Partition] = o.Offset
				if l, ok := lso.Lookup(topic, o.Partition); !ok || l.Offset != o.Offset {
					same = false
					last = fmt.Sprintf("partition %d: last stable offset %d, high watermark %d", o.Partition, l.Offset, o.Offset)
				}
			})
			if same && len(ends) > 0 {
				return ends
			}
		} else {
			last = fmt.Sprint(err1, err2, hw.Error(), lso.Error())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: transactions still open on %s after %v: %s", b.name, topic, within, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readAll reads topic from the start up to ends with the given isolation
// level and returns the values in the order read per partition.
func readAll(t *testing.T, b broker, topic string, ends map[int32]int64, committed bool) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	offsets := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	for p, end := range ends {
		if end > 0 {
			offsets[p] = kgo.NewOffset().AtStart()
			left[p] = end
		}
	}
	if len(left) == 0 {
		return nil
	}
	// Control records are kept so that a partition whose last offsets are
	// markers (or aborted records) is seen to reach its end.
	cl := client(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords())
	ctx := ctxFor(t, time.Minute)
	var vals []string
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%s: reading %s (committed=%v): partitions not read to their end: %v", b.name, topic, committed, left)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("%s: fetch %s/%d: %v", b.name, topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			if r.Offset >= ends[r.Partition] {
				return // produced after ends was taken
			}
			if !r.Attrs.IsControl() {
				vals = append(vals, string(r.Value))
			}
		})
	}
	return vals
}

// exactlyOnce checks that got holds every value of want once and nothing
// else.
func exactlyOnce(t *testing.T, what string, want, got []string) {
	t.Helper()
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	var missing, dup, extra []string
	wanted := map[string]bool{}
	for _, v := range want {
		wanted[v] = true
		switch n := seen[v]; {
		case n == 0:
			missing = append(missing, v)
		case n > 1:
			dup = append(dup, fmt.Sprintf("%s×%d", v, n))
		}
	}
	for v := range seen {
		if !wanted[v] {
			extra = append(extra, v)
		}
	}
	if len(missing)+len(dup)+len(extra) > 0 {
		t.Errorf("%s: %d values read for %d expected: %d missing %s, %d duplicated %s, %d unexpected %s",
			what, len(got), len(want), len(missing), head(missing), len(dup), head(dup), len(extra), head(extra))
	}
}

func head(s []string) string {
	if len(s) > 10 {
		return fmt.Sprint(s[:10]) + "…"
	}
	return fmt.Sprint(s)
}
