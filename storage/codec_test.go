package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/rewindhq/rewind/internal/codecbomb"
)

// validatePayload validates a one-record batch with the given compressed
// payload against a topic's max.message.bytes.
func validatePayload(t *testing.T, codec int, payload []byte, maxMsg int32) error {
	t.Helper()
	b := codecbomb.Batch(codec, payload, 1)
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return validateBatch(&h, b, maxMsg, nil)
}

// A zstd frame may declare a window of at most 128 MiB (what Kafka's own
// decoder accepts), however little it holds: a larger one is refused
// before any history is allocated.
func TestZstdWindowBound(t *testing.T) {
	prefix, zeros := codecbomb.Record(100)
	for _, w := range []uint64{256 << 20, 2 << 30} {
		err := validatePayload(t, CodecZstd, codecbomb.ZstdFrame(w, prefix, zeros), 1<<20)
		if !errors.Is(err, ErrCorruptMessage) || !strings.Contains(err.Error(), "window") {
			t.Errorf("window %d MiB: %v, want ErrCorruptMessage naming the window", w>>20, err)
		}
	}
	// Up to 128 MiB is what a Java producer at zstd level 22 declares:
	// accepted, with the history cut to what the frame can use.
	for _, w := range []uint64{1 << 10, 64 << 10, 2 << 20, 8 << 20, 128 << 20} {
		if err := validatePayload(t, CodecZstd, codecbomb.ZstdFrame(w, prefix, zeros), 1<<20); err != nil {
			t.Errorf("window %d KiB: %v", w>>10, err)
		}
	}
	p, err := planZstd(codecbomb.ZstdFrame(128<<20, prefix, zeros), DecompressLimit(1<<20))
	if err != nil || p.window != 64<<20 || p.header == nil {
		t.Fatalf("plan of a 128 MiB window under a 64 MiB limit: %+v %v", p, err)
	}
	// A frame whose content size is stated gets a window of that size.
	enc, _ := zstd.NewWriter(nil, zstd.WithWindowSize(8<<20), zstd.WithSingleSegment(false))
	small := enc.EncodeAll(bytes.Repeat([]byte("kafka "), 50_000), nil)
	if p, err := planZstd(small, DecompressLimit(1<<20)); err != nil || p.window > 512<<10 {
		t.Fatalf("plan of 300 KB with a stated size: %+v %v", p, err)
	}
}

// Every codec's decompressed size is bounded by DecompressLimit of the
// topic's max.message.bytes: a small batch expanding past it is refused
// as corrupt, one just within it is accepted.
func TestDecompressedSizeBound(t *testing.T) {
	const maxMsg = 16 << 10 // limit: minDecompressLimit, 64 MiB
	limit := DecompressLimit(maxMsg)
	if limit != 64<<20 || DecompressLimit(4<<20) != 256<<20 || DecompressLimit(1<<30) != 1<<30 {
		t.Fatalf("DecompressLimit: %d %d %d", limit, DecompressLimit(4<<20), DecompressLimit(1<<30))
	}
	for _, c := range []int{CodecGzip, CodecLz4, CodecZstd} {
		for _, tc := range []struct {
			value int64
			ok    bool
		}{{limit - 64, true}, {limit + 1, false}, {100 << 20, false}} {
			prefix, zeros := codecbomb.Record(tc.value)
			payload := codecbomb.Compress(c, codecbomb.Content(prefix, zeros))
			err := validatePayload(t, c, payload, maxMsg)
			if tc.ok && err != nil {
				t.Errorf("%s, %d MiB value in %d KiB: %v", codecName(c), tc.value>>20, len(payload)>>10, err)
			}
			if !tc.ok && (!errors.Is(err, ErrCorruptMessage) || !strings.Contains(err.Error(), "limit")) {
				t.Errorf("%s, %d MiB value in %d KiB: %v, want ErrCorruptMessage for the size limit", codecName(c), tc.value>>20, len(payload)>>10, err)
			}
		}
	}
	// The same through the zstd window trick: RLE blocks under a large
	// declared window.
	prefix, zeros := codecbomb.Record(100 << 20)
	if err := validatePayload(t, CodecZstd, codecbomb.ZstdFrame(128<<20, prefix, zeros), maxMsg); !errors.Is(err, ErrCorruptMessage) {
		t.Errorf("zstd RLE bomb: %v", err)
	}
}

