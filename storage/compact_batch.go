package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compaction of one batch: its records parsed, judged, and the batch
// rebuilt with the records it keeps.

// cRecord is one record of a batch being compacted.
type cRecord struct {
	start, end int // its bytes in the records section, length prefix included
	offDelta   int64
	ts         int64
	key        []byte // nil: no key
	tomb       bool   // null value
}

// records parses the records of the batch b, decompressing them if need
// be. ok is false if they cannot be decoded.
func (c *cleaner) records(h *BatchHeader, b []byte) (recs []cRecord, body []byte, ok bool) {
	body = b[BatchHeaderSize:]
	if codec := h.Compression(); codec != CodecNone {
		raw, err := decompress(codec, body)
		if err != nil {
			if c.pass == 1 {
				c.undecodable++
			}
			return nil, nil, false
		}
		body = raw
	}
	recs, err := parseCRecords(h, body, c.recs[:0])
	if err != nil {
		if c.pass == 1 {
			c.undecodable++
		}
		return nil, nil, false
	}
	c.recs, c.body = recs, body
	return recs, body, true
}

// parseCRecords parses n records, checking their structure and that their
// offset deltas increase within the batch's range.
func parseCRecords(h *BatchHeader, body []byte, dst []cRecord) ([]cRecord, error) {
	pos := 0
	prev := int64(-1)
	for i := int32(0); i < h.NumRecords; i++ {
		n, k := binary.Varint(body[pos:])
		if k <= 0 || n <= 0 || n > int64(len(body)-pos-k) {
			return nil, fmt.Errorf("record %d: bad length", i)
		}
		r := cRecord{start: pos}
		rec := body[pos+k : pos+k+int(n)]
		pos += k + int(n)
		r.end = pos
		if len(rec) < 1 {
			return nil, fmt.Errorf("record %d: truncated", i)
		}
		rec = rec[1:] // attributes
		tsDelta, k := binary.Varint(rec)
		if k <= 0 {
			return nil, fmt.Errorf("record %d: bad timestamp delta", i)
		}
		rec = rec[k:]
		if r.offDelta, k = binary.Varint(rec); k <= 0 || r.offDelta <= prev || r.offDelta > int64(h.LastOffsetDelta) {
			return nil, fmt.Errorf("record %d: bad offset delta", i)
		}
		prev = r.offDelta
		rec = rec[k:]
		var null, ok bool
		if r.key, null, rec, ok = varBytes(rec); !ok {
			return nil, fmt.Errorf("record %d: bad key", i)
		}
		if null {
			r.key = nil
		}
		if _, r.tomb, _, ok = varBytes(rec); !ok {
			return nil, fmt.Errorf("record %d: bad value", i)
		}
		r.ts = h.FirstTimestamp + tsDelta
		if h.IsLogAppendTime() {
			r.ts = h.MaxTimestamp
		}
		dst = append(dst, r)
	}
	if pos != len(body) {
		return nil, fmt.Errorf("%d bytes after the %d declared records", len(body)-pos, h.NumRecords)
	}
	return dst, nil
}

// varBytes reads a varint-length-prefixed byte string (-1: null).
func varBytes(b []byte) (v []byte, null bool, rest []byte, ok bool) {
	n, k := binary.Varint(b)
	if k <= 0 || n < -1 || n > int64(len(b)-k) {
		return nil, false, nil, false
	}
	if n < 0 {
		return nil, true, b[k:], true
	}
	return b[k : k+int(n)], false, b[k+int(n):], true
}

func (c *cleaner) dueAt(ms int64) { c.due = min(c.due, ms) }

type verdict int

const (
	keepWhole verdict = iota
	dropBatch
	keepEmpty    // header only: an idempotent producer's last batch
	rewriteBatch // some records go
	markHorizon  // a marker whose delete horizon is set now (compact_txn.go)
)

// judge decides what becomes of the batch b; for rewriteBatch, c.keep says
// which of c.recs stay.
func (c *cleaner) judge(h *BatchHeader, b []byte) (v verdict, removed int64) {
	v, removed = c.judgeBatch(h, b)
	if v == dropBatch && h.IsTransactional() && !h.IsControl() {
		c.txnDropped = true
	}
	return v, removed
}

func (c *cleaner) judgeBatch(h *BatchHeader, b []byte) (v verdict, removed int64) {
	if h.LastOffset() < c.lo || h.BaseOffset >= c.hi {
		return keepWhole, 0
	}
	if h.IsControl() {
		return c.judgeMarker(h)
	}
	if c.isAborted(h) {
		if c.keepHeader(h) {
			return keepEmpty, int64(h.NumRecords)
		}
		return dropBatch, int64(h.NumRecords)
	}
	if h.NumRecords == 0 {
		if c.keepHeader(h) {
			return keepWhole, 0
		}
		return dropBatch, 0
	}
	recs, _, ok := c.records(h, b)
	if !ok {
		return keepWhole, 0
	}
	c.keep = slices.Grow(c.keep[:0], len(recs))[:len(recs)]
	kept := 0
	for i := range recs {
		c.keep[i] = c.keepRecord(&recs[i], h.BaseOffset+recs[i].offDelta)
		if c.keep[i] {
			kept++
		}
	}
	removed = int64(len(recs) - kept)
	switch {
	case kept == len(recs):
		return keepWhole, 0
	case kept > 0:
		return rewriteBatch, removed
	case c.keepHeader(h):
		return keepEmpty, removed
	}
	return dropBatch, removed
}

