package storage

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/powerloss"
	"github.com/rewindhq/rewind/storage/vfs"
)

// Power-loss tests: the workloads run on a vfs.CrashFS that loses power
// after its k-th mutating operation (k over the whole run, seeded), then
// the log is opened on what the disk kept. kill -9 keeps the page cache;
// these keep only what fsync made durable (strict crashes) or also some
// of what the OS might have written back by itself (torn crashes, every
// other crash point).
//
// What each policy promises, and what verify checks after every crash:
//
//   - FsyncAlways: every batch whose WaitDurable returned nil is there.
//   - FsyncInterval and FsyncNever: every batch that a completed fsync of
//     its segment covered is there (the interval's background fsync, a
//     roll's fsync of the sealed segment under FsyncInterval, Close's); no
//     more is promised for the rest.
//   - Every policy: the log opens unfenced; each batch is there whole, at
//     the offsets Append gave it, byte for byte, or not at all (a torn
//     batch is truncated, never returned); nothing else is there; the next
//     append gets an offset past every record that survived and past
//     every promised one; and a second crash during that recovery changes
//     none of this.

const plDir = "/data/p-0"

// plSeed returns the seed of a test's crash points (powerloss.Seed).
func plSeed(t *testing.T) uint64 { return powerloss.Seed(t) }

// crashPoints calls fn for crash points k in [1, total]: all of them if
// there are at most maxN, else maxN of them drawn at random (the first and
// the last always included), stopping early after budget. Every other
// point crashes torn (rng given to fn), the others strict (nil).
// REWIND_POWERLOSS_SCALE=N (a long run) takes N times the points and the
// time, going over every point N times when they are few.
func crashPoints(t *testing.T, seed uint64, total int64, maxN int, budget time.Duration, fn func(k int64, rng *rand.Rand)) {
	t.Helper()
	if total < 1 {
		t.Fatalf("the workload made no file-system operation")
	}
	// REWIND_POWERLOSS_SCALE=N tries N times the crash points in N times
	// the time (a long run).
	reps := 1
	if n, err := strconv.Atoi(os.Getenv("REWIND_POWERLOSS_SCALE")); err == nil && n > 1 {
		maxN, budget, reps = maxN*n, budget*time.Duration(n), n
	}
	r := rand.New(rand.NewPCG(seed, uint64(total)))
	var ks []int64
	var torn []bool
	if total <= int64(maxN) {
		// Every point, strict and torn in turn; in a long run each again,
		// the other way and with other torn crashes.
		for rep := range int64(reps) {
			for k := int64(1); k <= total; k++ {
				ks, torn = append(ks, k), append(torn, (k+rep)%2 == 0)
			}
		}
	} else {
		ks = append(ks, 1, total)
		for len(ks) < maxN {
			ks = append(ks, 1+r.Int64N(total))
		}
		for i := range ks {
			torn = append(torn, i%2 == 1)
		}
	}
	deadline := time.Now().Add(budget)
	var at string
	defer func() {
		if t.Failed() {
			t.Logf("failed %s", at)
		}
	}()
	for i, k := range ks {
		if time.Now().After(deadline) {
			t.Logf("time budget spent after %d of %d crash points", i, len(ks))
			return
		}
		var rng *rand.Rand
		if torn[i] {
			rng = rand.New(rand.NewPCG(seed+uint64(i), uint64(k)))
		}
		at = fmt.Sprintf("at crash point %d of %d (torn %v)", k, total, rng != nil)
		fn(k, rng)
	}
}

// newPLDisk returns a CrashFS whose /data exists durably.
func newPLDisk(t *testing.T) *vfs.CrashFS {
	t.Helper()
	c := vfs.NewCrashFS()
	if err := c.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	c.SyncAll()
	return c
}

// plBatch is one appended batch as the workload knows it.
type plBatch struct {
	base, last int64
	recs       []Record
	acked      bool // WaitDurable returned nil (FsyncAlways)
}

// ledger is what a workload appended and what was promised to survive.
type ledger struct {
	mu      sync.Mutex
	batches map[int64]*plBatch // by base offset
	seq     int
	// durable: every offset below it is promised (a completed fsync of
	// its segment, or a clean Close, covered it).
	durable int64
	// The log start offset after recovery must lie in [startMin,
	// startMax]; batches below it are gone legitimately (retention).
	startMin, startMax int64
	fsyncs             int // segment fsyncs that raised durable
}

