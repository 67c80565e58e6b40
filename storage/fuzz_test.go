package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Seed corpora live in testdata/fuzz/<Target>; regenerate them with
// REWIND_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./storage/
func parseSeeds() [][]byte {
	b := batch(3, 20, 1000)
	withProducer := idem(b, 42, 1, 7)
	empty := BuildBatch(5, nil)
	seeds := [][]byte{
		b,
		withProducer,
		empty,
		append(bytes.Clone(b), b...),
		b[:BatchHeaderSize],
		BuildBatch(1, []Record{{Timestamp: 1, Key: []byte("k"), Value: []byte("v"), Headers: []Header{{Key: "a", Value: nil}}}}),
	}
	for _, c := range []int{CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		seeds = append(seeds, compressBatch(nil, b, c))
	}
	return seeds
}

func FuzzParseBatchHeader(f *testing.F) {
	for _, s := range parseSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseBatchHeader(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptMessage) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if h.Size() > int64(len(data)) || h.Length < minLength || h.Magic != 2 {
			t.Fatalf("accepted inconsistent header %+v for %d bytes", h, len(data))
		}
		b := data[:h.Size()]
		verr := validateBatch(&h, b, 1<<20, nil)
		recs, derr := DecodeRecords(b)
		if verr == nil && derr != nil {
			t.Fatalf("validated batch does not decode: %v", derr)
		}
		if derr == nil && verr == nil && int32(len(recs)) != h.NumRecords {
			t.Fatalf("%d records decoded, %d declared", len(recs), h.NumRecords)
		}
	})
}

// recordSeeds are record bodies (uncompressed, or compressed with the
// codec) and their record counts.
func recordSeeds() (codecs []byte, bodies [][]byte, counts []int32) {
	add := func(b []byte, codec int) {
		if codec != CodecNone {
			b = compressBatch(nil, b, codec)
		}
		h := decodeHeader(b)
		codecs = append(codecs, byte(codec))
		bodies = append(bodies, b[BatchHeaderSize:])
		counts = append(counts, h.NumRecords)
	}
	hdrs := BuildBatch(1, []Record{{Timestamp: 1, Key: []byte("k"), Value: []byte("v"), Headers: []Header{{Key: "a", Value: []byte("b")}}}})
	for _, c := range []int{CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		add(batch(3, 20, 1000), c)
		add(hdrs, c)
	}
	return
}

// FuzzValidateRecords wraps a records body in a batch with a correct
// header and CRC and checks the produce-path validation against the
// consumer-side decoder: whatever Append would accept must decode to the
// declared records, and the streaming walk of compressed records agrees
// with the in-memory one.
func FuzzValidateRecords(f *testing.F) {
	codecs, bodies, counts := recordSeeds()
	for i := range codecs {
		f.Add(codecs[i], bodies[i], counts[i])
	}
	f.Fuzz(func(t *testing.T, codec byte, body []byte, n int32) {
		codec %= 5
		defer func() {
			// Every decode gives back its share of the budget.
			if !decodeMem.TryAcquire(decodeBudget) {
				t.Fatal("the decode budget was not given back")
			}
			decodeMem.Release(decodeBudget)
		}()
		if n < 1 || n > 1<<20 {
			n = 1 + n&0xff
		}
		recs := make([]Record, 0)
		b := BuildBatch(0, recs)[:BatchHeaderSize]
		b = append(b, body...)
		binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-logOverhead))
		binary.BigEndian.PutUint32(b[offNumRecords:], uint32(n))
		binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(n-1))
		binary.BigEndian.PutUint16(b[offAttributes:], uint16(codec))
		setCRC(b)
		h, err := ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		verr := validateBatch(&h, b, 1<<20, nil)
		if verr != nil && !errors.Is(verr, ErrCorruptMessage) && !errors.Is(verr, ErrInvalidRecord) {
			t.Fatalf("unexpected error class: %v", verr)
		}
		if verr == nil {
			// Only what validation accepted: decoding a refused bomb
			// whole would take seconds (it is bounded, not small).
			got, derr := DecodeRecords(b)
			if derr != nil {
				t.Fatalf("validated batch does not decode: %v", derr)
			}
			if int32(len(got)) != n {
				t.Fatalf("%d records decoded, %d declared", len(got), n)
			}
			// The browser's streaming preview reads the same records.
			var pn int32
			_, perr := PreviewBatch(b, 0, PreviewLimits{MaxField: 4, MaxHeaders: 1, MaxDecoded: DecompressLimit(1 << 20)}, func(p RecordPreview) bool {
				if r := got[pn]; p.Offset != r.Offset || p.ValueLen != len(r.Value) && r.Value != nil || !bytes.HasPrefix(r.Value, p.Value) {
					t.Fatalf("preview of record %d: %+v, decoded %+v", pn, p, r)
				}
				pn++
				return true
			})
			if perr != nil || pn != n {
				t.Fatalf("preview: %d records, %v", pn, perr)
			}
		}
		if codec == CodecNone {
			// The streaming walk must agree with walkRecords.
			c := &countingReader{r: bufio.NewReader(bytes.NewReader(body)), limit: int64(len(body))}
			serr := walkRecordStream(c, n, nil)
			if (serr == nil) != (verr == nil) {
				t.Fatalf("stream walk %v, in-memory walk %v", serr, verr)
			}
		}
	})
}

