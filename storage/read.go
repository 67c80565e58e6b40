package storage

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Chunk is a byte range of a segment file, holding whole batches.
type Chunk struct {
	File     vfs.File
	Pos, Len int64
}

// ReadResult is the result of Read: byte ranges of segment files, so that
// the fetch path can copy them or later hand them to sendfile. The files
// stay open until Release, even if retention deletes their segments or the
// log is closed meanwhile.
type ReadResult struct {
	// Size is the total number of bytes in the chunks.
	Size int64
	// The log's offsets when the read was made, for the fetch response.
	HighWatermark, LogStartOffset, LogEndOffset int64
	// LastStableOffset when the read was made (see Log.LastStableOffset).
	LastStableOffset int64
	// NextOffset is the offset after the last batch returned (the read's
	// offset when none is): the end of what a consumer can have been
	// given, up to which AbortedTransactions is asked.
	NextOffset int64
	// Limited reports that the read stopped at its byte limit: reached,
	// or short of it by less than the next visible batch. Kafka, which
	// cuts a read at the limit rather than at a batch, sends the limit's
	// bytes then, a partial batch included (or, with minOne, the first
	// batch whole when it is larger).
	Limited bool

	chunks   []Chunk
	segs     []*segment
	chunkArr [2]Chunk
	segArr   [2]*segment
}

// Chunks returns the byte ranges, in log order. The slice is owned by r.
func (r *ReadResult) Chunks() []Chunk { return r.chunks }

// AppendTo appends the bytes of the result to dst.
func (r *ReadResult) AppendTo(dst []byte) ([]byte, error) {
	n := len(dst)
	dst = growBytes(dst, int(r.Size))
	for _, c := range r.chunks {
		if _, err := c.File.ReadAt(dst[n:n+int(c.Len)], c.Pos); err != nil {
			return dst[:n], ioErr("read segment", err)
		}
		n += int(c.Len)
	}
	return dst, nil
}

func growBytes(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// WriteTo writes the bytes of the result to w.
func (r *ReadResult) WriteTo(w io.Writer) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for _, c := range r.chunks {
		for pos, end := c.Pos, c.Pos+c.Len; pos < end; {
			n := min(int64(len(buf)), end-pos)
			if _, err := c.File.ReadAt(buf[:n], pos); err != nil {
				return total, ioErr("read segment", err)
			}
			m, err := w.Write(buf[:n])
			total += int64(m)
			if err != nil {
				return total, err
			}
			pos += n
		}
	}
	return total, nil
}

// Release lets go of the segment files. It is idempotent; the chunks must
// not be used afterwards.
func (r *ReadResult) Release() {
	for _, s := range r.segs {
		s.f.unpin()
		s.decRef()
	}
	r.segs, r.chunks = nil, nil
}

// errStaleIndex reports an index entry that does not point at the batch it
// names; the caller rebuilds the index and retries.
var errStaleIndex = errors.New("stale index entry")

// Read returns the batches starting at the one that contains offset, up to
// maxBytes (whole batches only), never past the high watermark. With
// minOne the first batch is returned whole even if larger than maxBytes
// (Kafka's rule); without it such a read is empty. A read can span
// segments.
//
// Offsets outside [LogStartOffset, HighWatermark] give ErrOffsetOutOfRange;
// offset == HighWatermark gives an empty result. The first batch may start
// before offset (and before LogStartOffset): consumers skip the records
// they did not ask for, as with Kafka. The caller must call Release.
func (l *Log) Read(offset int64, maxBytes int32, minOne bool) (*ReadResult, error) {
	return l.read(offset, maxBytes, minOne, false)
}

// ReadCommitted is Read for a read_committed consumer: it returns no batch
// at or after the last stable offset. An offset between the LSO and the
// high watermark gives an empty result, not an error (as Kafka's fetch
// with isolation level READ_COMMITTED).
func (l *Log) ReadCommitted(offset int64, maxBytes int32, minOne bool) (*ReadResult, error) {
	return l.read(offset, maxBytes, minOne, true)
}

