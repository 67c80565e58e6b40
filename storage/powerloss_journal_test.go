package storage

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Power loss with many journaled logs: writers append to several
// partitions at once (their appends durable only through the shared
// journal), the journal is small enough to be checkpointed many times,
// segments roll, and a clean close and reopen sit between two phases. The
// power goes after a random operation (strict or torn); after it, and
// after a second crash during that recovery, every acknowledged batch of
// every partition is there byte for byte, every batch is whole or absent,
// nothing else is there, and the next append gets a new offset.

const jParts = 6

func journalWorkload(fsys vfs.FS, lgs []*ledger, writers, perPhase int) *jset {
	s, err := openJSet(fsys, jParts, plConfig(), jsetMax)
	if err != nil {
		return nil
	}
	for phase := range 2 {
		if phase > 0 {
			leos := make([]int64, jParts)
			fenced := false
			for p, l := range s.logs {
				leos[p] = l.LogEndOffset()
				fenced = fenced || l.Err() != nil
			}
			// Close of a fenced log returns nil without flushing: only
			// an unfenced set is closed cleanly.
			if err := s.close(); err != nil || fenced {
				return nil
			}
			for p := range leos {
				lgs[p].raiseDurable(leos[p]) // a clean close made all durable
			}
			if s, err = openJSet(fsys, jParts, plConfig(), jsetMax); err != nil {
				return nil
			}
		}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perPhase {
					p := (w*7 + i*3) % jParts
					l, lg := s.logs[p], lgs[p]
					b := lg.next(2, 8)
					orig := append([]byte(nil), b...)
					res, err := l.Append(b)
					if err != nil {
						// The power went during the append: its batch
						// may have reached the segment whole.
						failedAppend(lg, orig)
						return
					}
					pb := lg.appended(res, b)
					if err := waitDurable(l, res.LastOffset+1); err != nil {
						return
					}
					lg.ack(pb)
				}
			}()
		}
		wg.Wait()
	}
	return s
}

// failed keeps the records of appends that returned an error, by value
// (values are unique to a batch): they may or may not be there, whole.
var failed sync.Map // *ledger -> *[][]Record

func failedAppend(lg *ledger, b []byte) {
	recs, _, err := DecodeBatches(b, 0)
	if err != nil {
		panic(err)
	}
	v, _ := failed.LoadOrStore(lg, new([][]Record))
	lg.mu.Lock()
	*v.(*[][]Record) = append(*v.(*[][]Record), recs)
	lg.mu.Unlock()
}

// unledgered checks the records present that no successful append gave:
// each must be a whole batch of an append that failed.
func unledgered(t *testing.T, p int, lg *ledger, extra []Record) {
	t.Helper()
	if len(extra) == 0 {
		return
	}
	v, ok := failed.Load(lg)
	if !ok {
		t.Fatalf("partition %d: %d records present that were never appended: %q", p, len(extra), extra[0].Value)
	}
	byValue := map[string]Record{}
	for _, r := range extra {
		byValue[string(r.Value)] = r
	}
	for _, recs := range *v.(*[][]Record) {
		n := 0
		for _, r := range recs {
			if _, ok := byValue[string(r.Value)]; ok {
				n++
				delete(byValue, string(r.Value))
			}
		}
		if n != 0 && n != len(recs) {
			t.Fatalf("partition %d: a failed append is half there: %d of %d records", p, n, len(recs))
		}
	}
	if len(byValue) > 0 {
		t.Fatalf("partition %d: %d records present that were never appended", p, len(byValue))
	}
}

func newLedgers() []*ledger {
	lgs := make([]*ledger, jParts)
	for i := range lgs {
		lgs[i] = newLedger()
	}
	return lgs
}