func newLedger() *ledger { return &ledger{batches: map[int64]*plBatch{}} }

// next builds the workload's next batch: n records with values unique to
// the batch, keys from a small set (so compaction has work).
func (lg *ledger) next(n, keys int) []byte {
	lg.mu.Lock()
	seq := lg.seq
	lg.seq++
	lg.mu.Unlock()
	recs := make([]Record, n)
	for i := range recs {
		v := make([]byte, 120)
		copy(v, fmt.Sprintf("batch %d record %d", seq, i))
		recs[i] = Record{Timestamp: 1_700_000_000_000 + int64(seq), Key: []byte(fmt.Sprintf("key-%d", (seq*n+i)%keys)), Value: v}
	}
	return BuildBatch(1_700_000_000_000+int64(seq), recs)
}

func (lg *ledger) appended(res AppendResult, b []byte) *plBatch {
	recs, _, err := DecodeBatches(b, res.BaseOffset)
	if err != nil {
		panic(err)
	}
	for i := range recs {
		recs[i].Offset = res.BaseOffset + int64(i)
	}
	pb := &plBatch{base: res.BaseOffset, last: res.LastOffset, recs: recs}
	lg.mu.Lock()
	lg.batches[pb.base] = pb
	lg.mu.Unlock()
	return pb
}

func (lg *ledger) ack(pb *plBatch) {
	lg.mu.Lock()
	pb.acked = true
	lg.mu.Unlock()
}

func (lg *ledger) raiseDurable(end int64) {
	lg.mu.Lock()
	lg.durable = max(lg.durable, end)
	lg.mu.Unlock()
}

// synced records a completed segment fsync that made offsets below end
// durable.
func (lg *ledger) synced(end int64) {
	lg.mu.Lock()
	lg.fsyncs++
	lg.durable = max(lg.durable, end)
	lg.mu.Unlock()
}

// syncWatch wraps the FS of a log and raises the ledger's durable mark
// after every completed fsync of a segment: to the log end offset read
// before the fsync began (every batch below it was written by then), and
// no further than the next segment's base (those batches are in other
// files; the earlier segments were fsynced when they were sealed, under
// the policies that promise anything).
type syncWatch struct {
	vfs.FS
	lg  *ledger
	log atomic.Pointer[Log]
}

func (w *syncWatch) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := w.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, logSuffix) {
		return f, err
	}
	base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(name), logSuffix), 10, 64)
	if err != nil {
		return f, nil
	}
	return &watchedFile{File: f, w: w, base: base}, nil
}

type watchedFile struct {
	vfs.File
	w    *syncWatch
	base int64
}

func (f *watchedFile) Sync() error {
	l := f.w.log.Load()
	var bound int64
	if l != nil {
		bound = l.LogEndOffset()
	}
	err := f.File.Sync()
	if err == nil && l != nil {
		next := int64(math.MaxInt64)
		l.mu.RLock()
		for _, s := range l.segs {
			if s.base > f.base {
				next = s.base
				break
			}
		}
		l.mu.RUnlock()
		f.w.lg.synced(min(bound, next))
	}
	return err
}

// plOptions are the options of a log on fsys under policy.
func plOptions(fsys vfs.FS, policy Fsync) Options {
	return Options{FS: fsys, Fsync: policy, FsyncInterval: 2 * time.Millisecond, Logger: quietLogger(),
		Handles: NewHandles(64)}
}

// plConfig: small segments, so that workloads roll often.
func plConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 9000
	cfg.IndexIntervalBytes = 0
	cfg.RetentionMs = -1
	return cfg
}

// openWatched opens the log on fsys with a syncWatch feeding lg, except
// under FsyncNever: a roll does not sync the directory then, so a new
// segment's name, and with it what an fsync of the segment wrote, is
// durable only once Close has synced the directory (its checkpoint).
func openWatched(fsys vfs.FS, cfg Config, policy Fsync, lg *ledger) (*Log, error) {
	if policy == FsyncNever {
		return Open(plDir, cfg, plOptions(fsys, policy))
	}
	w := &syncWatch{FS: fsys, lg: lg}
	l, err := Open(plDir, cfg, plOptions(w, policy))
	if err != nil {
		return nil, err
	}
	w.log.Store(l)
	return l, nil
}

