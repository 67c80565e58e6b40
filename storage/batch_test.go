package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// compressBatch re-encodes an uncompressed batch with codec.
func compressBatch(t testing.TB, b []byte, codec int) []byte {
	body := b[BatchHeaderSize:]
	var out []byte
	switch codec {
	case CodecGzip:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(body)
		w.Close()
		out = buf.Bytes()
	case CodecSnappy:
		out = s2.EncodeSnappy(nil, body)
	case CodecLz4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		w.Write(body)
		w.Close()
		out = buf.Bytes()
	case CodecZstd:
		w, _ := zstd.NewWriter(nil)
		out = w.EncodeAll(body, nil)
	}
	nb := append(bytes.Clone(b[:BatchHeaderSize]), out...)
	binary.BigEndian.PutUint32(nb[offLength:], uint32(len(nb)-logOverhead))
	attrs := binary.BigEndian.Uint16(nb[offAttributes:])
	binary.BigEndian.PutUint16(nb[offAttributes:], attrs&^attrCompressionMask|uint16(codec))
	setCRC(nb)
	return nb
}

// xerial frames snappy the way the Java producer does.
func xerial(t testing.TB, b []byte) []byte {
	body := b[BatchHeaderSize:]
	out := append([]byte{}, xerialMagic...)
	out = append(out, 0, 0, 0, 1, 0, 0, 0, 1)
	for len(body) > 0 {
		n := min(len(body), 100)
		blk := s2.EncodeSnappy(nil, body[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
		body = body[n:]
	}
	nb := append(bytes.Clone(b[:BatchHeaderSize]), out...)
	binary.BigEndian.PutUint32(nb[offLength:], uint32(len(nb)-logOverhead))
	binary.BigEndian.PutUint16(nb[offAttributes:], CodecSnappy)
	setCRC(nb)
	return nb
}

func TestBuildDecodeRoundTrip(t *testing.T) {
	recs := []Record{
		{Timestamp: 100, Key: []byte("a"), Value: []byte("one"), Headers: []Header{{Key: "h", Value: []byte("x")}}},
		{Timestamp: 105, Key: nil, Value: []byte("two")},
		{Timestamp: 99, Key: []byte("c"), Value: nil},
	}
	b := BuildBatch(100, recs)
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.NumRecords != 3 || h.LastOffsetDelta != 2 || h.MaxTimestamp != 105 || h.ProducerID != -1 || h.Size() != int64(len(b)) {
		t.Fatalf("header %+v", h)
	}
	if err := validateBatch(&h, b, 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, b []byte) {
		got, err := DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%d records", len(got))
		}
		for i, r := range got {
			w := recs[i]
			if r.Offset != int64(i) || r.Timestamp != w.Timestamp || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || len(r.Headers) != len(w.Headers) {
				t.Fatalf("record %d: %+v, want %+v", i, r, w)
			}
		}
		if got[1].Key != nil || got[2].Value != nil {
			t.Fatal("null key/value not preserved")
		}
		if got[0].Headers[0].Key != "h" || string(got[0].Headers[0].Value) != "x" {
			t.Fatalf("headers %+v", got[0].Headers)
		}
	}
	check(t, b)
	for _, c := range []int{CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		cb := compressBatch(t, b, c)
		h, err := ParseBatchHeader(cb)
		if err != nil || h.Compression() != c {
			t.Fatalf("codec %d: %v %+v", c, err, h)
		}
		if err := validateBatch(&h, cb, 1<<20, nil); err != nil {
			t.Fatalf("codec %d: %v", c, err)
		}
		check(t, cb)
	}
	check(t, xerial(t, b))
}

func TestParseBatchHeaderErrors(t *testing.T) {
	good := batch(2, 10, 1)
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrCorruptMessage},
		{"short", good[:40], ErrCorruptMessage},
		{"magic1", mut(func(b []byte) { b[offMagic] = 1 }), ErrUnsupportedVersion},
		{"magic1short", mut(func(b []byte) { b[offMagic] = 1 })[:30], ErrUnsupportedVersion},
		{"crc", mut(func(b []byte) { b[len(b)-1] ^= 1 }), ErrCorruptMessage},
		{"crcfield", mut(func(b []byte) { b[offCRC] ^= 1 }), ErrCorruptMessage},
		{"length small", mut(func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], 10) }), ErrCorruptMessage},
		{"length big", mut(func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], 1<<30) }), ErrCorruptMessage},
		{"length negative", mut(func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], 0xffffffff) }), ErrCorruptMessage},
		{"truncated", good[:len(good)-1], ErrCorruptMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseBatchHeader(c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// Trailing bytes after the batch are fine.
	if _, err := ParseBatchHeader(append(bytes.Clone(good), 1, 2, 3)); err != nil {
		t.Fatal(err)
	}
}

func TestAppendValidation(t *testing.T) {
	e := newEnv(t)
	e.cfg.MaxMessageBytes = 2000
	l := e.open()
	good := batch(3, 10, 1)
	withCRC := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		setCRC(b)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrInvalidRecord},
		{"crc", append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^0xff), ErrCorruptMessage},
		{"magic0", withCRC(func(b []byte) { b[offMagic] = 0 }), ErrUnsupportedVersion},
		{"too large", batch(3, 1000, 1), ErrMessageTooLarge},
		{"trailing garbage", append(bytes.Clone(good), 0, 0, 0), ErrCorruptMessage},
		{"count vs delta", withCRC(func(b []byte) { binary.BigEndian.PutUint32(b[offNumRecords:], 2) }), ErrCorruptMessage},
		{"count vs records", withCRC(func(b []byte) {
			binary.BigEndian.PutUint32(b[offNumRecords:], 4)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 3)
		}), ErrCorruptMessage},
		{"zero records", withCRC(func(b []byte) {
			binary.BigEndian.PutUint32(b[offNumRecords:], 0)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0xffffffff)
		}), ErrCorruptMessage},
		{"control", withCRC(func(b []byte) { b[offAttributes+1] |= attrControl }), ErrInvalidRecord},
		{"transactional", withCRC(func(b []byte) { b[offAttributes+1] |= attrTransactional }), ErrInvalidRecord},
		{"codec 7", withCRC(func(b []byte) { b[offAttributes+1] |= 7 }), ErrInvalidRecord},
		{"idempotent without sequence", withCRC(func(b []byte) {
			binary.BigEndian.PutUint64(b[offProducerID:], 5)
			binary.BigEndian.PutUint16(b[offProducerEpoch:], 0)
		}), ErrInvalidRecord},
		{"record length", withCRC(func(b []byte) { b[BatchHeaderSize] = 0x7f }), ErrCorruptMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := l.Append(c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("rejected appends wrote: leo %d size %d", l.LogEndOffset(), l.Size())
	}
	// One bad batch after a good one rejects the whole call.
	if _, err := l.Append(append(bytes.Clone(good), cases[1].b...)); !errors.Is(err, ErrCorruptMessage) {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 {
		t.Fatal("partial call written")
	}
	// Compressed batches are accepted as produced.
	for _, c := range []int{CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		mustAppend(t, l, compressBatch(t, good, c))
	}
	// Several batches in one call.
	res := mustAppend(t, l, append(bytes.Clone(good), good...))
	if res.BaseOffset != 12 || res.LastOffset != 17 {
		t.Fatalf("multi-batch append %+v", res)
	}
	if got := readAll(t, l, 0); len(got) != 18 {
		t.Fatalf("%d records", len(got))
	}
}

func TestParseFsync(t *testing.T) {
	for s, want := range map[string]Fsync{"always": FsyncAlways, "Interval": FsyncInterval, " never ": FsyncNever} {
		if got, err := ParseFsync(s); err != nil || got != want {
			t.Fatalf("%q: %v %v", s, got, err)
		}
		if want.String() != trimLower(s) {
			t.Fatalf("String %q", want.String())
		}
	}
	if _, err := ParseFsync("sometimes"); err == nil {
		t.Fatal("accepted a bad policy")
	}
}

func trimLower(s string) string { return string(bytes.ToLower(bytes.TrimSpace([]byte(s)))) }

func TestLogAppendTime(t *testing.T) {
	e := newEnv(t)
	e.cfg.LogAppendTime = true
	l := e.open()
	res := mustAppend(t, l, batch(2, 10, 5))
	if res.LogAppendTime != e.clock.Ms() {
		t.Fatalf("LogAppendTime %d", res.LogAppendTime)
	}
	r, err := l.Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.AppendTo(nil)
	r.Release()
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err) // CRC recomputed
	}
	if !h.IsLogAppendTime() || h.MaxTimestamp != e.clock.Ms() || h.FirstTimestamp != 5 {
		t.Fatalf("%+v", h)
	}
	recs, _ := DecodeRecords(b)
	for _, r := range recs {
		if r.Timestamp != e.clock.Ms() {
			t.Fatalf("record timestamp %d", r.Timestamp)
		}
	}
}