// verifyJournaled opens the journal and its logs on img and checks every
// partition against its ledger.
func verifyJournaled(t *testing.T, img vfs.FS, lgs []*ledger) {
	t.Helper()
	s, err := openJSet(img, jParts, plConfig(), jsetMax)
	if err != nil {
		t.Fatalf("open after the power loss: %v", err)
	}
	defer s.close()
	for p, l := range s.logs {
		if err := l.Err(); err != nil {
			t.Fatalf("partition %d fenced after a power loss: %v", p, err)
		}
		present := map[int64]Record{}
		for _, r := range readRecords(t, l, l.LogStartOffset(), false) {
			present[r.Offset] = r
		}
		lg := lgs[p]
		lg.mu.Lock()
		var maxPresent, promised int64 = -1, lg.durable
		seen := 0
		ledgered := map[int64]bool{}
		for _, pb := range lg.batches {
			n := 0
			for _, want := range pb.recs {
				got, ok := present[want.Offset]
				if !ok {
					continue
				}
				n++
				ledgered[want.Offset] = true
				if string(got.Key) != string(want.Key) || string(got.Value) != string(want.Value) || got.Timestamp != want.Timestamp {
					t.Fatalf("partition %d offset %d holds %q=%q, appended %q=%q", p, want.Offset, got.Key, got.Value, want.Key, want.Value)
				}
				maxPresent = max(maxPresent, want.Offset)
			}
			seen += n
			if n != 0 && n != len(pb.recs) {
				t.Fatalf("partition %d: batch at %d is half there: %d of %d records", p, pb.base, n, len(pb.recs))
			}
			if n == 0 && (pb.acked || pb.last < lg.durable) {
				t.Fatalf("partition %d: batch %d-%d lost (acknowledged %v; closed cleanly below %d)", p, pb.base, pb.last, pb.acked, lg.durable)
			}
			if pb.acked {
				promised = max(promised, pb.last+1)
			}
		}
		lg.mu.Unlock()
		var extra []Record
		for off, r := range present {
			if !ledgered[off] {
				extra = append(extra, r)
				maxPresent = max(maxPresent, off)
			}
		}
		unledgered(t, p, lg, extra)
		res, err := l.Append(BuildBatch(1, []Record{{Timestamp: 1, Key: []byte("after"), Value: []byte("crash")}}))
		if err != nil {
			t.Fatalf("partition %d: append after recovery: %v", p, err)
		}
		if res.BaseOffset <= maxPresent || res.BaseOffset < promised {
			t.Fatalf("partition %d: append after recovery got offset %d (records up to %d survive, %d promised)", p, res.BaseOffset, maxPresent, promised)
		}
		if err := waitDurable(l, res.LastOffset+1); err != nil {
			t.Fatalf("partition %d: wait after recovery: %v", p, err)
		}
	}
}

// recoverJournaledTwice crashes img at a random point of a recovery (the
// replay, its checkpoint, the clean close after) and returns what that
// second crash left; rng nil returns img.
func recoverJournaledTwice(img *vfs.CrashFS, rng *rand.Rand) *vfs.CrashFS {
	if rng == nil {
		return img
	}
	dry := img.CrashClone(nil)
	before := dry.Ops()
	if s, err := openJSet(dry, jParts, plConfig(), jsetMax); err == nil {
		s.close()
	}
	n := dry.Ops() - before
	if n < 1 {
		return img
	}
	img.CrashAfter(1+rng.Int64N(n), rng)
	if s, err := openJSet(img, jParts, plConfig(), jsetMax); err == nil {
		s.close()
	}
	if again := img.Image(); again != nil {
		return again
	}
	return img.Crash(rng)
}

// jsetMax is the MaxBytes of the power-loss tests' journals: small, so
// that a run switches files and checkpoints often.
var jsetMax int64 = 3000

func TestPowerLossJournal(t *testing.T) {
	// The journal files preallocated whole (the default step, past the
	// 3000 bytes at which they are switched), grown 256 bytes at a time
	// (entries overwrite zeros and grow the file by turns), and not
	// preallocated at all.
	eachPrealloc(t, testPowerLossJournal)
}

// eachPrealloc runs test once per journal preallocation: the default
// step, 256 bytes at a time, none.
func eachPrealloc(t *testing.T, test func(*testing.T)) {
	for _, pre := range []int64{0, 256, -1} {
		t.Run(fmt.Sprintf("prealloc=%d", pre), func(t *testing.T) {
			defer func(old int64) { jsetPrealloc = old }(jsetPrealloc)
			jsetPrealloc = pre
			test(t)
		})
	}
}

