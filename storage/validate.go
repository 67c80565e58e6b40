package storage

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
)

// Compressed batches are checked on the append path the way Kafka's
// LogValidator checks them: the payload is decompressed and its records
// walked. A batch whose payload does not decompress, or holds other than
// the declared records, would otherwise be stored, acknowledged, and then
// fail every consumer that reaches it. The decompressed bytes are streamed
// through a small buffer and dropped, record by record: the batch is stored
// as produced, never recompressed, and validation holds only the
// decoder's state (bounded and budgeted, see codec.go), never the
// decompressed batch. A raw snappy payload is one block, decoded whole
// within the same bounds and walked in place.

// validateCompressed checks that the compressed records body of a batch
// decompresses to exactly n well-formed records with offset deltas 0..n-1,
// in at most limit bytes.
// visit, if not nil, is called for each record as walkRecords calls it.
func validateCompressed(codec int, body []byte, n int32, limit int64, visit recordVisitor) error {
	if codec == CodecSnappy && !bytes.HasPrefix(body, xerialMagic) {
		return validateSnappyBlock(body, n, limit, visit)
	}
	r, release, err := decompressor(codec, body, limit)
	if err != nil {
		return wrapErr(ErrCorruptMessage, "decompressing %s batch: %v", codecName(codec), err)
	}
	defer release()
	br := bufReaders.Get().(*bufio.Reader)
	br.Reset(io.LimitReader(r, limit+1))
	defer func() {
		br.Reset(nil)
		bufReaders.Put(br)
	}()
	err = walkRecordStream(&countingReader{r: br, limit: limit}, n, visit)
	var de *decompressError
	if err != nil && !errors.As(err, &de) {
		// Garbage records often come from a payload whose checksum fails
		// only at its end: report that if so, it says more.
		if _, derr := io.Copy(io.Discard, br); derr != nil {
			de = &decompressError{derr}
		}
	}
	if de != nil {
		return wrapErr(ErrCorruptMessage, "decompressing %s batch: %v", codecName(codec), de.err)
	}
	return err
}

// validateSnappyBlock decodes a raw snappy block whole (it has no
// streaming form) into a pooled buffer and walks its records there.
func validateSnappyBlock(body []byte, n int32, limit int64, visit recordVisitor) error {
	r, release, err := snappyReader(body, limit)
	if err != nil {
		return wrapErr(ErrCorruptMessage, "decompressing snappy batch: %v", err)
	}
	defer release()
	s := r.(*snappyStream)
	raw, err := s2.Decode(s.buf[:cap(s.buf)], body)
	if err != nil {
		return wrapErr(ErrCorruptMessage, "decompressing snappy batch: %v", err)
	}
	return walkRecords(raw, n, true, visit)
}

var bufReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// decompressError marks a failure of the decompressor (as opposed to
// records that decompress but are malformed).
type decompressError struct{ err error }

func (e *decompressError) Error() string { return e.err.Error() }

// countingReader reads a decompressed stream, counting bytes; more than
// limit is a decompression failure (the reader under it stops one byte
// past limit).
type countingReader struct {
	r     *bufio.Reader
	n     int64
	limit int64
}

func (c *countingReader) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
		if c.n > c.limit {
			err = tooBig(c.limit)
		}
	}
	return &decompressError{err}
}

func (c *countingReader) varint() (int64, error) {
	var ux uint64
	var s uint
	for i := 0; i < 10; i++ {
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, c.fail(err)
		}
		c.n++
		if b < 0x80 {
			if i == 9 && b > 1 {
				return 0, errors.New("varint overflows 64 bits")
			}
			ux |= uint64(b) << s
			x := int64(ux >> 1)
			if ux&1 != 0 {
				x = ^x
			}
			return x, nil
		}
		ux |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, errors.New("varint overflows 64 bits")
}

func (c *countingReader) skip(n int64) error {
	for n > 0 {
		k := int(min(n, 1<<30))
		d, err := c.r.Discard(k)
		c.n += int64(d)
		if err != nil {
			return c.fail(err)
		}
		n -= int64(d)
	}
	return nil
}

// walkRecordStream is walkRecords (strict) over a stream: exactly n
// records with offset deltas 0..n-1, each using exactly its declared
// length, and nothing after them.
func walkRecordStream(c *countingReader, n int32, visit recordVisitor) error {
	bad := func(i int32, what string, err error) error {
		var de *decompressError
		if errors.As(err, &de) {
			return err
		}
		if err != nil {
			return wrapErr(ErrCorruptMessage, "record %d: bad %s: %v", i, what, err)
		}
		return wrapErr(ErrCorruptMessage, "record %d: bad %s", i, what)
	}
	for i := int32(0); i < n; i++ {
		l, err := c.varint()
		if err != nil || l <= 0 {
			return bad(i, "length", err)
		}
		end := c.n + l
		left := func() int64 { return end - c.n }
		varBytes := func(what string) (int64, error) {
			k, err := c.varint()
			if err != nil || k < -1 || k > left() {
				return 0, bad(i, what, err)
			}
			if k > 0 {
				return k, c.skip(k)
			}
			return k, nil
		}
		if err := c.skip(1); err != nil { // attributes
			return err
		}
		tsDelta, err := c.varint()
		if err != nil || left() < 0 {
			return bad(i, "timestamp delta", err)
		}
		off, err := c.varint()
		if err != nil || left() < 0 {
			return bad(i, "offset delta", err)
		}
		if off != int64(i) {
			return wrapErr(ErrInvalidRecord, "record %d has offset delta %d", i, off)
		}
		keyLen, err := varBytes("key")
		if err != nil {
			return err
		}
		if _, err := varBytes("value"); err != nil {
			return err
		}
		nh, err := c.varint()
		if err != nil || nh < 0 || nh > left() {
			return bad(i, "header count", err)
		}
		for j := int64(0); j < nh; j++ {
			if _, err := varBytes("header key"); err != nil {
				return err
			}
			if _, err := varBytes("header value"); err != nil {
				return err
			}
		}
		if left() != 0 {
			return wrapErr(ErrCorruptMessage, "record %d: its fields do not fill its length %d", i, l)
		}
		if visit != nil {
			visit(i, tsDelta, keyLen)
		}
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		if err != nil {
			return c.fail(err)
		}
		return wrapErr(ErrCorruptMessage, "bytes after the %d declared records", n)
	}
	if c.n > c.limit {
		return &decompressError{tooBig(c.limit)}
	}
	return nil
}
