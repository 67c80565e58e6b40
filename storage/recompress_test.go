package storage

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/rewindhq/rewind/internal/codecbomb"
)

// TestRecompress: a log with a compression.type rewrites every batch of
// another codec into it, from and to each codec, keeping the records, the
// producer fields and the timestamps, with a valid CRC; a batch already
// in the codec, and every batch with producer, is stored byte for byte.
func TestRecompress(t *testing.T) {
	recs := make([]Record, 50)
	for i := range recs {
		recs[i] = Record{Timestamp: 1000 + int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: bytes.Repeat([]byte{'v'}, 100)}
	}
	plain := BuildTxnBatch(1000, 77, 3, 5, recs)
	codecs := []int{CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd}
	batchIn := func(c int) []byte {
		if c == CodecNone {
			return append([]byte(nil), plain...)
		}
		b := codecbomb.Batch(c, codecbomb.Compress(c, bytes.NewReader(plain[BatchHeaderSize:])), int32(len(recs)))
		copy(b[offLength+4:BatchHeaderSize], plain[offLength+4:BatchHeaderSize]) // the producer fields and timestamps
		binary16(b, c)
		setCRC(b)
		return b
	}
	names := map[int]string{CodecNone: "uncompressed", CodecGzip: "gzip", CodecSnappy: "snappy", CodecLz4: "lz4", CodecZstd: "zstd"}
	for _, from := range codecs {
		for _, to := range codecs {
			t.Run(names[from]+"->"+names[to], func(t *testing.T) {
				in := batchIn(from)
				out, err := recompress(append([]byte(nil), in...), to, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if from == to && !bytes.Equal(out, in) {
					t.Fatal("a batch already in the codec was rewritten")
				}
				h, err := ParseBatchHeader(out)
				if err != nil {
					t.Fatalf("rewritten batch: %v", err)
				}
				if h.Compression() != to || h.ProducerID != 77 || h.ProducerEpoch != 3 || h.BaseSequence != 5 || !h.IsTransactional() ||
					h.NumRecords != int32(len(recs)) || h.FirstTimestamp != 1000 || h.MaxTimestamp != 1049 {
					t.Fatalf("rewritten header %+v", h)
				}
				if err := validateBatch(&h, out, 1<<20, nil); err != nil {
					t.Fatalf("rewritten batch does not validate: %v", err)
				}
				got, err := DecodeRecords(out)
				if err != nil || len(got) != len(recs) {
					t.Fatalf("decoded %d records (%v)", len(got), err)
				}
				for i := range got {
					if !bytes.Equal(got[i].Key, recs[i].Key) || !bytes.Equal(got[i].Value, recs[i].Value) || got[i].Timestamp != recs[i].Timestamp {
						t.Fatalf("record %d: %+v", i, got[i])
					}
				}
			})
		}
	}

	// A batch that would exceed max.message.bytes once rewritten (from
	// zstd to none) is refused.
	z := batchIn(CodecZstd)
	if _, err := recompress(z, CodecNone, int32(len(z)+10)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("uncompressed over max.message.bytes: %v", err)
	}

	// Through Append: producer keeps the bytes, zstd rewrites.
	for _, ct := range []string{"producer", "zstd"} {
		c := DefaultConfig()
		c.CompressionType = ct
		l, err := Open(t.TempDir(), c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		in := batchIn(CodecGzip)
		if _, err := l.Append(append([]byte(nil), in...)); err != nil {
			t.Fatal(err)
		}
		size := l.Size()
		l.Close()
		if ct == "producer" && size != int64(len(in)) {
			t.Fatalf("producer: stored %d bytes of a %d-byte batch", size, len(in))
		}
		if ct == "zstd" && size == int64(len(in)) {
			t.Fatalf("zstd: the gzip batch was stored as produced")
		}
	}
}

func binary16(b []byte, codec int) {
	b[offAttributes+1] = b[offAttributes+1]&^attrCompressionMask | byte(codec)
}

// BenchmarkAppendRecompress: appends of a 64 KiB gzip batch (1 KiB
// records) to a log with compression.type producer (stored as produced:
// validation only), gzip (the same codec: as produced), zstd and lz4
// (decompressed and compressed again) and uncompressed.
func BenchmarkAppendRecompress(b *testing.B) {
	recs := make([]Record, 64)
	for i := range recs {
		v := bytes.Repeat([]byte(fmt.Sprintf("value %d of a benchmark record; ", i)), 1024/30)
		recs[i] = Record{Timestamp: 1000, Key: fmt.Appendf(nil, "k%d", i), Value: v[:1024]}
	}
	plain := BuildBatch(1000, recs)
	gz := codecbomb.Batch(CodecGzip, codecbomb.Compress(CodecGzip, bytes.NewReader(plain[BatchHeaderSize:])), int32(len(recs)))
	for _, ct := range []string{"producer", "gzip", "zstd", "lz4", "uncompressed"} {
		b.Run("compression.type="+ct, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.SegmentBytes, cfg.RetentionBytes = 64<<20, 256<<20
			cfg.CompressionType = ct
			l, err := Open(b.TempDir(), cfg, Options{Fsync: FsyncNever, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			buf := bytes.Clone(gz)
			b.SetBytes(int64(len(plain))) // the records' bytes
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Append(buf); err != nil {
					b.Fatal(err)
				}
				if i%4096 == 4095 {
					l.ApplyRetention()
				}
			}
		})
	}
}
