package broker

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// The log side of transactions through the broker: data written to the
// partition logs as the produce path will write it (transactional
// batches), markers through writeTxnMarkers and the WriteTxnMarkers API,
// and read back with real franz-go clients over TCP: Fetch at both
// isolation levels, ListOffsets, DescribeProducers.

func newTxnLogBroker(t *testing.T, topics ...string) *Broker {
	t.Helper()
	b := startTest(t, func(c *Config) { c.OffsetsTopicPartitions = 2 })
	for _, name := range topics {
		if _, err := b.reg.create(name, 1, nil, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// txnRecords encodes one transactional batch of producer pid holding vals.
func txnRecords(pid int64, epoch int16, seq int32, vals ...string) []byte {
	var body []byte
	for i, v := range vals {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		enc := r.AppendTo(nil)
		_, k := binary.Varint(enc)
		body = binary.AppendVarint(body, int64(len(enc)-k))
		body = append(body, enc[k:]...)
	}
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{
		Length: int32(49 + len(body)), Magic: 2, Attributes: 0x10,
		LastOffsetDelta: int32(len(vals) - 1), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq,
		NumRecords: int32(len(vals)), Records: body,
	}
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

func plainRecords(vals ...string) []byte {
	recs := make([]storage.Record, len(vals))
	for i, v := range vals {
		recs[i] = storage.Record{Timestamp: time.Now().UnixMilli(), Value: []byte(v)}
	}
	return storage.BuildBatch(time.Now().UnixMilli(), recs)
}

func markerReq(version int16, topic string, pid int64, epoch int16, coord int32, commit bool, tv int8) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = version
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed, m.TransactionVersion = pid, epoch, coord, commit, tv
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	return req
}

func markerCodes(resp *kmsg.WriteTxnMarkersResponse) []int16 {
	var out []int16
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				out = append(out, p.ErrorCode)
			}
		}
	}
	return out
}

