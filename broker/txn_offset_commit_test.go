package broker

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/rewindhq/rewind/group"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit over the wire, against the real __consumer_offsets
// logs: the offsets are written in a transactional batch of the
// producer and pending until the marker the group coordinator appends
// (WriteTxnMarkers for a __consumer_offsets partition goes to the group
// coordinator's CompleteTxn), across restarts of the broker.

// rawConn sends requests at exactly the version set (kgo would pick its
// own) and decodes their answers.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	f    *kmsg.RequestFormatter
	corr int32
}

func (r *rawConn) Request(_ context.Context, req kmsg.Request) (kmsg.Response, error) {
	r.t.Helper()
	r.corr++
	if _, err := r.c.Write(r.f.AppendRequest(nil, req, r.corr)); err != nil {
		return nil, err
	}
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, body); err != nil {
		return nil, err
	}
	body = body[4:] // correlation id
	if req.IsFlexible() {
		body = body[1:] // no tagged fields in the header
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	return resp, resp.ReadFrom(body)
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("txn-test"))}
}

func startTxnBroker(t *testing.T, dir string) (*Broker, *rawConn) {
	t.Helper()
	b, err := New(WithListen("127.0.0.1:0"), WithDataDir(dir), WithGroupInitialRebalanceDelay(0),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	// These tests drive the group side alone, with producer ids of their
	// own and markers sent by WriteTxnMarkers, as Kafka's group
	// coordinator tests do: the transaction coordinator's verification
	// (TestTxnOffsetCommitVerified) is left out.
	b.txnVerify = nil
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dialRaw(t, b.Addr())
}

func txnCommit(t *testing.T, cl *rawConn, v int16, grp string, pid int64, epoch int16, topic string, topicID [16]byte, part int32, off int64) int16 {
	t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = v, "tx", grp, pid, epoch
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = part, off
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("TxnOffsetCommit v%d: %v", v, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("TxnOffsetCommit v%d answered %d topics", v, len(resp.Topics))
	}
	if v >= 6 && resp.Topics[0].TopicID != topicID {
		t.Fatalf("TxnOffsetCommit v6 answered topic id %x, want %x", resp.Topics[0].TopicID, topicID)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// stableFetch is an OffsetFetch v7 with RequireStable of one partition.
func stableFetch(t *testing.T, cl *rawConn, grp, topic string, part int32, stable bool) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, grp, stable
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{part}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.Offset
}

func createTopic(t *testing.T, cl *rawConn, name string, parts int32) [16]byte {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s: %v %v", name, err, resp)
	}
	return resp.Topics[0].TopicID
}

func want(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
	}
}

