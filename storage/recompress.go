package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
)

// Recompression (a topic's compression.type other than producer).
//
// Kafka's LogValidator rewrites a produced batch whose codec is not the
// topic's: the records are decompressed (already bounded by
// DecompressLimit on the validation walk) and compressed again with the
// topic's codec, the batch header keeps its producer fields, timestamps
// and record count, and gets the new codec, length and CRC. Only this path
// copies: with compression.type=producer (the default), and for batches
// already in the topic's codec, the produced bytes are stored as they came
// (zero copy). A batch that grows past max.message.bytes once rewritten is
// refused with MESSAGE_TOO_LARGE, as Kafka refuses it.

// CompressionTypes are Kafka's topic compression.type values.
var CompressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}

// compressionCodec is the codec of a compression.type, or -1 for producer
// (and "", the zero Config).
func compressionCodec(t string) (int, error) {
	switch strings.ToLower(t) {
	case "", "producer":
		return -1, nil
	case "uncompressed":
		return CodecNone, nil
	case "gzip":
		return CodecGzip, nil
	case "snappy":
		return CodecSnappy, nil
	case "lz4":
		return CodecLz4, nil
	case "zstd":
		return CodecZstd, nil
	}
	return 0, fmt.Errorf("unknown compression.type %q", t)
}

// recompress returns records with every batch not in codec rewritten in
// it, or records itself when none needs it. The batches have been
// validated.
func recompress(records []byte, codec int, maxMsg int32) ([]byte, error) {
	need := false
	for p := records; len(p) > 0; {
		h := decodeHeader(p)
		if h.Compression() != codec {
			need = true
			break
		}
		p = p[h.Size():]
	}
	if !need {
		return records, nil
	}
	out := make([]byte, 0, len(records))
	for p := records; len(p) > 0; {
		h := decodeHeader(p)
		b := p[:h.Size()]
		p = p[h.Size():]
		if h.Compression() == codec {
			out = append(out, b...)
			continue
		}
		raw := b[BatchHeaderSize:]
		var dbuf *bytes.Buffer // the decompressed records, pooled: only read below
		if c := h.Compression(); c != CodecNone {
			dbuf = recompressBufs.Get().(*bytes.Buffer)
			// Decompressed records are several times their compressed
			// size: start there rather than grow from 512 bytes by
			// doubling.
			dbuf.Grow(int(min(int64(4*len(raw)), DecompressLimit(maxMsg))))
			if err := decompressInto(dbuf, c, raw, DecompressLimit(maxMsg)); err != nil {
				putRecompressBuf(dbuf)
				return nil, wrapErr(ErrCorruptMessage, "decompressing %s batch to recompress it: %v", codecName(c), err)
			}
			raw = dbuf.Bytes()
		}
		body := raw
		if codec != CodecNone {
			var err error
			body, err = compressRecords(codec, raw, true)
			if err != nil {
				putRecompressBuf(dbuf)
				return nil, fmt.Errorf("storage: compressing a batch with %s: %w", codecName(codec), err)
			}
		}
		size := BatchHeaderSize + len(body)
		if int64(size) > int64(maxMsg) {
			putRecompressBuf(dbuf)
			return nil, wrapErr(ErrMessageTooLarge, "batch of %d bytes once recompressed with %s, above max.message.bytes %d", size, codecName(codec), maxMsg)
		}
		at := len(out)
		out = append(out, b[:BatchHeaderSize]...)
		out = append(out, body...)
		putRecompressBuf(dbuf) // body is in out now: raw is not read again
		nb := out[at:]
		binary.BigEndian.PutUint32(nb[offLength:], uint32(size-logOverhead))
		attrs := binary.BigEndian.Uint16(nb[offAttributes:])&^attrCompressionMask | uint16(codec)
		binary.BigEndian.PutUint16(nb[offAttributes:], attrs)
		setCRC(nb)
	}
	return out, nil
}

var recompressBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putRecompressBuf returns a decompression buffer to the pool, unless it
// grew past 4 MiB (a rare large batch is not kept for the life of the
// process).
func putRecompressBuf(b *bytes.Buffer) {
	if b == nil || b.Cap() > 4<<20 {
		return
	}
	b.Reset()
	recompressBufs.Put(b)
}