// Snappy cannot expand a block more than 64/3 times; a block declaring
// more (S2's extensions reach far higher) is refused before it is decoded,
// raw or xerial framed.
func TestSnappyBound(t *testing.T) {
	prefix, zeros := codecbomb.Record(32 << 20)
	bomb := codecbomb.Compress(codecbomb.Snappy, codecbomb.Content(prefix, zeros))
	if len(bomb) > 1<<20 {
		t.Fatalf("S2 bomb of %d bytes", len(bomb))
	}
	if err := validatePayload(t, CodecSnappy, bomb, 1<<20); !errors.Is(err, ErrCorruptMessage) || !strings.Contains(err.Error(), "snappy can encode") {
		t.Errorf("raw S2 bomb: %v", err)
	}
	framed := append(append(bytes.Clone(xerialMagic), 0, 0, 0, 1, 0, 0, 0, 1), byte(len(bomb)>>24), byte(len(bomb)>>16), byte(len(bomb)>>8), byte(len(bomb)))
	framed = append(framed, bomb...)
	if err := validatePayload(t, CodecSnappy, framed, 1<<20); !errors.Is(err, ErrCorruptMessage) {
		t.Errorf("xerial S2 bomb: %v", err)
	}
	// Real snappy at its densest is accepted.
	rec := BuildBatch(0, []Record{{Value: make([]byte, 4<<20)}})
	for _, cb := range [][]byte{compressBatch(t, rec, CodecSnappy), xerial(t, rec)} {
		h, err := ParseBatchHeader(cb)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateBatch(&h, cb, 1<<20, nil); err != nil {
			t.Errorf("4 MiB of zeros in %d bytes of snappy: %v", len(cb), err)
		}
	}
}

