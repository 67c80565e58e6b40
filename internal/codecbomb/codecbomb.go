// Package codecbomb builds hostile compressed record batches for tests:
// zstd frames that declare a huge window for a few bytes of content, and
// small payloads of every codec that expand far past what the broker
// allows. The batches are otherwise valid (magic 2, correct CRC, records
// that parse once decompressed), so only the decompression bounds can
// refuse them.
package codecbomb

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/bits"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Codec numbers of the batch attributes.
const (
	Gzip   = 1
	Snappy = 2
	Lz4    = 3
	Zstd   = 4
)

// Record returns the bytes of one v2 record (offset delta 0, no key, no
// headers) whose value is valueLen zero bytes, as a prefix and the number
// of zero bytes that follow it (the value and the zero header count).
func Record(valueLen int64) (prefix []byte, zeros int64) {
	var fields []byte
	fields = append(fields, 0)                     // attributes
	fields = binary.AppendVarint(fields, 0)        // timestamp delta
	fields = binary.AppendVarint(fields, 0)        // offset delta
	fields = binary.AppendVarint(fields, -1)       // null key
	fields = binary.AppendVarint(fields, valueLen) // value length
	length := int64(len(fields)) + valueLen + 1    // + the header count
	return append(binary.AppendVarint(nil, length), fields...), valueLen + 1
}

// zeroReader yields n zero bytes.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), z.n))
	clear(p[:k])
	z.n -= int64(k)
	return k, nil
}

// Content streams prefix followed by zeros zero bytes.
func Content(prefix []byte, zeros int64) io.Reader {
	return io.MultiReader(bytes.NewReader(prefix), &zeroReader{zeros})
}

// ZstdFrame is a zstd frame declaring window (a power of two from 1 KiB;
// no content size, no checksum) whose content is prefix followed by zeros
// zero bytes, written as a raw block and RLE blocks: a few bytes per
// 128 KiB of content, however large the window.
func ZstdFrame(window uint64, prefix []byte, zeros int64) []byte {
	out := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
	out = append(out, 0)                                // frame header descriptor: window descriptor follows
	out = append(out, byte(bits.Len64(window)-1-10)<<3) // window descriptor: exponent, mantissa 0
	maxBlock := int64(min(window, 128<<10))
	block := func(typ byte, size int64, last bool) {
		h := uint32(size)<<3 | uint32(typ)<<1
		if last {
			h |= 1
		}
		out = append(out, byte(h), byte(h>>8), byte(h>>16))
	}
	for p := prefix; len(p) > 0; {
		n := min(int64(len(p)), maxBlock)
		block(0, n, zeros == 0 && n == int64(len(p)))
		out = append(out, p[:n]...)
		p = p[n:]
	}
	for zeros > 0 {
		n := min(zeros, maxBlock)
		zeros -= n
		block(1, n, zeros == 0)
		out = append(out, 0)
	}
	return out
}

// Compress compresses the content with codec the way a producer would
// (gzip, xerial-less snappy in S2's extended form for Snappy, lz4 frame,
// zstd), streaming where the codec allows.
func Compress(codec int, content io.Reader) []byte {
	var buf bytes.Buffer
	switch codec {
	case Gzip:
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		io.Copy(w, content)
		w.Close()
	case Lz4:
		w := lz4.NewWriter(&buf)
		io.Copy(struct{ io.Writer }{w}, content) // lz4's ReadFrom fails on some inputs
		w.Close()
	case Zstd:
		w, _ := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		io.Copy(w, content)
		w.Close()
	case Snappy:
		// A raw block in S2's superset of snappy: its repeat codes reach
		// ratios no snappy encoder can, which a decoder accepting S2
		// (klauspost's) would expand.
		all, _ := io.ReadAll(content)
		return s2.Encode(nil, all)
	}
	return buf.Bytes()
}

// Batch wraps a compressed records payload of n records in a v2 record
// batch (base offset 0, producer id -1) with the codec and a correct CRC.
func Batch(codec int, payload []byte, n int32) []byte {
	b := kmsg.RecordBatch{
		Length:          int32(49 + len(payload)),
		Magic:           2,
		Attributes:      int16(codec),
		LastOffsetDelta: n - 1,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      n,
		Records:         payload,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}