// keepHeader says whether a batch losing all its records stays as an
// empty batch: the last batch of an idempotent producer (its sequence
// state must survive), and the last batch of the log while the active
// segment is empty, so that the log's last offset stays readable and a
// consumer at the end is not left behind a gap until more is appended.
func (c *cleaner) keepHeader(h *BatchHeader) bool {
	if h.LastOffset() == c.tail {
		return true
	}
	if h.ProducerID < 0 {
		return false
	}
	last, ok := c.producerLast[h.ProducerID]
	return ok && last == h.LastOffset()
}

// estimate is the size the batch will have once cleaned (for rewritten
// compressed batches, in proportion to the records kept).
func (c *cleaner) estimate(v verdict, h *BatchHeader, b []byte) int64 {
	switch v {
	case keepWhole:
		return h.Size()
	case dropBatch:
		return 0
	case keepEmpty:
		return BatchHeaderSize
	case markHorizon:
		return h.Size() + 8 // timestamp deltas may take a few bytes more
	}
	var kept, all int64
	for i, r := range c.recs {
		all += int64(r.end - r.start)
		if c.keep[i] {
			kept += int64(r.end - r.start)
		}
	}
	if h.Compression() == CodecNone {
		return BatchHeaderSize + kept
	}
	return BatchHeaderSize + max(1, (h.Size()-BatchHeaderSize)*kept/max(all, 1))
}

// build returns the cleaned form of the batch b: b itself, nil, or a new
// batch in c.buf (valid until the next call).
func (c *cleaner) build(v verdict, h *BatchHeader, b []byte) ([]byte, error) {
	switch v {
	case keepWhole:
		return b, nil
	case dropBatch:
		return nil, nil
	case keepEmpty:
		// As Kafka's writeEmptyHeader: no records, no codec, no delete
		// horizon, both timestamps the batch's max timestamp.
		out := append(c.buf[:0], b[:BatchHeaderSize]...)
		binary.BigEndian.PutUint32(out[offLength:], minLength)
		binary.BigEndian.PutUint16(out[offAttributes:], uint16(h.Attributes)&^(attrCompressionMask|attrDeleteHorizon))
		binary.BigEndian.PutUint64(out[offFirstTimestamp:], uint64(h.MaxTimestamp))
		binary.BigEndian.PutUint32(out[offNumRecords:], 0)
		setCRC(out)
		c.buf = out
		return out, nil
	case markHorizon:
		return c.buildHorizon(h, b), nil
	}
	body := c.body   // judge decoded the batch just before
	raw := c.raw[:0] // reused: a run rewrites batch after batch
	n := int32(0)
	maxTs := int64(-1)
	for i, r := range c.recs {
		if c.keep[i] {
			raw = append(raw, body[r.start:r.end]...)
			n++
			maxTs = max(maxTs, r.ts)
		}
	}
	c.raw = raw
	if h.IsLogAppendTime() {
		maxTs = h.MaxTimestamp
	}
	recBytes := raw
	if codec := h.Compression(); codec != CodecNone {
		xerialFramed := codec == CodecSnappy && len(b) >= BatchHeaderSize+16 && bytes.HasPrefix(b[BatchHeaderSize:], xerialMagic)
		var err error
		if recBytes, err = compressRecords(codec, raw, xerialFramed); err != nil {
			return nil, fmt.Errorf("recompressing batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	out := append(c.buf[:0], b[:BatchHeaderSize]...)
	out = append(out, recBytes...)
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-logOverhead))
	binary.BigEndian.PutUint64(out[offMaxTimestamp:], uint64(maxTs))
	binary.BigEndian.PutUint32(out[offNumRecords:], uint32(n))
	setCRC(out)
	c.buf = out
	return out, nil
}

var (
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
	zstdEncErr  error
)

// compressRecords compresses a records section with codec, the way the
// clients Kafka ships with frame it (snappy: a raw block, or xerial
// framing when the batch came framed so).
func compressRecords(codec int, raw []byte, xerialFramed bool) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CodecGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CodecSnappy:
		if !xerialFramed {
			return s2.EncodeSnappy(nil, raw), nil
		}
		out := append([]byte(nil), xerialMagic...)
		out = binary.BigEndian.AppendUint32(out, 1) // version
		out = binary.BigEndian.AppendUint32(out, 1) // compatible version
		for len(raw) > 0 {
			n := min(len(raw), 32<<10) // xerial's default block size
			blk := s2.EncodeSnappy(nil, raw[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
			out = append(out, blk...)
			raw = raw[n:]
		}
		return out, nil
	case CodecLz4:
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CodecZstd:
		zstdEncOnce.Do(func() { zstdEnc, zstdEncErr = zstd.NewWriter(nil) })
		if zstdEncErr != nil {
			return nil, zstdEncErr
		}
		return zstdEnc.EncodeAll(raw, nil), nil
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}
