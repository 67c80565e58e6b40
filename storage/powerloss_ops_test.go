package storage

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Power-loss tests of the checkpoint, retention, compaction and the
// recovery bugs they found; the harness is in powerloss_test.go.

// TestPowerLossNeverTornSealedSegment: under FsyncNever a roll does not
// fsync the segment it seals, so the OS may have written the next
// segment back and only part of the sealed one (cut at a page boundary
// inside a batch, or with a page never written) when the power goes.
// Recovery truncates the sealed segment at the torn batch, as it does the
// last one, instead of fencing the log for corruption.
func TestPowerLossNeverTornSealedSegment(t *testing.T) {
	for _, tear := range []string{"cut", "zero page"} {
		t.Run(tear, func(t *testing.T) {
			disk := newPLDisk(t)
			cfg := plConfig()
			lg := newLedger()
			l, err := Open(plDir, cfg, plOptions(disk, FsyncNever))
			if err != nil {
				t.Fatal(err)
			}
			for l.LogEndOffset() < 3*30 {
				b := lg.next(3, 16)
				res, err := l.Append(b)
				if err != nil {
					t.Fatal(err)
				}
				lg.appended(res, b)
			}
			// The OS wrote everything back, then the power went ...
			disk.SyncAll()
			img := disk.Crash(nil)
			l.Close()
			// ... except the end of the first segment (9000 bytes long).
			f, err := img.OpenFile(filepath.Join(plDir, segmentName(0, logSuffix)), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tear == "cut" {
				err = f.Truncate(2 * 4096)
			} else {
				b := make([]byte, 9000)
				n, _ := f.ReadAt(b, 0)
				clear(b[4096:8192])
				if err = f.Truncate(0); err == nil {
					_, err = f.Write(b[:n])
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			f.Sync()
			f.Close()
			verifyLog(t, img, cfg, FsyncNever, lg).Close()
		})
	}
}

// crashWindow crashes the disk at every operation (at most maxN of them,
// seeded) of window, run after prepare has built a state; check gets the
// disk the crash left (and a second crash during recovery, every other
// point). prepare must make the same operations each time.
func crashWindow[S any](t *testing.T, maxN int, prepare func(*vfs.CrashFS) S, window func(S), check func(*vfs.CrashFS, S, *rand.Rand)) {
	t.Helper()
	seed := plSeed(t)
	dry := newPLDisk(t)
	st := prepare(dry)
	before := dry.Ops()
	window(st)
	crashPoints(t, seed, dry.Ops()-before, maxN, 3*time.Second, func(k int64, rng *rand.Rand) {
		disk := newPLDisk(t)
		st := prepare(disk)
		disk.CrashAfter(k, rng)
		window(st)
		img := disk.Image()
		if img == nil {
			img = disk.Crash(rng)
		}
		check(img, st, rng)
	})
}

// plState is a log a window works on, and what was appended to it.
type plState struct {
	l   *Log
	lg  *ledger
	cfg Config
	err error // of the window's operation
}

// prepareAcked opens a log under FsyncAlways and appends n batches one at
// a time, each acknowledged.
func prepareAcked(t *testing.T, cfg Config, n int) func(*vfs.CrashFS) *plState {
	return func(disk *vfs.CrashFS) *plState {
		lg := newLedger()
		l, err := openWatched(disk, cfg, FsyncAlways, lg)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			b := lg.next(3, 16)
			res, err := l.Append(b)
			if err != nil {
				t.Fatal(err)
			}
			pb := lg.appended(res, b)
			if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
				t.Fatal(err)
			}
			lg.ack(pb)
		}
		return &plState{l: l, lg: lg, cfg: cfg}
	}
}

// TestPowerLossCheckpoint crashes at every operation of a clean Close
// (indexes, producer snapshot, the clean checkpoint), the Open after it
// (which trusts the clean checkpoint and rewrites it as not clean before
// any change) and the appends that follow: a stale clean flag must never
// make Open trust a torn tail.
func TestPowerLossCheckpoint(t *testing.T) {
	cfg := plConfig()
	crashWindow(t, 400, prepareAcked(t, cfg, 25), func(st *plState) {
		leo := st.l.LogEndOffset()
		if st.l.Close() != nil || st.l.Err() != nil {
			return
		}
		st.lg.raiseDurable(leo)
		l, err := openWatched(st.l.fs.(*syncWatch).FS, cfg, FsyncAlways, st.lg)
		if err != nil {
			return
		}
		defer l.Close()
		for range 4 {
			b := st.lg.next(3, 16)
			res, err := l.Append(b)
			if err != nil {
				return
			}
			pb := st.lg.appended(res, b)
			if l.WaitDurable(context.Background(), res.LastOffset+1) != nil {
				return
			}
			st.lg.ack(pb)
		}
	}, func(img *vfs.CrashFS, st *plState, rng *rand.Rand) {
		verifyLog(t, recoverTwice(t, img, cfg, FsyncAlways, rng), cfg, FsyncAlways, st.lg).Close()
	})
}

// TestPowerLossRetention crashes at every operation of retention by size
// and of DeleteRecordsBefore. The checkpoint with the new log start is
// durable before any segment is removed: after the crash the log starts
// at the old or the new offset (the new one once the call returned), every
// acknowledged record from there on is there, nothing below it is read,
// and no segment wholly below it is left.
func TestPowerLossRetention(t *testing.T) {
	cfg := plConfig()
	for _, how := range []string{"retention.bytes", "DeleteRecords"} {
		t.Run(how, func(t *testing.T) {
			crashWindow(t, 200, prepareAcked(t, cfg, 60), func(st *plState) {
				defer st.l.Close()
				st.lg.startMax = st.l.LogEndOffset() // at most: refined below
				if how == "retention.bytes" {
					c := cfg
					c.RetentionBytes = 2 * cfg.SegmentBytes
					st.l.SetConfig(c)
					before := st.l.LogStartOffset()
					st.err = st.l.ApplyRetention()
					if st.err == nil && st.l.LogStartOffset() > before {
						st.lg.startMin = st.l.LogStartOffset()
					}
					st.lg.startMax = st.l.LogStartOffset()
					return
				}
				target := st.l.LogEndOffset() / 2
				var ls int64
				ls, st.err = st.l.DeleteRecordsBefore(target)
				if st.err == nil {
					st.lg.startMin = ls
				}
				st.lg.startMax = max(ls, target)
			}, func(img *vfs.CrashFS, st *plState, rng *rand.Rand) {
				img = recoverTwice(t, img, cfg, FsyncAlways, rng)
				l := verifyLog(t, img, cfg, FsyncAlways, st.lg)
				defer l.Close()
				ls := l.LogStartOffset()
				if ls > 0 {
					if _, err := l.Read(ls-1, 1000, true); err == nil {
						t.Fatalf("read below the log start %d succeeded", ls)
					}
				}
				var bases []int64
				for _, name := range plFiles(t, img) {
					if b, ok := strings.CutSuffix(name, logSuffix); ok {
						v, _ := strconv.ParseInt(b, 10, 64)
						bases = append(bases, v)
					}
				}
				if len(bases) > 1 && bases[1] <= ls {
					t.Fatalf("segment %d lies wholly below the log start %d and was not removed (%v)", bases[0], ls, bases)
				}
			})
		})
	}
}

// TestPowerLossCompaction crashes at every operation of a compaction run
// (writing <base>.cleaned, renaming it to the .swap that commits it,
// removing the old segments, renaming the .swap over <base>.log, the
// directory syncs between) and of the Close after it. After recovery no
// .cleaned or .swap file is left, every record there is the one appended
// at its offset, the latest record of every key is there, and compacting
// again gives exactly the records a run without a crash kept.
func TestPowerLossCompaction(t *testing.T) {
	cfg := plConfig()
	prepare := prepareAcked(t, cfg, 70)
	ref := func() map[int64]bool {
		disk := newPLDisk(t)
		st := prepare(disk)
		defer st.l.Close()
		if _, err := st.l.Compact(CompactPolicy{}); err != nil {
			t.Fatal(err)
		}
		kept := map[int64]bool{}
		for _, r := range readRecords(t, st.l, 0, true) {
			kept[r.Offset] = true
		}
		return kept
	}()
	crashWindow(t, 300, prepare, func(st *plState) {
		defer st.l.Close()
		_, st.err = st.l.Compact(CompactPolicy{})
	}, func(img *vfs.CrashFS, st *plState, rng *rand.Rand) {
		img = recoverTwice(t, img, cfg, FsyncAlways, rng)
		l, err := Open(plDir, cfg, plOptions(img, FsyncAlways))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.Err(); err != nil {
			t.Fatalf("fenced after a power loss during compaction: %v", err)
		}
		for _, name := range plFiles(t, img) {
			if strings.HasSuffix(name, cleanedSuffix) || strings.HasSuffix(name, swapSuffix) {
				t.Fatalf("%s left after recovery: %s", name, describeDir(t, img))
			}
		}
		want := map[int64]Record{}
		latest := map[string]int64{}
		for _, pb := range st.lg.batches {
			for _, r := range pb.recs {
				want[r.Offset] = r
				if o, ok := latest[string(r.Key)]; !ok || r.Offset > o {
					latest[string(r.Key)] = r.Offset
				}
			}
		}
		check := func(recs []Record) map[int64]bool {
			got := map[int64]bool{}
			for _, r := range recs {
				w, ok := want[r.Offset]
				if !ok || string(w.Value) != string(r.Value) || string(w.Key) != string(r.Key) {
					t.Fatalf("offset %d holds %q=%q, appended %q=%q", r.Offset, r.Key, r.Value, w.Key, w.Value)
				}
				got[r.Offset] = true
			}
			for k, o := range latest {
				if !got[o] {
					t.Fatalf("the latest record of %s (offset %d) is gone: %s", k, o, describeDir(t, img))
				}
			}
			return got
		}
		check(readRecords(t, l, 0, true))
		if _, err := l.Compact(CompactPolicy{}); err != nil {
			t.Fatalf("compacting after recovery: %v", err)
		}
		if got := check(readRecords(t, l, 0, true)); !sameOffsets(got, ref) {
			t.Fatalf("compaction after the crash kept %d records, a run without a crash %d", len(got), len(ref))
		}
	})
}

func sameOffsets(a, b map[int64]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestOpenRemoveLeftoverFails: Open removes the segments a deletion left
// below the log start (a crash after its checkpoint); when a removal
// fails (EIO, or the power going during that recovery, which
// TestPowerLossRetention found) Open returns the error. It released those
// segments twice and panicked ("segment reference count below zero").
func TestOpenRemoveLeftoverFails(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 2000
	l := e.open()
	for range 20 {
		mustAppend(t, l, batch(3, 100, 1))
	}
	// The deletion's removals fail: its checkpoint moved the log start,
	// the files stay behind.
	undo := e.efs.Inject(vfs.Fault{Op: vfs.OpRemove, Match: vfs.Suffix(logSuffix)})
	if _, err := l.DeleteRecordsBefore(l.LogEndOffset() / 2); err == nil {
		t.Fatal("DeleteRecordsBefore with failing removals succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(e.dir, e.cfg, e.opts); err == nil {
		t.Fatal("Open succeeded although removing a leftover segment failed")
	}
	undo()
	l2 := e.open()
	if err := l2.Err(); err != nil {
		t.Fatal(err)
	}
	l2.mu.RLock()
	first := l2.segs[0].base
	l2.mu.RUnlock()
	ents, err := os.ReadDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if b, ok := strings.CutSuffix(ent.Name(), logSuffix); ok {
			if v, _ := strconv.ParseInt(b, 10, 64); v < first {
				t.Fatalf("leftover segment %s below the log start %d not removed", ent.Name(), l2.LogStartOffset())
			}
		}
	}
}

// TestPowerLossLostPageAfterFsync: the page holding the end of the last
// fsync is written again by later appends; the OS writes a later page
// back but not that one before the power goes, so the file reads zeros
// from the fsynced end to the end of the page (what the block held when
// it was written at the fsync), then valid batches. Less than a whole
// aligned sector of zeros: recovery took it for corruption in the middle
// of the segment and fenced the log; it is a torn tail, truncated after
// the acknowledged records.
func TestPowerLossLostPageAfterFsync(t *testing.T) {
	disk := newPLDisk(t)
	cfg := plConfig()
	cfg.SegmentBytes = 1 << 20
	lg := newLedger()
	l, err := Open(plDir, cfg, plOptions(disk, FsyncAlways))
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return l.segs[len(l.segs)-1].size
	}
	// Acknowledged batches until the fsynced end lies inside the last
	// sector of a page, with at least 12 bytes to its end.
	for m := int64(0); m <= 4096-sectorSize || m > 4096-offLeaderEpoch; m = size() % 4096 {
		b := lg.next(3, 16)
		res, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		pb := lg.appended(res, b)
		if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		lg.ack(pb)
	}
	synced := size()
	for range 20 {
		b := lg.next(3, 16)
		res, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		lg.appended(res, b)
	}
	disk.SyncAll()
	img := disk.Crash(nil)
	l.Close()
	// The page of the fsynced end as the fsync wrote it: zeros after it.
	name := filepath.Join(plDir, segmentName(0, logSuffix))
	f, err := img.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	n, _ := f.ReadAt(buf, 0)
	clear(buf[synced : (synced/4096+1)*4096])
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(buf[:n]); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	f.Close()
	l = verifyLog(t, img, cfg, FsyncAlways, lg)
	defer l.Close()
	if fi, err := img.Stat(name); err != nil || fi.Size() < synced {
		t.Fatalf("segment after recovery: %v %v, %d bytes were fsynced", fi, err, synced)
	}
}