// Decoders wait for their share of one broker-wide budget: while it is
// taken, a validation needing a large history does not start.
func TestDecodeBudgetWaits(t *testing.T) {
	prefix, zeros := codecbomb.Record(100)
	payload := codecbomb.ZstdFrame(32<<20, prefix, zeros)
	release := reserveDecode(decodeBudget)
	done := make(chan error, 1)
	go func() { done <- validatePayload(t, CodecZstd, payload, 1<<20) }()
	select {
	case err := <-done:
		release()
		t.Fatalf("validation ran while the budget was taken: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("validation did not run once the budget was free")
	}
}

func TestZstdWindowCovering(t *testing.T) {
	for _, n := range []uint64{0, 1, 1024, 1025, 4096, 64 << 20, 64<<20 + 768, 100 << 20, 128 << 20} {
		w, desc := zstdWindowCovering(n)
		base := uint64(1) << (10 + desc>>3)
		if got := base + base/8*uint64(desc&7); got != w {
			t.Errorf("%d: descriptor %#x decodes to %d, not %d", n, desc, got, w)
		}
		if w < max(n, 1024) || w > max(n, 1024)+max(n, 1024)/8 {
			t.Errorf("%d: window %d does not cover it tightly", n, w)
		}
	}
}

// PreviewBatch streams a batch's records, keeping at most MaxField bytes
// of each field with its whole length, and stops at MaxDecoded.
func TestPreviewBatch(t *testing.T) {
	recs := []Record{
		{Timestamp: 5, Key: []byte("key"), Value: bytes.Repeat([]byte("v"), 1000), Headers: []Header{{"a", []byte("1")}, {"b", []byte("2")}}},
		{Timestamp: 6, Value: nil},
		{Timestamp: 7, Key: []byte("k2"), Value: []byte("short")},
	}
	plain := BuildBatch(0, recs)
	for _, c := range []int{CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		b := plain
		if c != CodecNone {
			b = compressBatch(t, plain, c)
		}
		var got []RecordPreview
		n, err := PreviewBatch(b, 1, PreviewLimits{MaxField: 10, MaxHeaders: 1, MaxDecoded: 1 << 20}, func(p RecordPreview) bool {
			got = append(got, p)
			return true
		})
		if err != nil || n != int64(len(plain)-BatchHeaderSize) || len(got) != 2 {
			t.Fatalf("%s: %d bytes, %d records, %v", codecName(c), n, len(got), err)
		}
		if got[0].Offset != 1 || got[0].Value != nil || got[0].ValueLen != -1 || got[1].Timestamp != 7 || string(got[1].Value) != "short" {
			t.Errorf("%s: %+v", codecName(c), got)
		}
		got = nil
		PreviewBatch(b, 0, PreviewLimits{MaxField: 10, MaxHeaders: 1, MaxDecoded: 1 << 20}, func(p RecordPreview) bool {
			got = append(got, p)
			return false
		})
		if p := got[0]; len(got) != 1 || string(p.Value) != "vvvvvvvvvv" || p.ValueLen != 1000 || p.NHeaders != 2 || len(p.Headers) != 1 || p.Headers[0].Key != "a" {
			t.Errorf("%s: first record %+v", codecName(c), got)
		}
		got = nil
		_, err = PreviewBatch(b, 0, PreviewLimits{MaxDecoded: 1020}, func(p RecordPreview) bool {
			got = append(got, p)
			return true
		})
		// Snappy and zstd state their decoded size: refused up front.
		if !errors.Is(err, ErrDecodeLimit) || len(got) > 1 || len(got) == 0 && c != CodecSnappy && c != CodecZstd {
			t.Errorf("%s: under a 1020 byte limit: %d records, %v", codecName(c), len(got), err)
		}
	}
}

// TestPreviewRecordsSkipsMarkers: with SkipControl, transaction markers
// are passed over and the records after them read, but a run of markers
// costs the decode budget as records would, so a partition of markers is
// not read whole for one call.
func TestPreviewRecordsSkipsMarkers(t *testing.T) {
	const markers = 50
	var log []byte
	for i := range markers {
		m := buildMarker(7, 0, 0, true, 1)
		binary.BigEndian.PutUint64(m[offBaseOffset:], uint64(i))
		log = append(log, m...)
	}
	data := BuildBatch(0, []Record{{Timestamp: 9, Value: []byte("after the markers")}})
	binary.BigEndian.PutUint64(data[offBaseOffset:], markers)
	log = append(log, data...)
	reads := 0
	src := BatchSource{SkipControl: true, Read: func(offset int64) ([]byte, error) {
		reads++
		for p := log; len(p) > 0; {
			h, err := ParseBatchHeader(p)
			if err != nil {
				return nil, err
			}
			if h.LastOffset() >= offset {
				return p, nil
			}
			p = p[h.Size():]
		}
		return nil, nil
	}}
	recs, err := PreviewRecords(src, 0, 10, PreviewLimits{MaxField: 64, MaxDecoded: 1 << 20})
	if err != nil || len(recs) != 1 || recs[0].Offset != markers || string(recs[0].Value) != "after the markers" {
		t.Fatalf("with room: %+v, %v; want the one record at offset %d", recs, err, markers)
	}
	markerSize := int64(len(log)-len(data)) / markers
	recs, err = PreviewRecords(src, 0, 10, PreviewLimits{MaxField: 64, MaxDecoded: 10 * markerSize})
	if !errors.Is(err, ErrDecodeLimit) || len(recs) != 0 {
		t.Fatalf("a budget of 10 markers over %d: %+v, %v; want ErrDecodeLimit", markers, recs, err)
	}
}