// appendWorkload appends batches with writers goroutines (each waiting for
// its batches under FsyncAlways), with a clean Close and reopen between
// two phases, and stops at the first error (the power went). It returns
// the log it ends with, not closed.
func appendWorkload(fsys vfs.FS, cfg Config, policy Fsync, lg *ledger, writers, perPhase int) *Log {
	l, err := openWatched(fsys, cfg, policy, lg)
	if err != nil {
		return nil
	}
	for phase := range 2 {
		if phase > 0 {
			leo := l.LogEndOffset()
			// Close of a fenced log (a failed fsync) returns nil without
			// flushing anything: only an unfenced one is a clean Close.
			if err := l.Close(); err != nil || l.Err() != nil {
				return nil
			}
			lg.raiseDurable(leo) // a clean Close made everything durable
			if l, err = openWatched(fsys, cfg, policy, lg); err != nil {
				return nil
			}
		}
		var wg sync.WaitGroup
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perPhase {
					b := lg.next(3, 16)
					res, err := l.Append(b)
					if err != nil {
						return
					}
					pb := lg.appended(res, b)
					if policy == FsyncInterval {
						// Paced so that the background fsync (every
						// 2 ms) runs between appends.
						time.Sleep(time.Millisecond)
					}
					if policy != FsyncAlways {
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err = l.WaitDurable(ctx, res.LastOffset+1)
					cancel()
					if err != nil {
						return
					}
					lg.ack(pb)
				}
			}()
		}
		wg.Wait()
		if l.Err() != nil {
			return l
		}
	}
	return l
}