// Compressed batches are decompressed on the append path to check their
// records, as Kafka does: a payload that does not decompress, or that
// holds other records than declared, is refused and nothing is written.
func TestAppendValidatesCompressed(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	good := batch(3, 50, 1)
	for _, c := range []int{CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		cb := compressBatch(t, good, c)
		fix := func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-logOverhead))
			setCRC(b)
			return b
		}
		corrupt := bytes.Clone(cb)
		for i := BatchHeaderSize + (len(cb)-BatchHeaderSize)/2; i < len(cb); i++ {
			corrupt[i] ^= 0x5a
		}
		cases := map[string][]byte{
			"corrupt payload":   fix(corrupt),
			"truncated payload": fix(bytes.Clone(cb[:BatchHeaderSize+(len(cb)-BatchHeaderSize)/2])),
			"garbage payload":   fix(append(bytes.Clone(cb[:BatchHeaderSize]), bytes.Repeat([]byte("not compressed"), 4)...)),
			"more records declared": func() []byte {
				b := bytes.Clone(cb)
				binary.BigEndian.PutUint32(b[offNumRecords:], 4)
				binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 3)
				return fix(b)
			}(),
			"fewer records declared": func() []byte {
				b := bytes.Clone(cb)
				binary.BigEndian.PutUint32(b[offNumRecords:], 2)
				binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 1)
				return fix(b)
			}(),
		}
		for name, b := range cases {
			if _, err := l.Append(b); !errors.Is(err, ErrCorruptMessage) {
				t.Errorf("codec %s, %s: %v, want ErrCorruptMessage", codecName(c), name, err)
			}
		}
		if l.LogEndOffset() != 0 {
			t.Fatalf("codec %s: a refused batch was written", codecName(c))
		}
		// The CRC covers the payload, so a bad payload with a good CRC
		// comes from the producer: the message says what is wrong.
		_, err := l.Append(cases["corrupt payload"])
		if err == nil || !strings.Contains(err.Error(), codecName(c)) && c != CodecSnappy {
			t.Errorf("codec %s: error %v does not name the codec", codecName(c), err)
		}
	}
	// The same batches, intact, are stored byte for byte as produced.
	for _, c := range []int{CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		cb := compressBatch(t, good, c)
		res := mustAppend(t, l, cb)
		r, err := l.Read(res.BaseOffset, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := r.AppendTo(nil)
		r.Release()
		if !bytes.Equal(got[offLength:], cb[offLength:]) {
			t.Fatalf("codec %s: stored batch differs from the produced one", codecName(c))
		}
	}
}