// consumeValues reads the partition from the start with a real kgo
// consumer at the given isolation level until want values came, then
// for a moment more (nothing else may come).
func consumeValues(t *testing.T, addr, topic string, iso kgo.IsolationLevel, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	extra := time.Time{}
	for {
		if len(got) >= want && extra.IsZero() {
			extra = time.Now().Add(500 * time.Millisecond)
		}
		if !extra.IsZero() && time.Now().After(extra) || time.Now().After(deadline) {
			return got
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
}

func TestReadCommittedThroughBroker(t *testing.T) {
	b := newTxnLogBroker(t, "tx")
	l := b.partition("tx", 0)
	ctx := context.Background()
	for _, rec := range [][]byte{
		txnRecords(1, 0, 0, "aborted-1", "aborted-2"), // 0-1
		txnRecords(2, 0, 0, "committed"),              // 2
		plainRecords("plain"),                         // 3
	} {
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	// Both markers in one request, as the coordinator sends them.
	req := markerReq(2, "tx", 1, 0, 5, false, 0)
	req.Markers = append(req.Markers, markerReq(2, "tx", 2, 0, 5, true, 0).Markers[0])
	resp := b.writeTxnMarkers(ctx, req)
	if codes := markerCodes(resp); !slices.Equal(codes, []int16{0, 0}) || resp.Markers[0].ProducerID != 1 || resp.Markers[1].ProducerID != 2 {
		t.Fatalf("writeTxnMarkers: %+v", resp)
	}
	// Answered once durable: the markers are below the HW already.
	if hw, lso := l.HighWatermark(), l.LastStableOffset(); hw != 6 || lso != 6 {
		t.Fatalf("after the markers: HW %d LSO %d, want 6 and 6", hw, lso)
	}
	if _, err := l.Append(txnRecords(3, 0, 0, "open")); err != nil { // 6, left open
		t.Fatal(err)
	}
	waitFor(t, "the HW to pass the open transaction", func() bool { return l.HighWatermark() == 7 })

	// Real consumers: read_committed sees the committed and plain
	// records only, read_uncommitted everything but markers.
	if got := consumeValues(t, b.Addr(), "tx", kgo.ReadCommitted(), 2); !slices.Equal(got, []string{"committed", "plain"}) {
		t.Fatalf("read_committed consumer got %q", got)
	}
	if got := consumeValues(t, b.Addr(), "tx", kgo.ReadUncommitted(), 5); !slices.Equal(got, []string{"aborted-1", "aborted-2", "committed", "plain", "open"}) {
		t.Fatalf("read_uncommitted consumer got %q", got)
	}

	// kgo raises a request's version to the broker's highest: Fetch is
	// kept below v13, where topics are named by id, not name.
	byName := kversion.Stable()
	byName.SetMaxKeyVersion(1, 12)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.MaxVersions(byName))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, iso := range []int8{0, 1} {
		for _, v := range []int16{4, 12} {
			freq := kmsg.NewPtrFetchRequest()
			freq.Version, freq.IsolationLevel, freq.MaxBytes, freq.ReplicaID = v, iso, 1<<20, -1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "tx"
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes = 1 << 20
			ft.Partitions = append(ft.Partitions, fp)
			freq.Topics = append(freq.Topics, ft)
			fresp, err := freq.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			p := fresp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 || p.HighWatermark != 7 || p.LastStableOffset != 6 {
				t.Fatalf("fetch v%d isolation %d: error %d HW %d LSO %d", v, iso, p.ErrorCode, p.HighWatermark, p.LastStableOffset)
			}
			var last int64 = -1
			for raw := p.RecordBatches; len(raw) > 0; {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(raw); err != nil {
					t.Fatal(err)
				}
				last = rb.FirstOffset + int64(rb.LastOffsetDelta)
				raw = raw[12+rb.Length:]
			}
			switch iso {
			case 1:
				if len(p.AbortedTransactions) != 1 || p.AbortedTransactions[0].ProducerID != 1 || p.AbortedTransactions[0].FirstOffset != 0 {
					t.Fatalf("read_committed fetch v%d: aborted %+v", v, p.AbortedTransactions)
				}
				if last != 5 {
					t.Fatalf("read_committed fetch v%d: records up to %d, want up to 5 (the LSO is 6)", v, last)
				}
			default:
				if p.AbortedTransactions != nil || last != 6 {
					t.Fatalf("read_uncommitted fetch v%d: aborted %+v, records up to %d", v, p.AbortedTransactions, last)
				}
			}
		}
	}
	// At the LSO a read_committed fetch is empty, with an empty list.
	freq := kmsg.NewPtrFetchRequest()
	freq.Version, freq.IsolationLevel, freq.MaxBytes, freq.ReplicaID = 12, 1, 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "tx"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes = 6, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp, err := freq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := fresp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.AbortedTransactions == nil || len(p.AbortedTransactions) != 0 {
		t.Fatalf("read_committed fetch at the LSO: %+v", p)
	}

	// ListOffsets latest: the LSO for read_committed, the HW otherwise.
	for iso, want := range map[int8]int64{0: 7, 1: 6} {
		lreq := kmsg.NewPtrListOffsetsRequest()
		lreq.Version, lreq.IsolationLevel, lreq.ReplicaID = 8, iso, -1
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "tx"
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = -1
		lt.Partitions = append(lt.Partitions, lp)
		lreq.Topics = append(lreq.Topics, lt)
		lresp, err := lreq.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if got := lresp.Topics[0].Partitions[0].Offset; got != want {
			t.Fatalf("ListOffsets latest, isolation %d: %d, want %d", iso, got, want)
		}
	}

	// WriteTxnMarkers over the wire, with Kafka's refusals.
	for _, c := range []struct {
		name string
		req  *kmsg.WriteTxnMarkersRequest
		want int16
	}{
		{"older coordinator epoch than the producer's last marker", markerReq(1, "tx", 2, 0, 4, false, 0), kerr.TransactionCoordinatorFenced.Code},
		{"TV2 marker of the data's epoch", markerReq(2, "tx", 3, 0, 5, false, 2), kerr.InvalidProducerEpoch.Code},
		{"unknown topic", markerReq(1, "nope", 3, 0, 5, false, 0), kerr.UnknownTopicOrPartition.Code},
		{"TV2 abort with the bumped epoch", markerReq(2, "tx", 3, 1, 5, false, 2), 0},
		{"older epoch after the bump", markerReq(1, "tx", 3, 0, 5, false, 0), kerr.InvalidProducerEpoch.Code},
	} {
		// To the broker itself: kgo would route by partition leader.
		kresp, err := cl.SeedBrokers()[0].Request(ctx, c.req)
		if err != nil {
			t.Fatal(err)
		}
		resp := kresp.(*kmsg.WriteTxnMarkersResponse)
		if codes := markerCodes(resp); len(codes) != 1 || codes[0] != c.want {
			t.Fatalf("%s: %v, want %s", c.name, codes, kerr.ErrorForCode(c.want))
		}
	}
	if hw, lso := l.HighWatermark(), l.LastStableOffset(); hw != 8 || lso != 8 {
		t.Fatalf("after aborting the open transaction: HW %d LSO %d", hw, lso)
	}
	if got := l.AbortedTransactions(0, 8); len(got) != 2 || got[1].ProducerID != 3 || got[1].FirstOffset != 6 || got[1].LastOffset != 7 {
		t.Fatalf("aborted transactions: %+v", got)
	}
}

func TestDescribeProducers(t *testing.T) {
	b := newTxnLogBroker(t, "dp")
	l := b.partition("dp", 0)
	if _, err := l.Append(plainRecords("x")); err != nil { // 0: no producer
		t.Fatal(err)
	}
	if _, err := l.Append(txnRecords(7, 2, 0, "a", "b")); err != nil { // 1-2: open at 1
		t.Fatal(err)
	}
	if _, err := l.Append(txnRecords(9, 0, 0, "c")); err != nil { // 3
		t.Fatal(err)
	}
	if codes := markerCodes(b.writeTxnMarkers(context.Background(), markerReq(1, "dp", 9, 0, 3, true, 0))); !slices.Equal(codes, []int16{0}) {
		t.Fatalf("marker: %v", codes)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = "dp", []int32{0, 5}
	req.Topics = append(req.Topics, rt)
	rt.Topic = "missing"
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.SeedBrokers()[0].Request(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.DescribeProducersResponse)
	ps := resp.Topics[0].Partitions
	if len(ps) != 2 || ps[0].ErrorCode != 0 || ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("partitions: %+v", resp.Topics)
	}
	ap := ps[0].ActiveProducers
	if len(ap) != 2 {
		t.Fatalf("active producers: %+v", ap)
	}
	if p := ap[0]; p.ProducerID != 7 || p.ProducerEpoch != 2 || p.LastSequence != 1 || p.CurrentTxnStartOffset != 1 || p.CoordinatorEpoch != -1 || p.LastTimestamp <= 0 {
		t.Fatalf("producer 7 (open transaction): %+v", p)
	}
	if p := ap[1]; p.ProducerID != 9 || p.LastSequence != 0 || p.CurrentTxnStartOffset != -1 || p.CoordinatorEpoch != 3 {
		t.Fatalf("producer 9 (committed): %+v", p)
	}
}
