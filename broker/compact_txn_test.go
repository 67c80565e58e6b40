package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batchHeaders fetches partition 0 of topic read_uncommitted from its start
// to its end and returns the base offset and attributes of every batch,
// control batches included (clients hide those).
func batchHeaders(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) (bases []int64, attrs []int16) {
	t.Helper()
	// kgo sends Fetch at the broker's highest version, by topic id.
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); ; {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, tds[topic].ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 0, off, 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			t.Fatalf("fetch at %d: %v", off, err)
		}
		b := p.RecordBatches
		if len(b) == 0 || off >= p.HighWatermark {
			return bases, attrs
		}
		for len(b) >= 61 {
			n := int(binary.BigEndian.Uint32(b[8:])) + 12
			if n > len(b) {
				break // a partial batch at the end of the response
			}
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(b[:n]); err != nil {
				t.Fatalf("batch at %d: %v", off, err)
			}
			if rb.FirstOffset >= off {
				bases, attrs = append(bases, rb.FirstOffset), append(attrs, rb.Attributes)
			}
			off = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
			b = b[n:]
		}
	}
}

// A compacted topic written by a franz-go transactional producer, half of
// its transactions aborted: the cleaner removes the aborted records and,
// once no record of their transaction is left and delete.retention.ms
// has passed (0 here), the commit and abort markers, as Kafka's LogCleaner
// does; a read_committed franz-go consumer reading from the start after
// compaction sees every key's last committed value and never an aborted
// one, the LSO is the end offset, and after a restart the producer goes
// on with its transactional id. Before, compaction kept every marker.
func TestTransactionsCompacted(t *testing.T) {
	dir := t.TempDir()
	opts := []broker.Option{broker.WithDataDir(dir), func(c *broker.Config) { c.RetentionCheckInterval = 20 * time.Millisecond }}
	b := rewindtest.Start(t, opts...)
	ctx := testCtx(t, 90*time.Second)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	const topic = "txtable"
	cfg := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"internal.segment.bytes":    kadm.StringPtr("2048"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"delete.retention.ms":       kadm.StringPtr("0"),
		"max.compaction.lag.ms":     kadm.StringPtr("200"),
	}
	if r, err := adm.CreateTopic(ctx, 1, 1, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	const keys, rounds = 10, 40
	transact := func(cl *kgo.Client, value string, commit bool) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for k := range keys {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", k)), Value: []byte(value)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	producer := func() *kgo.Client {
		return newClient(t, b.Addr(), kgo.TransactionalID("tx-compacted"), kgo.DefaultProduceTopic(topic),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	}
	pr := producer()
	for i := range rounds {
		if i%2 == 1 {
			transact(pr, fmt.Sprintf("aborted-%d", i), false)
		} else {
			transact(pr, fmt.Sprintf("committed-%d", i), true)
		}
	}
	// The last abort's marker may still be on its way (markers are
	// written after EndTxn is answered): the last transaction starts at
	// the first data batch from here.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := ends.Lookup(topic, 0)
	transact(pr, "final", true)
	pr.Close()
	first := int64(-1)
	bases, attrs := batchHeaders(t, ctx, cl, topic)
	for i, base := range bases {
		if attrs[i]&0x20 == 0 && base >= before.Offset {
			first = base
			break
		}
	}
	if first < 0 {
		t.Fatalf("no batch of the last transaction from %d: %v", before.Offset, bases)
	}

	// Wait until no aborted record and no marker of a transaction before
	// the last is left.
	deadline := time.Now().Add(60 * time.Second)
	for {
		bases, attrs := batchHeaders(t, ctx, cl, topic)
		var early []int64
		for i, base := range bases {
			if attrs[i]&0x20 != 0 && base < first {
				early = append(early, base)
			}
		}
		aborted := 0
		for _, v := range readUncommittedValues(t, b.Addr(), topic) {
			if strings.HasPrefix(v, "aborted") {
				aborted++
			}
		}
		if len(early) == 0 && aborted == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %d aborted records and markers at %v (of %d batches) before the last transaction at %d", aborted, early, len(bases), first)
		}
		time.Sleep(50 * time.Millisecond)
	}

	check := func(why string) {
		t.Helper()
		got := readCommitted(t, b.Addr(), topic)
		if len(got) != keys {
			t.Fatalf("%s: read_committed read %d records %q, want the %d keys' last values", why, len(got), got, keys)
		}
		for _, v := range got {
			if v != "final" {
				t.Fatalf("%s: read_committed read %q", why, v)
			}
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		lsos, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		end, _ := ends.Lookup(topic, 0)
		lso, _ := lsos.Lookup(topic, 0)
		if lso.Offset != end.Offset || end.Offset != first+keys+1 {
			t.Fatalf("%s: LSO %d, end offset %d; want both %d", why, lso.Offset, end.Offset, first+keys+1)
		}
	}
	check("after compaction")

	b.Close()
	b = rewindtest.Start(t, opts...)
	cl = newClient(t, b.Addr())
	adm = kadm.NewClient(cl)
	check("after a restart")
	pr = producer()
	transact(pr, "after-restart-aborted", false)
	if got := readCommitted(t, b.Addr(), topic); len(got) != keys || got[0] != "final" {
		t.Fatalf("read_committed after an aborted transaction past the restart: %q", got)
	}
}

// readUncommittedValues returns every record value of topic a
// read_uncommitted consumer sees from the start.
func readUncommittedValues(t *testing.T, addr, topic string) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)); n++ })
		if n == 0 {
			return got
		}
	}
}
