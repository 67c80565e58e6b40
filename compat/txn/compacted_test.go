package txn

import (
	be "encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const compactedKeys = 10

// writeCompacted starts a Rewind that compacts every 20 ms (rewindtest:
// `rewind serve` compacts every 30 s), writes a compacted topic with
// franz-go transactions (alternately committed and aborted, each setting
// every key, then a last committed one: "final") and waits until the
// cleaner has removed every aborted record and every marker but the last
// transaction's, or, with horizon, until those markers wait out
// delete.retention.ms (an hour) with their delete horizon set. It returns
// the broker's address and the topic.
func writeCompacted(t *testing.T, horizon bool) (addr, topic string) {
	t.Helper()
	b := rewindtest.Start(t, broker.WithDataDir(t.TempDir()), func(c *broker.Config) { c.RetentionCheckInterval = 20 * time.Millisecond })
	addr, topic = b.Addr(), fmt.Sprintf("compat-txn-compacted-%d", time.Now().UnixNano())
	ctx := proctest.Ctx(t, 2*time.Minute)
	cl := proctest.NewClient(t, addr)
	cfg := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"internal.segment.bytes":    kadm.StringPtr("2048"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"delete.retention.ms":       kadm.StringPtr(map[bool]string{false: "0", true: "3600000"}[horizon]),
		"max.compaction.lag.ms":     kadm.StringPtr("200"),
	}
	if r, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
	pr := proctest.NewClient(t, addr, kgo.TransactionalID(topic+"-producer"), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	txn := func(value string, commit bool) {
		t.Helper()
		if err := pr.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for k := range compactedKeys {
			if err := pr.ProduceSync(ctx, &kgo.Record{Key: fmt.Appendf(nil, "key-%d", k), Value: []byte(value)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := pr.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		if i%2 == 1 {
			txn(fmt.Sprintf("aborted-%d", i), false)
		} else {
			txn(fmt.Sprintf("committed-%d", i), true)
		}
	}
	txn("final", true)
	pr.Close()

	deadline := time.Now().Add(90 * time.Second)
	for {
		left := 0
		for p := range int32(parts) {
			left += removableLeft(t, cl, topic, p, horizon)
		}
		if left == 0 {
			return addr, topic
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s, %d aborted batches and markers of earlier transactions are left", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removableLeft fetches partition p of topic read_uncommitted (raw
// batches: clients hide control batches) and counts what compaction has
// yet to remove: batches of aborted transactions' records (every record
// of a batch has the batch's value here) and the markers before the last
// transaction's first batch (with horizon, those without their delete
// horizon, attribute bit 6).
func removableLeft(t *testing.T, cl *kgo.Client, topic string, p int32, horizon bool) int {
	t.Helper()
	type hdr struct {
		base    int64
		control bool
		aborted bool
		horizon bool
	}
	var hs []hdr
	for off := int64(0); ; {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = p, off, 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if err := proctest.FetchTopicIDs(proctest.Ctx(t, 10*time.Second), cl, req); err != nil {
			t.Fatal(err)
		}
		resp, err := req.RequestWith(proctest.Ctx(t, 10*time.Second), cl)
		if err != nil {
			t.Fatal(err)
		}
		fp := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(fp.ErrorCode); err != nil {
			t.Fatalf("fetch %s/%d at %d: %v", topic, p, off, err)
		}
		b := fp.RecordBatches
		if len(b) == 0 || off >= fp.HighWatermark {
			break
		}
		for len(b) >= 61 {
			n := int(be.BigEndian.Uint32(b[8:])) + 12
			if n > len(b) {
				break
			}
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(b[:n]); err != nil {
				t.Fatal(err)
			}
			if rb.FirstOffset >= off {
				// Uncompressed or not, "aborted-" is in the batch only
				// as the value of its records.
				hs = append(hs, hdr{rb.FirstOffset, rb.Attributes&0x20 != 0, rb.Attributes&0x7 == 0 && strings.Contains(string(rb.Records), "aborted-"), rb.Attributes&0x40 != 0})
			}
			off = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
			b = b[n:]
		}
	}
	lastData := -1
	for i, h := range hs {
		if !h.control {
			lastData = i
		}
	}
	left := 0
	for i, h := range hs {
		if h.aborted || h.control && i < lastData && !(horizon && h.horizon) {
			left++
		}
	}
	return left
}

// checkCompacted: read_committed and read_uncommitted, reader gets every
// key's last value ("final") and nothing else, from a log whose markers
// were removed or (horizon) carry their delete horizon.
func checkCompacted(t *testing.T, read reader, horizon bool) {
	addr, topic := writeCompacted(t, horizon)
	for _, committed := range []bool{true, false} {
		got := read(t, addr, topic, committed)
		want := slices.Repeat([]string{"final"}, compactedKeys)
		if !slices.Equal(got, want) {
			t.Errorf("read_committed %v after compaction: %d values %q, want %q", committed, len(got), got, want)
		}
	}
}

// TestKcatReadCommittedAfterCompaction: kcat reads a compacted topic
// whose aborted records the cleaner removed, and its markers, or set
// their delete horizon.
func TestKcatReadCommittedAfterCompaction(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("REWIND_COMPAT_REQUIRED") == "1" {
			t.Fatal("kcat not on PATH (Debian package kcat)")
		}
		t.Skip("kcat not on PATH (Debian package kcat; .ci/compat.sh installs it)")
	}
	for _, horizon := range []bool{false, true} {
		t.Run(map[bool]string{false: "markers removed", true: "markers with their delete horizon"}[horizon], func(t *testing.T) {
			checkCompacted(t, kcatRead, horizon)
		})
	}
}
