package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// damageEnv is a log of 30 batches of 5 records (offsets 0-149) in small
// segments, closed cleanly.
func damageEnv(t *testing.T, fsync Fsync) (*env, []string) {
	t.Helper()
	e := newEnv(t)
	e.opts.Fsync = fsync
	e.cfg.SegmentBytes = 2048
	l := e.open()
	for i := 0; i < 30; i++ {
		mustAppend(t, l, batch(5, 50, int64(i*5)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(e.dir, "*.log"))
	slices.Sort(segs)
	if len(segs) < 3 {
		t.Fatalf("%d segments; the test needs 3", len(segs))
	}
	return e, segs
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A log holding less than its checkpoint recorded is fenced at Open with
// a message naming the problem; neither the checkpoint nor any file is
// changed, so the next Open fences it again.
func TestOpenFencesLogShorterThanCheckpoint(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, segs []string)
		want   string
	}{
		{"active segment deleted", func(t *testing.T, segs []string) { os.Remove(segs[len(segs)-1]) }, "is missing, but the checkpoint records"},
		{"every segment deleted", func(t *testing.T, segs []string) {
			for _, s := range segs {
				os.Remove(s)
			}
		}, "every segment file is missing"},
		{"first segment deleted", func(t *testing.T, segs []string) { os.Remove(segs[0]) }, "segment files below it are missing"},
		{"middle segment deleted", func(t *testing.T, segs []string) { os.Remove(segs[1]) }, "its index files remain"},
		{"active segment cut at a batch boundary", func(t *testing.T, segs []string) {
			last := segs[len(segs)-1]
			pos := batchStarts(t, last)
			os.Truncate(last, pos[len(pos)-1])
		}, "the file was cut"},
	}
	for _, c := range cases {
		for _, fsync := range []Fsync{FsyncAlways, FsyncNever} {
			t.Run(c.name+"/"+fsync.String(), func(t *testing.T) {
				e, segs := damageEnv(t, fsync)
				if fsync == FsyncAlways {
					// A crash after an Open: the checkpoint is the "not
					// clean" one recording the durable bytes.
					l := e.open()
					crash(t, l)
				}
				c.damage(t, segs)
				ck := readFile(t, filepath.Join(e.dir, checkpointName))
				before := dirNames(t, e.dir)
				for range 2 {
					l := e.open()
					err := l.Err()
					if !errors.Is(err, ErrCorruption) || !errors.Is(err, ErrStorage) || !strings.Contains(err.Error(), c.want) {
						t.Fatalf("Open after %s: Err() = %v, want corruption with %q", c.name, err, c.want)
					}
					if _, err := l.Read(0, 1000, true); !errors.Is(err, ErrStorage) {
						t.Fatalf("Read of the fenced log: %v", err)
					}
					if _, err := l.Append(batch(1, 10, 1)); !errors.Is(err, ErrStorage) {
						t.Fatalf("Append to the fenced log: %v", err)
					}
					if err := l.Close(); err != nil {
						t.Fatal(err)
					}
					if got := readFile(t, filepath.Join(e.dir, checkpointName)); !bytes.Equal(got, ck) {
						t.Fatal("Open rewrote the checkpoint of a log shorter than it says")
					}
					if got := dirNames(t, e.dir); !slices.Equal(got, before) {
						t.Fatalf("Open changed the directory: %v, was %v", got, before)
					}
				}
			})
		}
	}
}

// batchStarts lists the positions of the batches of a segment file.
func batchStarts(t *testing.T, path string) []int64 {
	t.Helper()
	b := readFile(t, path)
	var pos []int64
	for off := 0; off+BatchHeaderSize <= len(b); off += 12 + int(decodeHeader(b[off:]).Length) {
		pos = append(pos, int64(off))
	}
	return pos
}

// Repair truncates at the first bad batch, drops what follows, reports it,
// and the log opens unfenced, continuing after the last offset known.
func TestRepairCorruptBatch(t *testing.T) {
	e, segs := damageEnv(t, FsyncAlways)
	mid := segs[1]
	pos := batchStarts(t, mid)
	flipByte(t, mid, pos[1]+70) // a record byte of the second batch
	var wantDropped int64       // the rest of the segment and every later one
	for i, s := range segs[1:] {
		fi, _ := os.Stat(s)
		wantDropped += fi.Size()
		if i == 0 {
			wantDropped -= pos[1]
		}
	}
	// After a clean shutdown nothing scans the sealed segment: a reader
	// decoding the records finds the damage (and the broker fences the
	// log). Repair does not need the log fenced.

	// The dry run changes nothing.
	before := dirNames(t, e.dir)
	ck := readFile(t, filepath.Join(e.dir, checkpointName))
	dry, err := Repair(e.dir, RepairOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.OK() || dry.Changed || !slices.Equal(dirNames(t, e.dir), before) || !bytes.Equal(readFile(t, filepath.Join(e.dir, checkpointName)), ck) {
		t.Fatalf("dry run: %+v; the files changed or nothing was found", dry)
	}

	var kept, dropped int
	rep, err := Repair(e.dir, RepairOptions{
		Kept:    func(Record) { kept++ },
		Dropped: func(Record, bool) { dropped++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	base := mustBase(t, mid)
	wantKept := base + 5 // the first batch of the segment
	if rep.KeptEnd != wantKept || rep.DroppedFrom != wantKept || rep.DroppedTo != 150 || rep.NextOffset != 150 || !rep.Changed {
		t.Fatalf("report %+v: want kept to %d, dropped [%d, 150)", rep, wantKept, wantKept)
	}
	if kept != int(wantKept) || dropped != 150-int(wantKept) {
		t.Fatalf("Kept saw %d records, Dropped %d; want %d and %d (the damaged batch still decodes)", kept, dropped, wantKept, 150-wantKept)
	}
	fi, _ := os.Stat(mid)
	if rep.DroppedBytes != wantDropped || rep.TruncatedFile != mid || rep.TruncatedAt != pos[1] || fi.Size() != pos[1] {
		t.Fatalf("report %+v: segment now %d bytes, want %d; want %d bytes dropped", rep, fi.Size(), pos[1], wantDropped)
	}
	if rep.DroppedBatches != int(150-wantKept)/5 {
		t.Fatalf("%d readable batches dropped, want %d", rep.DroppedBatches, (150-wantKept)/5)
	}

	l := e.open()
	if err := l.Err(); err != nil {
		t.Fatalf("repaired log fenced: %v", err)
	}
	if l.LogEndOffset() != 150 {
		t.Fatalf("repaired log ends at %d, want 150 (offsets are not reused)", l.LogEndOffset())
	}
	got := readRecords(t, l, 0, true)
	if len(got) != int(wantKept) || got[len(got)-1].Offset != wantKept-1 {
		t.Fatalf("read %d records after the repair, want %d", len(got), wantKept)
	}
	if res := mustAppend(t, l, batch(1, 10, 500)); res.BaseOffset != 150 {
		t.Fatalf("append after repair at %d, want 150", res.BaseOffset)
	}
	// Again: nothing left to repair.
	l.Close()
	rep, err = Repair(e.dir, RepairOptions{})
	if err != nil || !rep.OK() || rep.Changed {
		t.Fatalf("second repair: %+v, %v", rep, err)
	}
}

func mustBase(t *testing.T, path string) int64 {
	t.Helper()
	b, ok := parseBaseName(filepath.Base(path), logSuffix)
	if !ok {
		t.Fatalf("not a segment: %s", path)
	}
	return b
}

// Repair accepts a missing segment file as lost: the log opens again and
// continues at the offset the checkpoint recorded.
func TestRepairMissingSegment(t *testing.T) {
	e, segs := damageEnv(t, FsyncNever)
	last := segs[len(segs)-1]
	lastBase := mustBase(t, last)
	os.Remove(last)
	l := e.open()
	if l.Err() == nil {
		t.Fatal("not fenced")
	}
	l.Close()
	rep, err := Repair(e.dir, RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if rep.OK() || rep.KeptEnd != lastBase || rep.DroppedFrom != lastBase || rep.DroppedTo != 150 || rep.NextOffset != 150 {
		t.Fatalf("report %+v", rep)
	}
	l = e.open()
	if err := l.Err(); err != nil {
		t.Fatalf("repaired log fenced: %v", err)
	}
	if l.LogEndOffset() != 150 || len(readRecords(t, l, 0, true)) != int(lastBase) {
		t.Fatalf("repaired log ends at %d", l.LogEndOffset())
	}

	// Every file gone: an empty log at the recorded end.
	l.Close()
	for _, s := range segs {
		os.Remove(s)
	}
	rep, err = Repair(e.dir, RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l = e.open()
	if err := l.Err(); err != nil || l.LogStartOffset() != rep.NextOffset || l.LogEndOffset() != rep.NextOffset {
		t.Fatalf("after losing every segment: %v, [%d, %d), report %+v", err, l.LogStartOffset(), l.LogEndOffset(), rep)
	}
}

// Whatever happens to the segment files (a byte flipped anywhere, a file
// cut anywhere, a file deleted), after Repair the log opens unfenced,
// serves exactly the original records below KeptEnd (from its start on),
// nothing between KeptEnd and NextOffset, and appends at NextOffset.
func TestRepairAnyDamage(t *testing.T) {
	for seed := int64(0); seed < 60; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		fsync := []Fsync{FsyncAlways, FsyncNever}[seed%2]
		e, segs := damageEnv(t, fsync)
		if seed%3 == 0 {
			crash(t, e.open()) // a "not clean" checkpoint recording durable bytes
		}
		orig := map[int64]string{}
		for i := 0; i < 30; i++ {
			for j, r := range decodeAll(t, batch(5, 50, int64(i*5))) {
				orig[int64(i*5+j)] = string(r.Value)
			}
		}
		victim := segs[rng.IntN(len(segs))]
		b := readFile(t, victim)
		var what string
		switch k := rng.IntN(3); {
		case k == 0 && len(b) > 0:
			at := rng.IntN(len(b))
			b[at] ^= byte(1 + rng.IntN(255))
			os.WriteFile(victim, b, 0o644)
			what = fmt.Sprintf("byte %d of %s flipped", at, filepath.Base(victim))
		case k == 1:
			n := rng.IntN(len(b) + 1)
			os.Truncate(victim, int64(n))
			what = fmt.Sprintf("%s cut to %d bytes", filepath.Base(victim), n)
		default:
			os.Remove(victim)
			what = filepath.Base(victim) + " deleted"
		}
		l := e.open()
		l.Close()
		rep, err := Repair(e.dir, RepairOptions{})
		if err != nil {
			t.Fatalf("seed %d (%s): Repair: %v", seed, what, err)
		}
		l = e.open()
		if err := l.Err(); err != nil {
			t.Fatalf("seed %d (%s): fenced after Repair %+v: %v", seed, what, rep, err)
		}
		if l.LogEndOffset() != rep.NextOffset {
			t.Fatalf("seed %d (%s): log ends at %d, report says %d", seed, what, l.LogEndOffset(), rep.NextOffset)
		}
		got := readRecords(t, l, l.LogStartOffset(), true)
		next := l.LogStartOffset()
		for _, r := range got {
			if r.Offset >= rep.KeptEnd {
				t.Fatalf("seed %d (%s): record at %d, past the kept end %d", seed, what, r.Offset, rep.KeptEnd)
			}
			// Only a missing middle segment leaves a gap, inside the
			// reported range.
			gap := r.Offset != next && strings.HasSuffix(what, "deleted") && next >= rep.DroppedFrom && r.Offset <= rep.DroppedTo
			if r.Offset < next || r.Offset > next && !gap || string(r.Value) != orig[r.Offset] {
				t.Fatalf("seed %d (%s): record at %d (want %d) differs from the original; report %+v", seed, what, r.Offset, next, rep)
			}
			next = r.Offset + 1
		}
		if next != rep.KeptEnd && !(next == l.LogStartOffset() && rep.KeptEnd <= next) {
			t.Fatalf("seed %d (%s): read up to %d, kept end %d (report %+v)", seed, what, next, rep.KeptEnd, rep)
		}
		if res := mustAppend(t, l, batch(1, 10, 999)); res.BaseOffset != rep.NextOffset {
			t.Fatalf("seed %d (%s): append at %d, want %d", seed, what, res.BaseOffset, rep.NextOffset)
		}
		l.Close()
	}
}

func decodeAll(t *testing.T, b []byte) []Record {
	t.Helper()
	recs, err := DecodeRecords(b)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
