package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// clock is an injectable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *clock) Ms() int64 { return c.Now().UnixMilli() }

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type env struct {
	t     *testing.T
	dir   string
	cfg   Config
	opts  Options
	clock *clock
	efs   *vfs.ErrorFS
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := newClock()
	e := &env{t: t, dir: t.TempDir(), cfg: DefaultConfig(), clock: c, efs: vfs.NewErrorFS(nil)}
	e.opts = Options{FS: e.efs, Fsync: FsyncNever, Logger: quietLogger(), Now: c.Now}
	return e
}

func (e *env) open() *Log {
	e.t.Helper()
	l, err := Open(e.dir, e.cfg, e.opts)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.t.Cleanup(func() { l.Close() })
	return l
}

// batch builds an uncompressed batch of n records with values of size
// bytes, timestamps ts, ts+1, ...
func batch(n, size int, ts int64) []byte {
	recs := make([]Record, n)
	for i := range recs {
		v := make([]byte, size)
		copy(v, fmt.Sprintf("v%d", i))
		recs[i] = Record{Timestamp: ts + int64(i), Key: []byte(fmt.Sprintf("k%d", i)), Value: v}
	}
	return BuildBatch(ts, recs)
}

// idem turns b into an idempotent producer's batch.
func idem(b []byte, pid int64, epoch int16, seq int32) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(pid))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(seq))
	setCRC(b)
	return b
}

func mustAppend(t *testing.T, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(bytes.Clone(b))
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// readAll reads every visible record from offset on, in small reads; an
// empty read below the HW fails the test.
func readAll(t *testing.T, l *Log, from int64) []Record {
	t.Helper()
	return readRecords(t, l, from, false)
}

// readRecords reads every visible record from offset on, in small reads.
// An empty read below the HW ends the read when emptyOK, else fails.
func readRecords(t *testing.T, l *Log, from int64, emptyOK bool) []Record {
	t.Helper()
	var out []Record
	for off := from; off < l.HighWatermark(); {
		r, err := l.Read(off, 3000, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		b, err := r.AppendTo(nil)
		r.Release()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			if emptyOK {
				break
			}
			t.Fatalf("empty read at %d below HW %d", off, l.HighWatermark())
		}
		recs, next, err := DecodeBatches(b, off)
		if err != nil {
			t.Fatalf("read back a bad batch: %v", err)
		}
		out = append(out, recs...)
		off = next
	}
	return out
}