func TestTxnOffsetCommitPendingUntilMarker(t *testing.T) {
	dir := t.TempDir()
	b, cl := startTxnBroker(t, dir)
	id := createTopic(t, cl, "in", 2)
	want(t, "TxnOffsetCommit v3", txnCommit(t, cl, 3, "g", 4000, 0, "in", id, 0, 5), 0)
	code, off := stableFetch(t, cl, "g", "in", 0, true)
	want(t, "RequireStable fetch of a pending partition", code, kerr.UnstableOffsetCommit.Code)
	if code, off = stableFetch(t, cl, "g", "in", 0, false); code != 0 || off != -1 {
		t.Fatalf("plain fetch of a pending partition: %v %d, want -1", kerr.ErrorForCode(code), off)
	}

	// The record is in __consumer_offsets as Kafka writes it: an
	// OffsetCommit record in a transactional batch of the producer.
	p := b.grp.PartitionFor("g")
	var batches []group.Batch
	if err := b.replayOffsets(p, func(_ int32, _ int64, bt group.Batch, _, _ []byte, _ int64) error {
		batches = append(batches, bt)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(batches) != 1 || batches[0] != (group.Batch{ProducerID: 4000, ProducerEpoch: 0, Transactional: true}) {
		t.Fatalf("__consumer_offsets-%d holds %+v, want one transactional record of producer 4000", p, batches)
	}

	// A second commit of the same transaction (sequence 0 again at
	// Kafka's coordinator) is written too.
	want(t, "second TxnOffsetCommit", txnCommit(t, cl, 3, "g", 4000, 0, "in", id, 1, 7), 0)
	// A stale epoch is refused by the log's producer state.
	want(t, "TxnOffsetCommit of an older epoch", txnCommit(t, cl, 3, "g", 4001, 2, "in", id, 0, 1), 0)
	want(t, "then an older epoch", txnCommit(t, cl, 3, "g", 4001, 1, "in", id, 0, 1), kerr.InvalidProducerEpoch.Code)

	// A transaction open at a restart stays pending; its marker, written
	// after the restart, applies it.
	b.Close()
	b, cl = startTxnBroker(t, dir)
	code, _ = stableFetch(t, cl, "g", "in", 1, true)
	want(t, "RequireStable after a restart", code, kerr.UnstableOffsetCommit.Code)
	want(t, "commit marker", writeMarker(t, cl, p, 4000, 0, true), 0)
	if code, off := stableFetch(t, cl, "g", "in", 1, true); code != 0 || off != 7 {
		t.Fatalf("in/1 after the commit marker: %v %d, want 7", kerr.ErrorForCode(code), off)
	}
	// in/0 also holds producer 4001's offset, still pending.
	code, _ = stableFetch(t, cl, "g", "in", 0, true)
	want(t, "in/0 with another transaction open", code, kerr.UnstableOffsetCommit.Code)
	if code, off := stableFetch(t, cl, "g", "in", 0, false); code != 0 || off != 5 {
		t.Fatalf("in/0 after the commit marker: %v %d, want 5", kerr.ErrorForCode(code), off)
	}
	// Producer 4001's transaction aborts: partition 0 keeps 5.
	want(t, "abort marker of an older epoch", writeMarker(t, cl, p, 4001, 1, false), kerr.InvalidProducerEpoch.Code)
	want(t, "abort marker", writeMarker(t, cl, p, 4001, 2, false), 0)
	if code, off := stableFetch(t, cl, "g", "in", 0, true); code != 0 || off != 5 {
		t.Fatalf("in/0 after the abort marker: %v %d, want 5", kerr.ErrorForCode(code), off)
	}
	b.Close()
	_, cl = startTxnBroker(t, dir)
	if code, off := stableFetch(t, cl, "g", "in", 0, true); code != 0 || off != 5 {
		t.Fatalf("in/0 after a restart: %v %d, want 5", kerr.ErrorForCode(code), off)
	}
}

// writeMarker sends WriteTxnMarkers v1 (transaction version 0 checks) for
// one __consumer_offsets partition: the group coordinator writes it.
func writeMarker(t *testing.T, cl *rawConn, p int32, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, commit
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = OffsetsTopic, []int32{p}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
}

// Request errors answered before the coordinator: unknown topics and
// partitions, v6 topic ids, an empty group id; unknown groups and members.
func TestTxnOffsetCommitErrors(t *testing.T) {
	_, cl := startTxnBroker(t, t.TempDir())
	id := createTopic(t, cl, "in", 1)
	want(t, "unknown topic", txnCommit(t, cl, 3, "g", 1, 0, "nope", [16]byte{}, 0, 1), kerr.UnknownTopicOrPartition.Code)
	want(t, "unknown partition", txnCommit(t, cl, 3, "g", 1, 0, "in", id, 9, 1), kerr.UnknownTopicOrPartition.Code)
	want(t, "empty group", txnCommit(t, cl, 3, "", 1, 0, "in", id, 0, 1), kerr.InvalidGroupID.Code)
	want(t, "v6 by topic id", txnCommit(t, cl, 6, "g6", 1, 0, "", id, 0, 1), 0)
	want(t, "v6 unknown topic id", txnCommit(t, cl, 6, "g6", 1, 0, "", [16]byte{1}, 0, 1), kerr.UnknownTopicID.Code)
	if code, _ := stableFetch(t, cl, "g6", "in", 0, true); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("v6 commit by id not pending under its topic's name: %v", kerr.ErrorForCode(code))
	}

	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group, req.ProducerID = 3, "tx", "unknown", 1
	req.Generation, req.MemberID = 1, "m"
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "in"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "unknown group with a generation", resp.Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration.Code)
}
