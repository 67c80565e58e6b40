package broker_test

import (
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Disk faults injected under a running broker through vfs.ErrorFS
// (broker.WithFS): ENOSPC and EIO on write and on fsync. Produce answers
// KAFKA_STORAGE_ERROR, nothing partial becomes visible, a full disk is
// survived once space returns, and a failed fsync is never taken back as a
// success: the partition stays fenced until the broker restarts and
// recovers it from what is on disk.

// startBrokerAt starts a broker on dir (a restart when dir holds data).
func startBrokerAt(t *testing.T, dir string, opts ...broker.Option) *broker.Broker {
	t.Helper()
	base := []broker.Option{
		broker.WithListen("127.0.0.1:0"),
		broker.WithDataDir(dir),
		broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
	b, err := broker.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// partitionLog matches the segment files of one partition.
func partitionLog(topic string, p int) func(string) bool {
	dir := "/" + topic + "-" + strconv.Itoa(p) + "/"
	return func(name string) bool { return strings.Contains(name, dir) && strings.HasSuffix(name, ".log") }
}

// rawClient sends requests on one connection and decodes their answers.
type rawClient struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func newRaw(t *testing.T, addr string) *rawClient { return &rawClient{t: t, c: dial(t, addr)} }

func (r *rawClient) do(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	r.corr++
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(frame(req, r.corr)); err != nil {
		r.t.Fatal(err)
	}
	return answer(r.t, r.c, req, r.corr)
}

// produce sends one batch of n records with acks=all; it returns the error
// code and base offset.
func (r *rawClient) produce(topic string, p int32, n int) (int16, int64) {
	r.t.Helper()
	resp := r.do(produceReq(topic, p, -1, goodBatch(n))).(*kmsg.ProduceResponse)
	sp := resp.Topics[0].Partitions[0]
	return sp.ErrorCode, sp.BaseOffset
}

// fetchAll reads partition p from 0: the error code and the records.
func (r *rawClient) fetchAll(topic string, p int32) (int16, int) {
	r.t.Helper()
	n := 0
	for off := int64(0); ; {
		resp := r.do(fetchReq(topic, p, off)).(*kmsg.FetchResponse)
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			return sp.ErrorCode, n
		}
		var got int
		off, got = countRecords(r.t, sp.RecordBatches, off)
		n += got
		if off >= sp.HighWatermark {
			return 0, n
		}
	}
}

// countRecords walks fetched batches from offset from, checking that they
// are whole and contiguous; it returns the next offset and the count.
func countRecords(t *testing.T, b []byte, from int64) (int64, int) {
	t.Helper()
	n := 0
	for len(b) > 0 {
		h, err := storage.ParseBatchHeader(b)
		if err != nil {
			t.Fatalf("fetched a bad batch at %d: %v", from, err)
		}
		if h.BaseOffset != from {
			t.Fatalf("batch at %d, expected %d: a gap or a partial write is visible", h.BaseOffset, from)
		}
		from = h.LastOffset() + 1
		n += int(h.NumRecords)
		b = b[h.Size():]
	}
	return from, n
}

func (r *rawClient) listEnd(topic string, p int32) (int16, int64) {
	r.t.Helper()
	sp := r.do(proctest.ListEndRequest(topic, p)).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	return sp.ErrorCode, sp.Offset
}

func expectCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if want == nil && got != 0 {
		t.Fatalf("%s: %v, want success", what, kerr.ErrorForCode(got))
	}
	if want != nil && got != want.Code {
		t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

func TestDiskFullOnWrite(t *testing.T) {
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, t.TempDir(), broker.WithFS(efs))
	ctx := testCtx(t, 60*time.Second)
	createTopic(t, newClient(t, b.Addr()), "disk", 2)
	r := newRaw(t, b.Addr())
	for i := 0; i < 3; i++ {
		code, _ := r.produce("disk", 0, 5)
		expectCode(t, "produce before the disk fills", code, nil)
	}

	// The disk fills in the middle of a batch: a torn write of 100 bytes.
	remove := efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: partitionLog("disk", 0), Err: syscall.ENOSPC, Torn: 100})
	for i := 0; i < 3; i++ {
		code, _ := r.produce("disk", 0, 5)
		expectCode(t, "produce on a full disk", code, kerr.KafkaStorageError)
	}
	// A full disk is full for every partition: the broker is read-only
	// (diskspace.go) until space returns.
	code, _ := r.produce("disk", 1, 5)
	expectCode(t, "produce to another partition", code, kerr.KafkaStorageError)
	code, end := r.listEnd("disk", 0)
	expectCode(t, "list offsets on a full disk", code, nil)
	if end != 15 {
		t.Fatalf("log end %d after refused appends, want 15", end)
	}
	code, n := r.fetchAll("disk", 0)
	expectCode(t, "fetch on a full disk", code, nil)
	if n != 15 {
		t.Fatalf("%d records readable, want 15: a refused append is visible", n)
	}

	// A real producer retries KAFKA_STORAGE_ERROR; when space returns its
	// records go in, once each.
	prod := newClient(t, b.Addr(), kgo.DefaultProduceTopic("disk"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	done := make(chan error, 1)
	go func() {
		done <- prod.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("after")}).FirstErr()
	}()
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("produce on a full disk returned %v", err)
	default:
	}
	remove()
	if err := <-done; err != nil {
		t.Fatalf("produce after space returned: %v", err)
	}
	code, _ = r.produce("disk", 0, 5)
	expectCode(t, "produce after space returned", code, nil)
	code, n = r.fetchAll("disk", 0)
	expectCode(t, "fetch after space returned", code, nil)
	if n != 21 {
		t.Fatalf("%d records after space returned, want 21", n)
	}
}