// FuzzRecover writes a small log, damages it the way a crash or a bad disk
// could (a flipped byte, garbage appended), and checks that Open either
// recovers a consistent log (every visible batch valid, offsets
// contiguous, appending works, nothing before the damage lost) or, for
// damage that cannot be a torn write (valid batches after it), fences the
// log with ErrCorruption and leaves the file as it was.
func FuzzRecover(f *testing.F) {
	f.Add([]byte{}, uint16(0), byte(0))
	f.Add([]byte("garbage"), uint16(0), byte(0))
	f.Add(make([]byte, 100), uint16(0), byte(0))
	f.Add([]byte{}, uint16(300), byte(1))
	f.Add(batch(1, 10, 5), uint16(17), byte(0xff))
	f.Add(batch(2, 10, 5)[:70], uint16(9), byte(0x80))
	f.Fuzz(func(t *testing.T, tail []byte, flipPos uint16, flipVal byte) {
		e := newEnv(t)
		l := e.open()
		for i := 0; i < 5; i++ {
			mustAppend(t, l, batch(4, 20, int64(i)))
		}
		crash(t, l)
		p := segPath(e.dir, 0, logSuffix)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if flipVal != 0 {
			data[int(flipPos)%len(data)] ^= flipVal
		}
		data = append(data, tail...)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err = Open(e.dir, e.cfg, e.opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		if err := l.Err(); err != nil {
			if !errors.Is(err, ErrCorruption) || !errors.Is(err, ErrStorage) {
				t.Fatalf("fenced with %v", err)
			}
			if flipVal == 0 && len(tail) < BatchHeaderSize {
				t.Fatalf("fenced by a tail too short to hold a batch: %v", err)
			}
			if got := fileSize(t, p); got != int64(len(data)) {
				t.Fatalf("fenced log's segment changed from %d to %d bytes", len(data), got)
			}
			if _, err := l.Append(batch(1, 1, 1)); !errors.Is(err, ErrCorruption) {
				t.Fatalf("append to a fenced log: %v", err)
			}
			return
		}
		leo := l.LogEndOffset()
		if flipVal == 0 && leo < 20 {
			t.Fatalf("lost intact records: leo %d", leo)
		}
		var next int64
		if leo > 0 {
			r, err := l.Read(0, 1<<30, true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := r.AppendTo(nil)
			r.Release()
			if err != nil {
				t.Fatal(err)
			}
			for len(b) > 0 {
				h, err := ParseBatchHeader(b)
				if err != nil || h.BaseOffset != next {
					t.Fatalf("bad batch at offset %d after recovery: %v (base %d)", next, err, h.BaseOffset)
				}
				next = h.LastOffset() + 1
				b = b[h.Size():]
			}
		}
		if next != leo {
			t.Fatalf("batches end at %d, log end %d", next, leo)
		}
		res, err := l.Append(batch(1, 1, 1))
		if err != nil || res.BaseOffset != leo {
			t.Fatalf("append after recovery: %+v %v", res, err)
		}
	})
}

// FuzzRecoverFiles damages the files recovery may rebuild rather than
// trust: a sealed segment's offset or time index, the active segment's
// indexes after a clean shutdown, the checkpoint, a producer snapshot. The
// content is arbitrary; whatever it is, Open must not fence the log (the
// .log files are intact), every record must read back at its offset with
// its value, and the log must take appends at the right offset.
func FuzzRecoverFiles(f *testing.F) {
	for which := byte(0); which < 6; which++ {
		f.Add(which, false, []byte{})
		f.Add(which, true, []byte("garbage!garbage!garbage!"))
		f.Add(which, false, make([]byte, 24))
	}
	f.Add(byte(0), true, []byte{0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 1, 0})
	f.Add(byte(1), true, []byte{0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, which byte, clean bool, content []byte) {
		e := newEnv(t)
		e.cfg.SegmentBytes = 1200
		e.cfg.IndexIntervalBytes = 200
		l := e.open()
		const n = 12 // batches of 3 records, about 300 bytes each: 3 per segment
		for i := 0; i < n; i++ {
			mustAppend(t, l, batch(3, 50, int64(1000+10*i)))
		}
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			crash(t, l)
		}
		logs, _ := filepath.Glob(filepath.Join(e.dir, "*"+logSuffix))
		if len(logs) < 3 {
			t.Fatalf("%d segments; the test needs sealed ones", len(logs))
		}
		sealed := strings.TrimSuffix(logs[1], logSuffix) // a sealed segment in the middle
		var target string
		switch which % 6 {
		case 0:
			target = sealed + indexSuffix
		case 1:
			target = sealed + timeIndexSuffix
		case 2:
			target = segPath(e.dir, lastSeg(t, e.dir), indexSuffix)
		case 3:
			target = segPath(e.dir, lastSeg(t, e.dir), timeIndexSuffix)
		case 4:
			target = filepath.Join(e.dir, checkpointName)
		case 5:
			snaps, _ := filepath.Glob(filepath.Join(e.dir, "*"+snapshotSuffix))
			if len(snaps) == 0 {
				return
			}
			target = snaps[len(snaps)-1]
		}
		if err := os.WriteFile(target, content, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(e.dir, e.cfg, e.opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		if err := l.Err(); err != nil {
			t.Fatalf("a damaged %s fenced the log: %v", filepath.Base(target), err)
		}
		if l.LogEndOffset() != 3*n {
			t.Fatalf("log end %d, want %d", l.LogEndOffset(), 3*n)
		}
		// Read from every offset, as consumers starting anywhere do.
		for off := int64(0); off < 3*n; off++ {
			recs := readAll(t, l, off)
			if len(recs) != int(3*n-off) || recs[0].Offset != off {
				t.Fatalf("reading from %d: %d records, first at %d", off, len(recs), recs[0].Offset)
			}
			for i, r := range recs {
				want := fmt.Sprintf("v%d", (off+int64(i))%3)
				if r.Offset != off+int64(i) || !bytes.HasPrefix(r.Value, []byte(want)) {
					t.Fatalf("reading from %d: record %d is offset %d value %.4q", off, i, r.Offset, r.Value)
				}
			}
		}
		for _, ts := range []int64{-1, 0, 1000, 1055, 1110, 1200, 5000} {
			if _, _, err := l.OffsetForTimestamp(ts); err != nil {
				t.Fatalf("OffsetForTimestamp(%d): %v", ts, err)
			}
		}
		if _, _, err := l.MaxTimestamp(); err != nil {
			t.Fatalf("MaxTimestamp: %v", err)
		}
		if res := mustAppend(t, l, batch(1, 1, 1)); res.BaseOffset != 3*n {
			t.Fatalf("append at %d, want %d", res.BaseOffset, 3*n)
		}
	})
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("REWIND_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set REWIND_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	write := func(target string, i int, vals ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, v := range vals {
			body += v + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bs := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	for i, s := range parseSeeds() {
		write("FuzzParseBatchHeader", i, bs(s))
	}
	codecs, bodies, counts := recordSeeds()
	for i := range codecs {
		write("FuzzValidateRecords", i, fmt.Sprintf("byte('\\x%02x')", codecs[i]), bs(bodies[i]), fmt.Sprintf("int32(%d)", counts[i]))
	}
	bad := batch(2, 10, 1)
	bad[len(bad)-1] ^= 1
	recov := []struct {
		tail []byte
		pos  uint16
		val  byte
	}{
		{nil, 0, 0},
		{[]byte("garbage after the last batch"), 0, 0},
		{make([]byte, 4096), 0, 0},
		{batch(1, 10, 5), 0, 0},
		{bad, 0, 0},
		{nil, 170, 0x40},
		{nil, 8, 0x7f},
		{nil, 16, 1},
		{batch(3, 10, 5)[:90], 400, 0x01},
	}
	for i, r := range recov {
		write("FuzzRecover", i, bs(r.tail), fmt.Sprintf("uint16(%d)", r.pos), fmt.Sprintf("byte('\\x%02x')", r.val))
	}
}