func (l *Log) read(offset int64, maxBytes int32, minOne, committed bool) (*ReadResult, error) {
	r := &ReadResult{NextOffset: offset}
	r.chunks, r.segs = r.chunkArr[:0], r.segArr[:0]

	l.mu.RLock()
	if err := l.usableLocked(); err != nil {
		l.mu.RUnlock()
		return nil, err
	}
	r.HighWatermark, r.LogStartOffset, r.LogEndOffset = l.hw, l.logStart, l.leo
	r.LastStableOffset = l.lsoLocked()
	stop := l.hw // no batch at or after it is returned
	if committed {
		stop = r.LastStableOffset
	}
	hwBase, hwPos := l.hwBase, l.hwPos
	if offset < l.logStart || offset > l.hw {
		l.mu.RUnlock()
		return nil, wrapErr(ErrOffsetOutOfRange, "offset %d outside [%d, %d]", offset, r.LogStartOffset, r.HighWatermark)
	}
	if offset >= stop {
		l.mu.RUnlock()
		return r, nil
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	s := l.segs[max(i, 0)]
	s.incRef()
	limit := visibleLimit(s, hwBase, hwPos)
	l.mu.RUnlock()

	budget := int64(maxBytes)
	first := true
	for {
		start, end, next, full, err := l.readSegment(s, offset, limit, stop, budget, minOne && first)
		for try := 0; errors.Is(err, errStaleIndex); try++ {
			// The index was rebuilt: look again.
			if try == 2 {
				err = corruptErr(s.path, 0, "the index disagrees with the log even after a rebuild")
				l.fence(err)
				break
			}
			start, end, next, full, err = l.readSegment(s, offset, limit, stop, budget, minOne && first)
		}
		if err != nil {
			s.decRef()
			r.Release()
			return nil, err
		}
		if end > start {
			// The chunk names the open file itself, pinned until
			// Release: the fetch path sends from it after Read returns.
			f, err := s.f.pin()
			if err != nil {
				s.decRef()
				r.Release()
				return nil, ioErr("open "+s.path, err)
			}
			r.chunks = append(r.chunks, Chunk{File: f, Pos: start, Len: end - start})
			r.segs = append(r.segs, s)
			r.Size += end - start
			r.NextOffset = next
			budget -= end - start
			first = false
		} else {
			s.decRef()
		}
		if full {
			r.Limited = true
			return r, nil
		}
		if s.base >= hwBase {
			return r, nil
		}
		// The rest of the segment is visible and read: go on from its end,
		// in the segment holding it (the next one, or the one Compact has
		// merged the next ones into meanwhile).
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			return r, nil
		}
		from := s.end
		if from >= stop {
			l.mu.RUnlock()
			return r, nil
		}
		j := sort.Search(len(l.segs), func(j int) bool { return l.segs[j].end > from })
		if j == len(l.segs) {
			l.mu.RUnlock()
			return r, nil
		}
		offset = max(offset, from)
		s = l.segs[j]
		s.incRef()
		limit = visibleLimit(s, hwBase, hwPos)
		l.mu.RUnlock()
	}
}

// visibleLimit is the byte position up to which s is below the HW (Log.mu
// held).
func visibleLimit(s *segment, hwBase, hwPos int64) int64 {
	switch {
	case s.base < hwBase:
		return s.size
	case s.base == hwBase:
		return hwPos
	}
	return 0
}

// readSegment finds the batches of s from the one containing offset, up to
// limit bytes, the batch starting at or after offset stop, and budget
// bytes. next is the offset after the last batch found; full reports that
// the budget stopped the read.
func (l *Log) readSegment(s *segment, offset, limit, stop, budget int64, minOne bool) (start, end, next int64, full bool, err error) {
	if limit == 0 {
		return 0, 0, 0, false, nil
	}
	if err := l.ensureIndex(s); err != nil {
		return 0, 0, 0, false, err
	}
	s.imu.RLock()
	pos, want := indexLookup(s.idx, s.base, offset)
	s.imu.RUnlock()
	// Started from an index entry rather than the segment's start: a
	// mismatch at pos may be the entry's fault, not the log's.
	fromEntry := pos != 0 || want != s.base

	f, err := s.f.pin() // once for the scan, not per read of it
	if err != nil {
		return 0, 0, 0, false, ioErr("open "+s.path, err)
	}
	defer s.f.unpin()
	it := newBatchIter(f, pos, limit, false)
	defer it.release()
	start, end = -1, -1
	for {
		h, bpos, _, done, err := it.next()
		if done {
			break
		}
		if err == nil && h.BaseOffset < want {
			err = fmt.Errorf("%w: base offset %d, expected at least %d", errBadBatch, h.BaseOffset, want)
		}
		if err != nil {
			if !errors.Is(err, errBadBatch) {
				return 0, 0, 0, false, ioErr("read "+s.path, err)
			}
			if bpos == pos && fromEntry {
				// The index entry, not the log, may be wrong.
				l.log.Warn("index entry does not match the log, rebuilding", "segment", s.path, "position", pos)
				l.invalidateIndex(s)
				return 0, 0, 0, false, errStaleIndex
			}
			cerr := corruptErr(s.path, bpos, "%v", err)
			l.fence(cerr)
			return 0, 0, 0, false, cerr
		}
		if bpos == pos && fromEntry && h.BaseOffset != want {
			l.log.Warn("index entry does not match the log, rebuilding", "segment", s.path, "position", pos)
			l.invalidateIndex(s)
			return 0, 0, 0, false, errStaleIndex
		}
		if h.BaseOffset >= stop {
			break // the LSO (read_committed): nothing from here on
		}
		want = h.LastOffset() + 1
		if h.LastOffset() < offset {
			continue
		}
		if start < 0 {
			if h.Size() > budget && !minOne {
				return 0, 0, 0, true, nil
			}
			start = bpos
		} else if bpos+h.Size()-start > budget {
			return start, end, next, true, nil
		}
		end, next = bpos+h.Size(), h.LastOffset()+1
		if end-start >= budget {
			return start, end, next, true, nil
		}
	}
	if start < 0 {
		return 0, 0, 0, false, nil
	}
	return start, end, next, false, nil
}