func testPowerLossJournal(t *testing.T) {
	seed := plSeed(t)
	const writers, perPhase = 4, 15
	dry := newPLDisk(t)
	ref := newLedgers()
	s := journalWorkload(dry, ref, writers, perPhase)
	if s == nil {
		t.Fatal("the workload failed without a crash")
	}
	acked, checkpoints := 0, 0
	s.j.mu.Lock()
	gen := s.j.gen
	s.j.mu.Unlock()
	s.close()
	for _, lg := range ref {
		for _, pb := range lg.batches {
			if pb.acked {
				acked++
			}
		}
	}
	checkpoints = int(gen)
	if acked != writers*perPhase*2 || checkpoints < 4 {
		t.Fatalf("without a crash: %d of %d batches acknowledged, journal generation %d (checkpoints too few)", acked, writers*perPhase*2, gen)
	}
	t.Logf("without a crash: %d batches acknowledged over %d partitions, journal generation %d, %d operations", acked, jParts, gen, dry.Ops())
	crashPoints(t, seed, dry.Ops(), 100, 4*time.Second, func(k int64, rng *rand.Rand) {
		disk := newPLDisk(t)
		lgs := newLedgers()
		disk.CrashAfter(k, rng)
		if s := journalWorkload(disk, lgs, writers, perPhase); s != nil {
			s.close()
		}
		img := disk.Image()
		if img == nil {
			img = disk.Crash(rng)
		}
		verifyJournaled(t, recoverJournaledTwice(img, rng), lgs)
	})
}

// TestPowerLossJournalMultiPage: journal files of several 4 KiB pages, so
// that a crash that keeps some pages of an in-place overwrite and not
// others (CrashFS) meets zeros in one page and entries in a later one.
func TestPowerLossJournalMultiPage(t *testing.T) {
	defer func(m int64) { jsetMax = m }(jsetMax)
	jsetMax = 10000
	eachPrealloc(t, testPowerLossJournal)
}

// TestPowerLossJournalNoSpace: a full disk fails journal writes (the
// preallocation's and the entries', torn at random) while appends go on
// after each failure, and the power fails at a random point: every
// acknowledged append is there after the restart, and nothing of a
// rolled-back one.
func TestPowerLossJournalNoSpace(t *testing.T) {
	for _, pre := range []int64{0, 256, -1} {
		for _, maxB := range []int64{3000, 10000} {
			t.Run(fmt.Sprintf("prealloc=%d/max=%d", pre, maxB), func(t *testing.T) {
				defer func(old, m int64) { jsetPrealloc, jsetMax = old, m }(jsetPrealloc, jsetMax)
				jsetPrealloc, jsetMax = pre, maxB
				var acked, full, crashed int
				for seed := uint64(1); seed <= 150; seed++ {
					rng := rand.New(rand.NewPCG(seed, 7))
					disk := newPLDisk(t)
					efs := vfs.NewErrorFS(disk)
					lgs := newLedgers()
					s, err := openJSet(efs, jParts, plConfig(), jsetMax)
					if err != nil {
						t.Fatal(err)
					}
					for range 6 {
						efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Suffix(journalSuffix), Err: errNoSpace,
							After: rng.IntN(120), Times: 1 + rng.IntN(3), Torn: rng.IntN(500)})
					}
					var crng *rand.Rand // nil: the crash keeps only what was fsynced
					if seed%2 == 0 {
						crng = rand.New(rand.NewPCG(seed, 9))
					}
					disk.CrashAfter(1+rng.Int64N(400), crng)
					for i := range 80 {
						p := i % jParts
						l, lg := s.logs[p], lgs[p]
						b := lg.next(2, 8)
						orig := append([]byte(nil), b...)
						res, err := l.Append(b)
						if err != nil {
							failedAppend(lg, orig)
							if errors.Is(err, vfs.ErrPowerLost) || disk.Image() != nil {
								break
							}
							if !isNoSpace(err) {
								t.Fatalf("seed %d: append %d: %v", seed, i, err)
							}
							full++
							continue
						}
						pb := lg.appended(res, b)
						if err := waitDurable(l, res.LastOffset+1); err != nil {
							break
						}
						lg.ack(pb)
						acked++
					}
					img := disk.Image()
					if img != nil {
						crashed++
					} else {
						img = disk.Crash(crng)
					}
					s.close()
					verifyJournaled(t, img, lgs)
				}
				// The faults and the crash must have happened, or this
				// checked nothing.
				if acked == 0 || full == 0 || crashed == 0 {
					t.Fatalf("%d appends acknowledged, %d refused for a full disk, %d runs crashed mid-run: a case did not happen", acked, full, crashed)
				}
				t.Logf("%d appends acknowledged, %d refused for a full disk, %d of 150 runs crashed mid-run", acked, full, crashed)
			})
		}
	}
}
