package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compressed batches are checked on the append path the way Kafka's
// LogValidator checks them: the payload is decompressed and its records
// walked. A batch whose payload does not decompress, or holds other than
// the declared records, would otherwise be stored, acknowledged, and then
// fail every consumer that reaches it. The decompressed bytes are streamed
// through a small buffer and dropped: the batch is stored as produced,
// never recompressed, and validation costs no memory in proportion to the
// decompressed size (a gzip bomb is only CPU, bounded by maxDecompressed).
// Snappy has no streaming form for raw blocks; its expansion is bounded
// (about 21x), so it is decompressed whole.

// validateCompressed checks that the compressed records body of a batch
// decompresses to exactly n well-formed records with offset deltas 0..n-1.
func validateCompressed(codec int, body []byte, n int32) error {
	if codec == CodecSnappy {
		raw, err := decompress(codec, body)
		if err != nil {
			return wrapErr(ErrCorruptMessage, "decompressing snappy batch: %v", err)
		}
		return walkRecords(raw, n, true, nil)
	}
	r, release, err := decompressor(codec, body)
	if err != nil {
		return wrapErr(ErrCorruptMessage, "decompressing %s batch: %v", codecName(codec), err)
	}
	defer release()
	br := bufReaders.Get().(*bufio.Reader)
	br.Reset(io.LimitReader(r, maxDecompressed+1))
	defer func() {
		br.Reset(nil)
		bufReaders.Put(br)
	}()
	err = walkRecordStream(&countingReader{r: br}, n)
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

func codecName(c int) string {
	switch c {
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLz4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	if c == CodecNone {
		return "none"
	}
	return fmt.Sprintf("codec %d", c)
}

var (
	bufReaders  = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}
	gzipReaders sync.Pool // *gzip.Reader
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	zstdReaders sync.Pool // *zstd.Decoder (synchronous, concurrency 1)
)

// decompressor returns a streaming reader of body's decompressed bytes and
// a function returning it to its pool.
func decompressor(codec int, body []byte) (io.Reader, func(), error) {
	src := bytes.NewReader(body)
	switch codec {
	case CodecGzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(src)
		} else {
			err = zr.Reset(src)
		}
		if err != nil {
			return nil, func() {}, err
		}
		return zr, func() { gzipReaders.Put(zr) }, nil
	case CodecLz4:
		lr := lz4Readers.Get().(*lz4.Reader)
		lr.Reset(src)
		return lr, func() { lr.Reset(nil); lz4Readers.Put(lr) }, nil
	case CodecZstd:
		zr, _ := zstdReaders.Get().(*zstd.Decoder)
		var err error
		if zr == nil {
			zr, err = zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
		} else {
			err = zr.Reset(src)
		}
		if err != nil {
			if zr != nil {
				zr.Close()
			}
			return nil, func() {}, err
		}
		return zr, func() { zr.Reset(nil); zstdReaders.Put(zr) }, nil
	}
	return nil, func() {}, errors.New("unknown compression codec")
}

// decompressError marks a failure of the decompressor (as opposed to
// records that decompress but are malformed).
type decompressError struct{ err error }

func (e *decompressError) Error() string { return e.err.Error() }

// countingReader reads a decompressed stream, counting bytes.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
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
func walkRecordStream(c *countingReader, n int32) error {
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
		varBytes := func(what string) error {
			k, err := c.varint()
			if err != nil || k < -1 || k > left() {
				return bad(i, what, err)
			}
			if k > 0 {
				return c.skip(k)
			}
			return nil
		}
		if err := c.skip(1); err != nil { // attributes
			return err
		}
		if _, err := c.varint(); err != nil || left() < 0 {
			return bad(i, "timestamp delta", err)
		}
		off, err := c.varint()
		if err != nil || left() < 0 {
			return bad(i, "offset delta", err)
		}
		if off != int64(i) {
			return wrapErr(ErrInvalidRecord, "record %d has offset delta %d", i, off)
		}
		if err := varBytes("key"); err != nil {
			return err
		}
		if err := varBytes("value"); err != nil {
			return err
		}
		nh, err := c.varint()
		if err != nil || nh < 0 || nh > left() {
			return bad(i, "header count", err)
		}
		for j := int64(0); j < nh; j++ {
			if err := varBytes("header key"); err != nil {
				return err
			}
			if err := varBytes("header value"); err != nil {
				return err
			}
		}
		if left() != 0 {
			return wrapErr(ErrCorruptMessage, "record %d: its fields do not fill its length %d", i, l)
		}
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		if err != nil {
			return c.fail(err)
		}
		return wrapErr(ErrCorruptMessage, "bytes after the %d declared records", n)
	}
	if c.n > maxDecompressed {
		return &decompressError{errTooBig}
	}
	return nil
}
