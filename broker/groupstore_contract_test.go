package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/group/storetest"
	"github.com/rewindhq/rewind/storage/vfs"
)

// The broker's group.Store, offsetsStore over the __consumer_offsets
// logs, keeps the contract the group tests' fake keeps: the suite of
// group/storetest on a real data directory, with faults injected through
// vfs.ErrorFS, the full disk of diskspace.go, and reopening as a restart
// of the broker on the same directory.
func TestOffsetsStoreContract(t *testing.T) {
	storetest.Run(t, newStoreHarness)
}

// offsetsMaxMessageBytes is max.message.bytes of __consumer_offsets: the
// topic has no override, so Kafka's default.
const offsetsMaxMessageBytes = 1048588

func newStoreHarness(t testing.TB) *storetest.Harness {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(nil)
	st := &syncStalls{held: map[int32]chan struct{}{}}
	efs.SetHook(st.hook)
	var b *Broker
	open := func(t testing.TB) {
		var err error
		b, err = New(WithListen("127.0.0.1:0"), WithDataDir(dir), WithFS(efs),
			WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			func(c *Config) {
				c.OffsetsTopicPartitions = 4
				c.DiskReserve = 256 << 10
				c.DiskCheckInterval = 20 * time.Millisecond
			})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			b.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
	}
	open(t)
	inPartition := func(p int32, suffix string) func(string) bool {
		dir := fmt.Sprintf("/%s-%d/", OffsetsTopic, p)
		return func(name string) bool { return strings.Contains(name, dir) && strings.HasSuffix(name, suffix) }
	}
	h := &storetest.Harness{
		Store:           offsetsStore{b},
		Partitions:      4,
		MaxMessageBytes: offsetsMaxMessageBytes,
		// Under fsync=always (the default) every partition's commits are
		// made durable by one journal (storage.Journal).
		SharedSync: true,
	}
	h.Read = func(t testing.TB, p int32) []group.Record {
		t.Helper()
		var out []group.Record
		err := b.replayOffsets(p, func(_ int32, _ int64, _ group.Batch, k, v []byte, ts int64) error {
			out = append(out, group.Record{Key: k, Value: v, Timestamp: ts})
			return nil
		})
		if err != nil {
			t.Fatalf("read %s-%d: %v", OffsetsTopic, p, err)
		}
		return out
	}
	h.ReadBatches = func(t testing.TB, p int32) []group.Batch {
		t.Helper()
		var out []group.Batch
		err := b.replayOffsets(p, func(_ int32, _ int64, bt group.Batch, _, _ []byte, _ int64) error {
			out = append(out, bt)
			return nil
		})
		if err != nil {
			t.Fatalf("read %s-%d: %v", OffsetsTopic, p, err)
		}
		return out
	}
	h.Reopen = func(t testing.TB) group.Store {
		if err := b.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		efs.Reset() // faults and the hook
		efs.SetHook(st.hook)
		open(t)
		return offsetsStore{b}
	}
	h.Full = func(t testing.TB) func() {
		// The reserve cannot be made again while the fault is armed, so
		// the broker stays read-only although this test's disk has room.
		remove := efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Base("disk.reserve"), Err: syscall.ENOSPC})
		b.disk.enter("storetest: full disk")
		return func() {
			remove()
			deadline := time.Now().Add(10 * time.Second)
			for b.ReadOnly() != nil {
				if time.Now().After(deadline) {
					t.Fatalf("still read-only 10 s after space returned: %v", b.ReadOnly())
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	h.Fence = func(_ testing.TB, p int32) {
		b.fenceOffsets(p, errors.New("storetest: fenced"))
	}
	h.FailWrite = func(_ testing.TB, p int32) {
		efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: inPartition(p, ".log"), Err: syscall.EIO, Times: 1})
	}
	h.FailSync = func(_ testing.TB, p int32) {
		// The fsync that makes p's appends durable is the journal's.
		efs.Inject(vfs.Fault{Op: vfs.OpSync, Match: isJournal, Err: syscall.EIO, Times: 1})
	}
	h.Stall = func(_ testing.TB, p int32) func() { return st.stall(p) }
	return h
}

// syncStalls holds the fsyncs of chosen __consumer_offsets partitions
// (the ErrorFS hook runs before each operation, outside its locks).
type syncStalls struct {
	mu   sync.Mutex
	held map[int32]chan struct{}
}

func (s *syncStalls) hook(op vfs.Op, name string) {
	if op != vfs.OpSync {
		return
	}
	s.mu.Lock()
	var ch chan struct{}
	for p, c := range s.held {
		// The journal's fsync makes every partition's appends durable.
		if isJournal(name) || strings.Contains(name, fmt.Sprintf("/%s-%d/", OffsetsTopic, p)) {
			ch = c
		}
	}
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// isJournal matches the files of the __consumer_offsets journal.
func isJournal(name string) bool {
	return strings.HasPrefix(filepath.Base(name), OffsetsTopic+".") && strings.HasSuffix(name, ".journal")
}

func (s *syncStalls) stall(p int32) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.held[p] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.held, p)
			s.mu.Unlock()
			close(ch)
		})
	}
}
