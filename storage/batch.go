package storage

import (
	"encoding/binary"
	"hash/crc32"
	"math"
)

// Record batch (magic v2) layout; every integer is big endian.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// BatchHeaderSize is the size of a v2 batch header, up to the records.
	BatchHeaderSize = 61
	// logOverhead is the base offset and length fields, which are not
	// counted by Length.
	logOverhead = 12
	// minLength is the smallest legal Length: the header after the
	// length field.
	minLength = BatchHeaderSize - logOverhead

	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// Compression codecs of the attributes' low three bits.
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLz4    = 3
	CodecZstd   = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded header of a v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // bytes after the Length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the whole batch size in bytes (Length plus the 12 bytes before it).
func (h *BatchHeader) Size() int64 { return int64(h.Length) + logOverhead }

// LastOffset is the offset of the batch's last record.
func (h *BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Compression is the codec (CodecNone ... CodecZstd).
func (h *BatchHeader) Compression() int { return int(h.Attributes & attrCompressionMask) }

// IsLogAppendTime reports whether MaxTimestamp is the broker's append time.
func (h *BatchHeader) IsLogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// IsTransactional reports the transactional attribute bit.
func (h *BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports the control-batch attribute bit.
func (h *BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// LastSequence is the sequence number of the batch's last record, wrapping
// at MaxInt32 as Kafka does.
func (h *BatchHeader) LastSequence() int32 { return incSeq(h.BaseSequence, h.LastOffsetDelta) }

func incSeq(seq, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// decodeHeader decodes the fixed header fields from b, which must hold at
// least BatchHeaderSize bytes. It validates nothing.
func decodeHeader(b []byte) BatchHeader {
	_ = b[BatchHeaderSize-1]
	return BatchHeader{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		Length:               int32(binary.BigEndian.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(binary.BigEndian.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offNumRecords:])),
	}
}

// ParseBatchHeader decodes and validates the v2 record batch at the start of
// b: the length must fit in b, the magic must be 2 and the CRC-32C
// (Castagnoli, over the attributes to the end of the batch) must match. b
// may hold more bytes after the batch; the batch is b[:h.Size()].
//
// Errors match ErrCorruptMessage (short input, bad length, CRC mismatch) or
// ErrUnsupportedVersion (magic != 2).
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		if len(b) > offMagic && b[offMagic] != 2 {
			return BatchHeader{}, wrapErr(ErrUnsupportedVersion, "magic %d", int8(b[offMagic]))
		}
		return BatchHeader{}, wrapErr(ErrCorruptMessage, "batch of %d bytes is shorter than the %d byte header", len(b), BatchHeaderSize)
	}
	h := decodeHeader(b)
	if h.Magic != 2 {
		return h, wrapErr(ErrUnsupportedVersion, "magic %d", h.Magic)
	}
	if h.Length < minLength {
		return h, wrapErr(ErrCorruptMessage, "batch length %d is below the minimum %d", h.Length, minLength)
	}
	if int64(len(b)) < h.Size() {
		return h, wrapErr(ErrCorruptMessage, "batch length %d exceeds the %d bytes available", h.Length, len(b)-logOverhead)
	}
	if crc := crc32.Checksum(b[offAttributes:h.Size()], castagnoli); crc != h.CRC {
		return h, wrapErr(ErrCorruptMessage, "CRC-32C mismatch: header %#08x, computed %#08x", h.CRC, crc)
	}
	return h, nil
}

// setCRC recomputes the CRC of the batch b (exactly one batch).
func setCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// validateBatch checks one produced batch (already through ParseBatchHeader)
// beyond its header: record count, producer fields, codec, and the
// structure of every record (of compressed batches after decompressing
// them into a small streaming buffer, at most DecompressLimit(maxMsg)
// bytes). For uncompressed batches it allocates nothing.
//
// With checks.ts set, every record's timestamp (but -1) must be within
// [ts.lo, ts.hi], or the batch is refused with a *TimestampError naming
// them; with checks.keyed, every record must have a key, or the batch is
// refused with a *KeyError naming those without (the timestamps are
// checked first, as Kafka's LogValidator reports them first).
func validateBatch(h *BatchHeader, b []byte, maxMsg int32, checks *recordChecks) error {
	if h.IsControl() {
		return wrapErr(ErrInvalidRecord, "control batches cannot be produced")
	}
	if h.IsTransactional() && h.ProducerID < 0 {
		return wrapErr(ErrInvalidRecord, "transactional batch without a producer id")
	}
	if h.NumRecords <= 0 {
		return wrapErr(ErrCorruptMessage, "batch declares %d records", h.NumRecords)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return wrapErr(ErrCorruptMessage, "batch declares %d records but a last offset delta of %d", h.NumRecords, h.LastOffsetDelta)
	}
	if h.ProducerID >= 0 && (h.ProducerEpoch < 0 || h.BaseSequence < 0) {
		return wrapErr(ErrInvalidRecord, "idempotent batch with producer epoch %d, base sequence %d", h.ProducerEpoch, h.BaseSequence)
	}
	var visit recordVisitor
	var bad *TimestampError
	var keyless *KeyError
	if checks != nil {
		ts := checks.ts
		visit = func(i int32, tsDelta, keyLen int64) bool {
			if t := h.FirstTimestamp + tsDelta; ts != nil && t != -1 && (t < ts.lo || t > ts.hi) {
				if bad == nil {
					bad = &TimestampError{Lo: ts.lo, Hi: ts.hi}
				}
				if bad.Count++; len(bad.Records) < MaxTimestampErrors {
					bad.Records = append(bad.Records, i)
				}
			}
			if checks.keyed && keyLen < 0 {
				if keyless == nil {
					keyless = &KeyError{}
				}
				if keyless.Count++; len(keyless.Records) < MaxTimestampErrors {
					keyless.Records = append(keyless.Records, i)
				}
			}
			return true
		}
	}
	var err error
	switch c := h.Compression(); c {
	case CodecNone:
		err = walkRecords(b[BatchHeaderSize:h.Size()], h.NumRecords, true, visit)
	case CodecGzip, CodecSnappy, CodecLz4, CodecZstd:
		// Decompressed (streamed, not kept) to check the records, as
		// Kafka does; stored as produced, never recompressed.
		err = validateCompressed(c, b[BatchHeaderSize:h.Size()], h.NumRecords, DecompressLimit(maxMsg), visit)
	default:
		return wrapErr(ErrInvalidRecord, "unknown compression codec %d", c)
	}
	switch {
	case err != nil:
		return err
	case bad != nil:
		return bad
	case keyless != nil:
		return keyless
	}
	return nil
}

// recordChecks are what validateBatch checks of every record beyond its
// structure (nil: nothing).
type recordChecks struct {
	ts    *tsBounds // record timestamps within bounds, or nil
	keyed bool      // every record has a key (Config.RequireKeys)
}

// tsBounds are the record timestamps a batch may carry, from the log's
// clock and Config (nil: no check).
type tsBounds struct{ lo, hi int64 }

func timestampBounds(c Config, nowMs int64) *tsBounds {
	if !c.CheckTimestamps || c.LogAppendTime {
		return nil
	}
	// The clock is past 1970 and the bounds are not negative (validated
	// by catalog): now - before cannot underflow, now + after can.
	b := &tsBounds{lo: nowMs - max(c.TimestampBeforeMaxMs, 0), hi: math.MaxInt64}
	if c.TimestampAfterMaxMs < math.MaxInt64-nowMs {
		b.hi = nowMs + c.TimestampAfterMaxMs
	}
	return b
}

// recordVisitor is called for each record walked: its index, timestamp
// delta and key length (-1: no key).
type recordVisitor func(i int32, tsDelta, keyLen int64) bool

// walkRecords checks that body holds exactly n well-formed v2 records
// (with offset deltas 0..n-1 if strict, as a producer must send them),
// calling visit (if not nil) for each; visit returning false stops the walk
// early without error.
func walkRecords(body []byte, n int32, strict bool, visit recordVisitor) error {
	for i := int32(0); i < n; i++ {
		l, k := binary.Varint(body)
		if k <= 0 || l <= 0 || l > int64(len(body)-k) {
			return wrapErr(ErrCorruptMessage, "record %d: bad length", i)
		}
		rec := body[k : k+int(l)]
		body = body[k+int(l):]
		if len(rec) < 1 {
			return wrapErr(ErrCorruptMessage, "record %d: truncated", i)
		}
		rec = rec[1:] // attributes
		tsDelta, k := binary.Varint(rec)
		if k <= 0 {
			return wrapErr(ErrCorruptMessage, "record %d: bad timestamp delta", i)
		}
		rec = rec[k:]
		offDelta, k := binary.Varint(rec)
		if k <= 0 {
			return wrapErr(ErrCorruptMessage, "record %d: bad offset delta", i)
		}
		if strict && offDelta != int64(i) {
			return wrapErr(ErrInvalidRecord, "record %d has offset delta %d", i, offDelta)
		}
		rec = rec[k:]
		keyLen, _ := binary.Varint(rec) // checked by skipVarBytes
		var ok bool
		if rec, ok = skipVarBytes(rec); !ok { // key
			return wrapErr(ErrCorruptMessage, "record %d: bad key", i)
		}
		if rec, ok = skipVarBytes(rec); !ok { // value
			return wrapErr(ErrCorruptMessage, "record %d: bad value", i)
		}
		nh, k := binary.Varint(rec)
		if k <= 0 || nh < 0 || nh > int64(len(rec)) {
			return wrapErr(ErrCorruptMessage, "record %d: bad header count", i)
		}
		rec = rec[k:]
		for j := int64(0); j < nh; j++ {
			if rec, ok = skipVarBytes(rec); !ok {
				return wrapErr(ErrCorruptMessage, "record %d: bad header key", i)
			}
			if rec, ok = skipVarBytes(rec); !ok {
				return wrapErr(ErrCorruptMessage, "record %d: bad header value", i)
			}
		}
		if len(rec) != 0 {
			return wrapErr(ErrCorruptMessage, "record %d: %d bytes beyond its fields", i, len(rec))
		}
		if visit != nil && !visit(i, tsDelta, keyLen) {
			return nil
		}
	}
	if len(body) != 0 {
		return wrapErr(ErrCorruptMessage, "%d bytes after the %d declared records", len(body), n)
	}
	return nil
}

// skipVarBytes skips a varint-length-prefixed byte string (-1 = null).
func skipVarBytes(b []byte) ([]byte, bool) {
	l, k := binary.Varint(b)
	if k <= 0 || l < -1 || l > int64(len(b)-k) {
		return nil, false
	}
	if l < 0 {
		l = 0
	}
	return b[k+int(l):], true
}
