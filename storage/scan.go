package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/rewindhq/rewind/storage/vfs"
)

// errBadBatch is the cause for a batch found malformed on disk. Callers
// decide whether that is a torn tail (truncate) or corruption (fence).
var errBadBatch = errors.New("malformed batch")

const scanBufSize = 64 << 10

var scanBufs = sync.Pool{New: func() any { b := make([]byte, scanBufSize); return &b }}

// batchIter walks the batches of a segment file between pos and limit,
// reading ahead in one buffer so that walking small batches costs one
// ReadAt per buffer, not per batch.
type batchIter struct {
	f     vfs.File
	pos   int64 // position of the next batch
	limit int64
	full  bool // next returns whole batches and checks their CRC

	buf    []byte
	pooled *[]byte
	bufPos int64
	bufLen int
	big    []byte
}

func newBatchIter(f vfs.File, pos, limit int64, full bool) batchIter {
	it := batchIter{f: f, pos: pos, limit: limit, full: full}
	it.pooled = scanBufs.Get().(*[]byte)
	it.buf = *it.pooled
	return it
}

func (it *batchIter) release() {
	if it.pooled != nil {
		scanBufs.Put(it.pooled)
		it.pooled, it.buf = nil, nil
	}
}

// window returns the n bytes at pos, reading them if they are not buffered.
// The slice is valid until the next call.
func (it *batchIter) window(pos int64, n int) ([]byte, error) {
	if pos >= it.bufPos && pos+int64(n) <= it.bufPos+int64(it.bufLen) {
		off := int(pos - it.bufPos)
		return it.buf[off : off+n], nil
	}
	if n > len(it.buf) {
		if cap(it.big) < n {
			it.big = make([]byte, n)
		}
		b := it.big[:n]
		if _, err := it.f.ReadAt(b, pos); err != nil {
			return nil, readErr(err)
		}
		return b, nil
	}
	m := int(min(int64(len(it.buf)), it.limit-pos))
	if m < n {
		return nil, fmt.Errorf("%w: reading %d bytes at %d past the limit %d", errBadBatch, n, pos, it.limit)
	}
	if _, err := it.f.ReadAt(it.buf[:m], pos); err != nil {
		return nil, readErr(err)
	}
	it.bufPos, it.bufLen = pos, m
	return it.buf[:n], nil
}

// readErr turns a short read (the file is shorter than we believed) into a
// malformed-batch error; other errors are I/O errors.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: file shorter than expected", errBadBatch)
	}
	return err
}

// next decodes the batch at it.pos and advances past it. done is true at
// the limit. With it.full, batch holds the whole batch (valid until the next
// call) and its CRC has been checked. Malformed data gives an error wrapping
// errBadBatch; it.pos is then left at the bad batch.
func (it *batchIter) next() (h BatchHeader, pos int64, batch []byte, done bool, err error) {
	pos = it.pos
	if pos >= it.limit {
		return h, pos, nil, true, nil
	}
	if it.limit-pos < BatchHeaderSize {
		return h, pos, nil, false, fmt.Errorf("%w: %d trailing bytes, less than a batch header", errBadBatch, it.limit-pos)
	}
	hb, err := it.window(pos, BatchHeaderSize)
	if err != nil {
		return h, pos, nil, false, err
	}
	h = decodeHeader(hb)
	if h.Magic != 2 {
		return h, pos, nil, false, fmt.Errorf("%w: magic %d", errBadBatch, h.Magic)
	}
	if h.Length < minLength || pos+h.Size() > it.limit {
		return h, pos, nil, false, fmt.Errorf("%w: length %d does not fit in the %d bytes left", errBadBatch, h.Length, it.limit-pos)
	}
	if h.LastOffsetDelta < 0 {
		return h, pos, nil, false, fmt.Errorf("%w: last offset delta %d", errBadBatch, h.LastOffsetDelta)
	}
	if it.full {
		if batch, err = it.window(pos, int(h.Size())); err != nil {
			return h, pos, nil, false, err
		}
		if crc := crc32.Checksum(batch[offAttributes:], castagnoli); crc != h.CRC {
			return h, pos, nil, false, fmt.Errorf("%w: CRC-32C mismatch (header %#08x, computed %#08x)", errBadBatch, h.CRC, crc)
		}
	}
	it.pos = pos + h.Size()
	return h, pos, batch, false, nil
}

// readBatch reads the whole batch starting at pos (whose size is known from
// its header) into a fresh slice.
func readBatch(f vfs.File, pos, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := f.ReadAt(b, pos); err != nil {
		return nil, readErr(err)
	}
	return b, nil
}
