package storage

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one decoded record.
type Record struct {
	Offset    int64 // absolute offset (ignored by BuildBatch)
	Timestamp int64 // milliseconds since the epoch
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// BuildBatch encodes recs as one uncompressed v2 batch with base offset 0
// (Append assigns offsets), producer id -1 and a correct CRC. Offsets
// deltas are the record indexes (Record.Offset is ignored); timestamps are
// stored as deltas from baseTimestamp. It is meant for internal writers such
// as the group coordinator, and for tests.
func BuildBatch(baseTimestamp int64, recs []Record) []byte {
	return buildBatch(baseTimestamp, -1, -1, -1, false, recs)
}

// BuildTxnBatch is BuildBatch for a transactional producer: the batch
// carries producerID, producerEpoch and baseSequence and the
// transactional attribute, as the group coordinator writes a
// transaction's offset commits into __consumer_offsets.
func BuildTxnBatch(baseTimestamp, producerID int64, producerEpoch int16, baseSequence int32, recs []Record) []byte {
	return buildBatch(baseTimestamp, producerID, producerEpoch, baseSequence, true, recs)
}

func buildBatch(baseTimestamp, producerID int64, producerEpoch int16, baseSequence int32, txn bool, recs []Record) []byte {
	maxTs := baseTimestamp
	var body []byte
	var kr kmsg.Record
	for i := range recs {
		r := &recs[i]
		maxTs = max(maxTs, r.Timestamp)
		kr = kmsg.Record{
			TimestampDelta64: r.Timestamp - baseTimestamp,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
		}
		if len(r.Headers) > 0 {
			kr.Headers = make([]kmsg.Header, len(r.Headers))
			for j, h := range r.Headers {
				kr.Headers[j] = kmsg.Header{Key: h.Key, Value: h.Value}
			}
		}
		// The length prefix covers what follows it: encode without it,
		// then prefix.
		enc := kr.AppendTo(nil)
		_, k := binary.Varint(enc) // the zero Length encoded first
		body = binary.AppendVarint(body, int64(len(enc)-k))
		body = append(body, enc[k:]...)
	}
	b := kmsg.RecordBatch{
		FirstOffset:     0,
		Length:          int32(minLength + len(body)),
		Magic:           2,
		LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp:  baseTimestamp,
		MaxTimestamp:    maxTs,
		ProducerID:      producerID,
		ProducerEpoch:   producerEpoch,
		FirstSequence:   baseSequence,
		NumRecords:      int32(len(recs)),
		Records:         body,
	}
	if txn {
		b.Attributes |= attrTransactional
	}
	out := b.AppendTo(make([]byte, 0, BatchHeaderSize+len(body)))
	setCRC(out)
	return out
}

// DecodeRecords validates the batch at the start of batch (as
// ParseBatchHeader) and decodes all its records, decompressing gzip, snappy
// (raw or xerial framed), lz4 and zstd. Keys, values and header values of an
// uncompressed batch alias batch; copy them to keep them past its lifetime.
// Timestamps follow the batch's timestamp type (LogAppendTime batches give
// every record the batch's MaxTimestamp).
func DecodeRecords(batch []byte) ([]Record, error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return nil, err
	}
	body := batch[BatchHeaderSize:h.Size()]
	if c := h.Compression(); c != CodecNone {
		if body, err = decompress(c, body); err != nil {
			return nil, wrapErr(ErrCorruptMessage, "decompressing batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	if h.NumRecords < 0 || int64(h.NumRecords) > int64(len(body)) {
		return nil, wrapErr(ErrCorruptMessage, "batch declares %d records in %d bytes", h.NumRecords, len(body))
	}
	// Check the exact structure first: kmsg tolerates bytes left over
	// inside a record.
	if err := walkRecords(body, h.NumRecords, false, nil); err != nil {
		return nil, err
	}
	recs := make([]Record, 0, h.NumRecords)
	var kr kmsg.Record
	for i := int32(0); i < h.NumRecords; i++ {
		l, k := binary.Varint(body)
		if k <= 0 || l <= 0 || l > int64(len(body)-k) {
			return nil, wrapErr(ErrCorruptMessage, "record %d: bad length", i)
		}
		n := k + int(l)
		if err := kr.ReadFrom(body[:n]); err != nil {
			return nil, wrapErr(ErrCorruptMessage, "record %d: %w", i, err)
		}
		body = body[n:]
		r := Record{
			Offset:    h.BaseOffset + int64(kr.OffsetDelta),
			Timestamp: h.FirstTimestamp + kr.TimestampDelta64,
			Key:       kr.Key,
			Value:     kr.Value,
		}
		if h.IsLogAppendTime() {
			r.Timestamp = h.MaxTimestamp
		}
		if len(kr.Headers) > 0 {
			r.Headers = make([]Header, len(kr.Headers))
			for j, kh := range kr.Headers {
				r.Headers[j] = Header{Key: kh.Key, Value: kh.Value}
			}
		}
		recs = append(recs, r)
	}
	if len(body) != 0 {
		return nil, wrapErr(ErrCorruptMessage, "%d bytes after the %d declared records", len(body), h.NumRecords)
	}
	return recs, nil
}