// verifyLog opens the log on img and checks the promises (see the top of
// this file) against lg; it returns the log, open.
func verifyLog(t *testing.T, img vfs.FS, cfg Config, policy Fsync, lg *ledger) *Log {
	t.Helper()
	files := describeDir(t, img)
	defer func() {
		if t.Failed() {
			t.Logf("the disk after the crash: %s", files)
		}
	}()
	l, err := Open(plDir, cfg, plOptions(img, policy))
	if err != nil {
		t.Fatalf("Open after the power loss: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Err(); err != nil {
		t.Fatalf("fenced after a power loss: %v", err)
	}
	present := map[int64]Record{}
	// Under FsyncNever a segment may lose its tail while the next one
	// survives: reads skip the gap, but one at the end of the log has
	// nothing to skip to and reads nothing, below the log end.
	for _, r := range readRecords(t, l, l.LogStartOffset(), policy == FsyncNever) {
		present[r.Offset] = r
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	ls := l.LogStartOffset()
	if ls < lg.startMin || ls > lg.startMax {
		t.Fatalf("log start offset %d after recovery, want %d to %d", ls, lg.startMin, lg.startMax)
	}
	var maxPresent, promisedEnd int64 = -1, lg.durable
	seen := 0
	for _, pb := range lg.batches {
		if pb.last < ls {
			continue // deleted by retention
		}
		n := 0
		for _, want := range pb.recs {
			got, ok := present[want.Offset]
			if !ok {
				continue
			}
			n++
			if string(got.Key) != string(want.Key) || string(got.Value) != string(want.Value) || got.Timestamp != want.Timestamp {
				t.Fatalf("offset %d holds %q=%q, appended %q=%q", want.Offset, got.Key, got.Value, want.Key, want.Value)
			}
			maxPresent = max(maxPresent, want.Offset)
		}
		seen += n
		if n != 0 && n != len(pb.recs) {
			t.Fatalf("batch at %d is half there: %d of %d records", pb.base, n, len(pb.recs))
		}
		if n == 0 && (pb.acked || pb.last < lg.durable) {
			t.Fatalf("batch %d-%d lost (acknowledged %v; offsets below %d were fsynced)", pb.base, pb.last, pb.acked, lg.durable)
		}
		if pb.acked {
			promisedEnd = max(promisedEnd, pb.last+1)
		}
	}
	if seen != len(present) {
		t.Fatalf("%d records read, %d of them appended", len(present), seen)
	}
	res, err := l.Append(BuildBatch(1, []Record{{Timestamp: 1, Key: []byte("after"), Value: []byte("crash")}}))
	if err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	if res.BaseOffset <= maxPresent || res.BaseOffset < promisedEnd {
		t.Fatalf("append after recovery got offset %d: reuses an offset (records survive up to %d, %d promised)", res.BaseOffset, maxPresent, promisedEnd)
	}
	return l
}

// recoverTwice opens img with a crash armed at a random point of the
// recovery, then opens what that second crash left. rng nil: no second
// crash, img is returned as is.
func recoverTwice(t *testing.T, img *vfs.CrashFS, cfg Config, policy Fsync, rng *rand.Rand) *vfs.CrashFS {
	t.Helper()
	if rng == nil {
		return img
	}
	dry := img.CrashClone(nil)
	before := dry.Ops()
	if l, err := Open(plDir, cfg, plOptions(dry, policy)); err == nil {
		l.Close()
	}
	n := dry.Ops() - before
	if n < 1 {
		return img
	}
	img.CrashAfter(1+rng.Int64N(n), rng)
	if l, err := Open(plDir, cfg, plOptions(img, policy)); err == nil {
		l.Close()
	}
	if again := img.Image(); again != nil {
		return again
	}
	return img.Crash(rng)
}

func testPowerLossAppend(t *testing.T, policy Fsync, writers int) {
	seed := plSeed(t)
	cfg := plConfig()
	dry := newPLDisk(t)
	ref := newLedger()
	l := appendWorkload(dry, cfg, policy, ref, writers, 12)
	if l == nil || l.Err() != nil {
		t.Fatal("the workload failed without a crash")
	}
	// The log's background fsyncs (FsyncInterval) write the ledger until
	// Close returns; read it after that, and under its lock all the same.
	end := l.LogEndOffset()
	l.Close()
	ref.mu.Lock()
	// The promises checked after each crash must not be empty.
	want := writers * 12 * 2
	if n := len(ref.batches); n != want {
		t.Fatalf("%d batches appended without a crash, want %d", n, want)
	}
	acked := 0
	for _, pb := range ref.batches {
		if pb.acked {
			acked++
		}
	}
	if policy == FsyncAlways && acked != want || policy != FsyncNever && (ref.fsyncs == 0 || ref.durable == 0) {
		t.Fatalf("without a crash: %d batches acknowledged, %d segment fsyncs made offsets below %d durable", acked, ref.fsyncs, ref.durable)
	}
	t.Logf("without a crash: %d batches, %d acknowledged, %d segment fsyncs, durable below %d of %d", want, acked, ref.fsyncs, ref.durable, end)
	ref.mu.Unlock()
	total := dry.Ops()
	crashPoints(t, seed, total, 150, 3*time.Second, func(k int64, rng *rand.Rand) {
		disk := newPLDisk(t)
		lg := newLedger()
		disk.CrashAfter(k, rng)
		if l := appendWorkload(disk, cfg, policy, lg, writers, 12); l != nil {
			l.Close() // on a dead disk: fails, releases the goroutines
		}
		img := disk.Image()
		if img == nil {
			img = disk.Crash(rng) // the run made fewer operations this time
		}
		l := verifyLog(t, recoverTwice(t, img, cfg, policy, rng), cfg, policy, lg)
		l.Close()
	})
}

func TestPowerLossAppendAlways(t *testing.T)   { testPowerLossAppend(t, FsyncAlways, 3) }
func TestPowerLossAppendInterval(t *testing.T) { testPowerLossAppend(t, FsyncInterval, 1) }
func TestPowerLossAppendNever(t *testing.T)    { testPowerLossAppend(t, FsyncNever, 1) }

// plFiles lists the names in the partition directory.
func plFiles(t *testing.T, fsys vfs.FS) []string {
	t.Helper()
	ents, err := fsys.ReadDir(plDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// describeDir names the files of the partition directory and their sizes.
func describeDir(t *testing.T, fsys vfs.FS) string {
	t.Helper()
	if _, err := fsys.Stat(plDir); err != nil {
		return "no partition directory"
	}
	var out []string
	for _, name := range plFiles(t, fsys) {
		fi, err := fsys.Stat(filepath.Join(plDir, name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s:%d", name, fi.Size()))
	}
	return strings.Join(out, " ")
}