// fenceByEIO starts a broker in dir whose topic "eio" (2 partitions) has
// 20 acknowledged records in partition 0, then fences that partition
// with one EIO on a write (the batch torn after 30 bytes).
func fenceByEIO(t *testing.T, dir string) (*broker.Broker, *rawClient) {
	t.Helper()
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, dir, broker.WithFS(efs))
	createTopic(t, newClient(t, b.Addr()), "eio", 2)
	r := newRaw(t, b.Addr())
	for i := 0; i < 4; i++ {
		code, _ := r.produce("eio", 0, 5)
		expectCode(t, "produce", code, nil)
	}
	remove := efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: partitionLog("eio", 0), Err: syscall.EIO, Torn: 30, Times: 1})
	code, _ := r.produce("eio", 0, 5)
	expectCode(t, "produce hitting EIO", code, kerr.KafkaStorageError)
	remove()
	return b, r
}

func TestEIOOnWriteFencesPartition(t *testing.T) {
	dir := t.TempDir()
	b, r := fenceByEIO(t, dir)
	// An I/O error other than a full disk fences the partition: the page
	// cache can no longer be trusted. Everything on it fails; the other
	// partition is served.
	code, _ := r.produce("eio", 0, 5)
	expectCode(t, "produce after EIO", code, kerr.KafkaStorageError)
	code, _ = r.fetchAll("eio", 0)
	expectCode(t, "fetch after EIO", code, kerr.KafkaStorageError)
	code, _ = r.listEnd("eio", 0)
	expectCode(t, "list offsets after EIO", code, kerr.KafkaStorageError)
	code, _ = r.produce("eio", 1, 5)
	expectCode(t, "produce to the other partition", code, nil)

	// A restart recovers the partition from disk: the 20 acknowledged
	// records, not the torn batch.
	b.Close()
	b = startBrokerAt(t, dir)
	r = newRaw(t, b.Addr())
	code, n := r.fetchAll("eio", 0)
	expectCode(t, "fetch after restart", code, nil)
	if n != 20 {
		t.Fatalf("%d records after restart, want the 20 acknowledged", n)
	}
	code, base := r.produce("eio", 0, 5)
	expectCode(t, "produce after restart", code, nil)
	if base != 20 {
		t.Fatalf("produce after restart at offset %d, want 20", base)
	}
}

func TestFsyncFailureIsNeverRetriedAsSuccess(t *testing.T) {
	for _, cause := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
		t.Run(cause.Error(), func(t *testing.T) {
			dir := t.TempDir()
			efs := vfs.NewErrorFS(nil)
			b := startBrokerAt(t, dir, broker.WithFS(efs))
			createTopic(t, newClient(t, b.Addr()), "sync", 2)
			r := newRaw(t, b.Addr())
			for i := 0; i < 4; i++ {
				code, _ := r.produce("sync", 0, 5)
				expectCode(t, "produce", code, nil)
			}
			remove := efs.Inject(vfs.Fault{Op: vfs.OpSync, Match: partitionLog("sync", 0), Err: cause, Times: 1})
			code, _ := r.produce("sync", 0, 5)
			expectCode(t, "produce whose fsync fails", code, kerr.KafkaStorageError)
			remove()
			// The next fsync would succeed, but the failed one is not
			// forgotten: the partition stays fenced.
			for i := 0; i < 3; i++ {
				code, _ = r.produce("sync", 0, 5)
				expectCode(t, "produce after a failed fsync", code, kerr.KafkaStorageError)
			}
			code, _ = r.fetchAll("sync", 0)
			expectCode(t, "fetch after a failed fsync", code, kerr.KafkaStorageError)
			code, _ = r.listEnd("sync", 0)
			expectCode(t, "list offsets after a failed fsync", code, kerr.KafkaStorageError)
			if cause == syscall.ENOSPC {
				// A full disk makes the whole broker read-only until the
				// space is back (diskspace.go); here it is, at once.
				waitWritable(t, b)
			}
			code, _ = r.produce("sync", 1, 5)
			expectCode(t, "produce to the other partition", code, nil)

			// After a restart the acknowledged records are all there. The
			// batch whose fsync failed was never acknowledged; it may be
			// on disk (the write reached the page cache) or not.
			b.Close()
			b = startBrokerAt(t, dir)
			r = newRaw(t, b.Addr())
			code, n := r.fetchAll("sync", 0)
			expectCode(t, "fetch after restart", code, nil)
			if n != 20 && n != 25 {
				t.Fatalf("%d records after restart, want the 20 acknowledged (and maybe the 5 unacknowledged)", n)
			}
			code, _ = r.produce("sync", 0, 5)
			expectCode(t, "produce after restart", code, nil)
		})
	}
}
