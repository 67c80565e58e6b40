package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// jset is a journal with the logs of partitions 0..n-1 in /data/p-<i>.
type jset struct {
	j    *Journal
	logs []*Log
}

const jName = "offsets"

func jDir(p int) string { return fmt.Sprintf("/data/p-%d", p) }

// jsetPrealloc is the JournalOptions.Prealloc of openJSet's journals.
var jsetPrealloc int64

// jsetRounds is the JournalOptions.RoundsInFlight of openJSet's journals.
var jsetRounds int

// openJSet opens the journal and n journaled logs on fsys and recovers.

func openJSet(fsys vfs.FS, n int, cfg Config, maxBytes int64) (*jset, error) {
	j, err := OpenJournal("/data", jName, JournalOptions{FS: fsys, Logger: quietLogger(), MaxBytes: maxBytes, Prealloc: jsetPrealloc, RoundsInFlight: jsetRounds})
	if err != nil {
		return nil, err
	}
	s := &jset{j: j}
	for p := range n {
		o := plOptions(fsys, FsyncAlways)
		o.Journal, o.JournalPartition = j, int32(p)
		l, err := Open(jDir(p), cfg, o)
		if err != nil {
			s.close()
			return nil, err
		}
		s.logs = append(s.logs, l)
	}
	if err := j.Recover(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *jset) close() error {
	var errs []error
	for _, l := range s.logs {
		errs = append(errs, l.Close())
	}
	errs = append(errs, s.j.Close())
	return errors.Join(errs...)
}

func waitDurable(l *Log, end int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return l.WaitDurable(ctx, end)
}

// openErrJSet opens n journaled logs on a crashable disk behind an
// ErrorFS, for tests that inject faults and may crash the disk.
func openErrJSet(t *testing.T, n int) (*vfs.CrashFS, *vfs.ErrorFS, *jset) {
	t.Helper()
	disk := newPLDisk(t)
	efs := vfs.NewErrorFS(disk)
	s, err := openJSet(efs, n, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return disk, efs, s
}

// requireJournalFenced checks that the journal and every log of s are
// fenced after what failed: appends are refused, and partition p's high
// watermark did not move past 0.
func requireJournalFenced(t *testing.T, s *jset, p int, what string) {
	t.Helper()
	// First the journal: its fence holds its lock while it fences each
	// log, so once it reads as fenced every log is (a wait woken by one
	// log's fence may return before the next logs are fenced).
	if s.j.Err() == nil {
		t.Fatalf("journal not fenced after %s", what)
	}
	for i, l := range s.logs {
		if l.Err() == nil {
			t.Errorf("partition %d not fenced after %s", i, what)
		}
		if _, err := l.Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("c")}})); !errors.Is(err, ErrStorage) {
			t.Errorf("partition %d: append after the fence: %v", i, err)
		}
	}
	if hw := s.logs[p].HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d after %s, want 0", hw, what)
	}
}

// syncCounter counts fsyncs of journal files and of segments.
func syncCounter(e *vfs.ErrorFS) (journal, segments *atomic.Int64) {
	journal, segments = new(atomic.Int64), new(atomic.Int64)
	e.SetHook(func(op vfs.Op, name string) {
		if op != vfs.OpSync {
			return
		}
		switch {
		case strings.HasSuffix(name, journalSuffix):
			journal.Add(1)
		case strings.HasSuffix(name, logSuffix):
			segments.Add(1)
		}
	})
	return journal, segments
}

// Appends to many logs are made durable by fsyncs of the journal shared by
// all of them, not of their segments; a clean close leaves one empty
// journal file and every record.
func TestJournalGroupCommitAcrossLogs(t *testing.T) {
	disk, efs, s := openErrJSet(t, 8)
	jsyncs, segsyncs := syncCounter(efs)
	const perLog = 20
	var wg sync.WaitGroup
	for p, l := range s.logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perLog {
				res, err := l.Append(BuildBatch(1, []Record{{Timestamp: 1, Key: []byte("k"), Value: []byte(fmt.Sprintf("%d-%d", p, i))}}))
				if err != nil {
					t.Error(err)
					return
				}
				if err := waitDurable(l, res.LastOffset+1); err != nil {
					t.Error(err)
					return
				}
				if hw := l.HighWatermark(); hw < res.LastOffset+1 {
					t.Errorf("durable at %d, high watermark %d", res.LastOffset+1, hw)
				}
			}
		}()
	}
	wg.Wait()
	if n := segsyncs.Load(); n != 0 {
		t.Errorf("%d segment fsyncs while appending, want 0: the journal makes appends durable", n)
	}
	if n := jsyncs.Load(); n == 0 || n > 8*perLog {
		t.Errorf("%d journal fsyncs for %d appends", n, 8*perLog)
	}
	t.Logf("%d appends over 8 logs: %d journal fsyncs", 8*perLog, jsyncs.Load())
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	img := disk.Crash(nil)
	files := journalFiles(t, img)
	if len(files) != 1 {
		t.Fatalf("journal files after a clean close: %v, want one", files)
	}
	if fi, err := img.Stat(files[0]); err != nil || fi.Size() != journalHeaderSize {
		t.Fatalf("journal after a clean close: %v %v, want an empty file", fi, err)
	}
	s, err := openJSet(img, 8, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for p, l := range s.logs {
		recs := readAll(t, l, 0)
		if len(recs) != perLog {
			t.Fatalf("partition %d: %d records, want %d", p, len(recs), perLog)
		}
	}
}

func journalFiles(t *testing.T, fsys vfs.FS) []string {
	t.Helper()
	ents, err := fsys.ReadDir("/data")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), journalSuffix) {
			out = append(out, filepath.Join("/data", e.Name()))
		}
	}
	return out
}

// A power loss right after appends were acknowledged: their segments were
// never fsynced (the disk holds none of their bytes), and the journal
// brings them back.
func TestJournalReplaysWhatTheSegmentsLost(t *testing.T) {
	disk := newPLDisk(t)
	s, err := openJSet(disk, 3, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][]string{}
	for i := range 9 {
		p := i % 3
		v := fmt.Sprintf("v%d", i)
		res, err := s.logs[p].Append(BuildBatch(1, []Record{{Timestamp: 1, Key: []byte("k"), Value: []byte(v)}}))
		if err != nil {
			t.Fatal(err)
		}
		if err := waitDurable(s.logs[p], res.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		want[p] = append(want[p], v)
	}
	img := disk.Crash(nil) // strict: only what was fsynced
	s.close()
	for p := range 3 {
		if fi, err := img.Stat(filepath.Join(jDir(p), segmentName(0, logSuffix))); err != nil || fi.Size() != 0 {
			t.Fatalf("partition %d's segment after the crash: %v %v, want empty (never fsynced)", p, fi, err)
		}
	}
	s, err = openJSet(img, 3, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for p, l := range s.logs {
		var got []string
		for _, r := range readAll(t, l, 0) {
			got = append(got, string(r.Value))
		}
		if fmt.Sprint(got) != fmt.Sprint(want[p]) {
			t.Fatalf("partition %d after the replay: %v, want %v", p, got, want[p])
		}
	}
}

// A start that cannot remove the journal files it replayed fails: one
// left behind would come before the new file at the next start, and its
// torn end would stop that replay before the new file's entries. The
// next start that can remove them replays every acknowledged append.
func TestJournalRecoverFailsIfReplayedFilesStay(t *testing.T) {
	disk := newPLDisk(t)
	s, err := openJSet(disk, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 4 {
		v := fmt.Sprintf("v%d", i)
		res, err := s.logs[0].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte(v)}}))
		if err != nil {
			t.Fatal(err)
		}
		if err := waitDurable(s.logs[0], res.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		want = append(want, v)
	}
	img := disk.Crash(nil)
	s.close()
	for range 2 {
		efs := vfs.NewErrorFS(img)
		efs.Inject(vfs.Fault{Op: vfs.OpRemove, Match: vfs.Suffix(journalSuffix), Err: syscall.EACCES})
		if s, err := openJSet(efs, 2, plConfig(), 0); err == nil {
			s.close()
			t.Fatal("the journal recovered with its replayed files left in place")
		} else if !errors.Is(err, syscall.EACCES) {
			t.Fatalf("removal refused: %v, want the EACCES", err)
		}
	}
	s, err = openJSet(img, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	var got []string
	for _, r := range readAll(t, s.logs[0], 0) {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the failed starts: %v, want %v", got, want)
	}
}

// The journal file is preallocated ahead of its entries, so that the
// rounds' fdatasyncs do not change its size; its zero tail is the end of
// the journal, not damage, and the entries before it replay.
func TestJournalPreallocatedTail(t *testing.T) {
	disk := newPLDisk(t)
	s, err := openJSet(disk, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	journalSize := func() int64 {
		t.Helper()
		s.j.mu.Lock()
		p := s.j.cur.path
		s.j.mu.Unlock()
		fi, err := disk.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var sizes []int64
	for i := range 20 {
		l := s.logs[i%2]
		res, err := l.Append(BuildBatch(1, []Record{{Timestamp: 1, Value: fmt.Appendf(nil, "v%d", i)}}))
		if err != nil {
			t.Fatal(err)
		}
		if err := waitDurable(l, res.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, journalSize())
	}
	if sizes[0] < 64<<10 || sizes[19] != sizes[0] {
		t.Fatalf("journal file sizes after each append: %v, want one size throughout, 64 KiB or more (preallocated)", sizes)
	}
	img := disk.Crash(nil)
	s.close()

	j, err := OpenJournal("/data", jName, JournalOptions{FS: img, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	torn, err := j.scan(func(jentry) error { entries++; return nil })
	j.Close()
	if err != nil || torn || entries != 20 {
		t.Fatalf("scan of the preallocated file: %d entries, torn %v, %v; want 20, not torn", entries, torn, err)
	}
	s, err = openJSet(img, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for p, l := range s.logs {
		if recs := readAll(t, l, 0); len(recs) != 10 {
			t.Fatalf("partition %d after the replay: %d records, want 10", p, len(recs))
		}
	}
}

// A failed fsync of the journal fences the journal and every log using
// it: the waiting appends fail, and so does every later append and wait,
// even once fsync works again.
func TestJournalFsyncFailureFencesEveryLog(t *testing.T) {
	_, efs, s := openErrJSet(t, 4)
	defer s.close()
	res, err := s.logs[0].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("a")}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDurable(s.logs[0], res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	remove := efs.Inject(vfs.Fault{Op: vfs.OpSync, Match: vfs.Suffix(journalSuffix), Times: 1})
	res, err = s.logs[1].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("b")}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDurable(s.logs[1], res.LastOffset+1); !errors.Is(err, ErrStorage) {
		t.Fatalf("wait after a failed journal fsync: %v, want ErrStorage", err)
	}
	remove()
	requireJournalFenced(t, s, 1, "the journal's fsync failed")
}

// A journal write failing with ENOSPC is rolled back with the segment
// write: the log stays usable and the next append reuses the offset.
func TestJournalWriteNoSpaceRollsBack(t *testing.T) {
	disk, efs, s := openErrJSet(t, 2)
	defer s.close()
	// The first write of the file is its preallocation, which a full disk
	// only stops; the second is the entry's.
	remove := efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Suffix(journalSuffix), Err: errNoSpace, Torn: 10, Times: 2})
	if _, err := s.logs[0].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("x")}})); !isNoSpace(err) {
		t.Fatalf("append with a full journal: %v, want ENOSPC", err)
	}
	remove()
	if err := s.logs[0].Err(); err != nil {
		t.Fatalf("fenced by a full disk: %v", err)
	}
	res, err := s.logs[0].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("y")}}))
	if err != nil || res.BaseOffset != 0 {
		t.Fatalf("append after the rollback: %+v %v, want offset 0", res, err)
	}
	if err := waitDurable(s.logs[0], 1); err != nil {
		t.Fatal(err)
	}
	img := disk.Crash(nil)
	s2, err := openJSet(img, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close()
	if recs := readAll(t, s2.logs[0], 0); len(recs) != 1 || string(recs[0].Value) != "y" {
		t.Fatalf("after the crash: %v, want the one append that succeeded", recs)
	}
}

// A preallocation write failing with an I/O error, not a full disk, is a
// failed journal write: the journal and every log are fenced, and the
// entry it was making room for is not acknowledged.
func TestJournalPreallocationIOErrorFences(t *testing.T) {
	_, efs, s := openErrJSet(t, 2)
	defer s.close()
	// The first write of the file is its preallocation (EIO by default).
	remove := efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Suffix(journalSuffix), Torn: 100, Times: 1})
	_, err := s.logs[0].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("x")}}))
	remove()
	if !errors.Is(err, ErrStorage) || isNoSpace(err) {
		t.Fatalf("append whose preallocation failed: %v, want a storage error", err)
	}
	requireJournalFenced(t, s, 0, "a failed preallocation write")
}

// A partition opened again while the journal runs (a repair closes and
// reopens it, a deletion recreates it) starts with a reset: the entries of
// the log it replaces are never replayed on the new one, which may reuse
// their offsets.
func TestJournalResetOnReopen(t *testing.T) {
	disk := newPLDisk(t)
	s, err := openJSet(disk, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.logs[0].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("old")}}))
	if err != nil || waitDurable(s.logs[0], res.LastOffset+1) != nil {
		t.Fatal(err)
	}
	if err := s.logs[0].Delete(); err != nil {
		t.Fatal(err)
	}
	o := plOptions(disk, FsyncAlways)
	o.Journal, o.JournalPartition = s.j, 0
	l, err := Open(jDir(0), plConfig(), o)
	if err != nil {
		t.Fatal(err)
	}
	s.logs[0] = l
	res, err = l.Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("new")}}))
	if err != nil || res.BaseOffset != 0 || waitDurable(l, 1) != nil {
		t.Fatalf("append to the new log: %+v %v", res, err)
	}
	img := disk.Crash(nil)
	s.close()
	s, err = openJSet(img, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if recs := readAll(t, s.logs[0], 0); len(recs) != 1 || string(recs[0].Value) != "new" {
		t.Fatalf("after the crash: %v, want the new log's one record", recs)
	}
}

// The replay stops at a damaged entry: what follows it was never
// acknowledged (the fsync that would have was not done), and is not
// applied, even where it would continue a log.
func TestJournalReplayStopsAtDamage(t *testing.T) {
	disk := newPLDisk(t)
	s, err := openJSet(disk, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64 // journal size after each append
	for i := range 4 {
		l := s.logs[i%2]
		res, err := l.Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte(fmt.Sprintf("v%d", i))}}))
		if err != nil || waitDurable(l, res.LastOffset+1) != nil {
			t.Fatal(err)
		}
		s.j.mu.Lock()
		ends = append(ends, s.j.cur.size)
		path := s.j.cur.path
		s.j.mu.Unlock()
		if i == 3 {
			img := disk.Crash(nil)
			s.close()
			// Flip a byte of the third entry.
			f, err := img.OpenFile(path, 2, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, ends[3])
			if _, err := f.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			b[ends[1]+10] ^= 0xff
			if err := f.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(b); err != nil {
				t.Fatal(err)
			}
			f.Sync()
			f.Close()
			s, err = openJSet(img, 2, plConfig(), 0)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	defer s.close()
	for p, want := range []string{"[v0]", "[v1]"} {
		var got []string
		for _, r := range readAll(t, s.logs[p], 0) {
			got = append(got, string(r.Value))
		}
		if fmt.Sprint(got) != want {
			t.Errorf("partition %d after a replay stopped by damage: %v, want %s", p, got, want)
		}
	}
}

var errNoSpace = syscall.ENOSPC

// Transactions through the journal: after a power loss that kept none of
// the active segment's unsynced bytes, the replayed batches and markers
// rebuild the same last stable offset, aborted transactions and producer
// state as before (Open's recovery reads them from the segment).
func TestJournalReplaysTransactions(t *testing.T) {
	disk := newPLDisk(t)
	cfg := plConfig()
	cfg.SegmentBytes = 700
	s, err := openJSet(disk, 1, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	l := s.logs[0]
	open, aborted := txnWorkload(t, l)
	if err := waitDurable(l, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	checkTxnState(t, l, open, aborted, "before the crash")
	img := disk.Crash(nil)
	s.close()
	s, err = openJSet(img, 1, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	checkTxnState(t, s.logs[0], open, aborted, "after the crash and the journal's replay")
}

// BenchmarkJournalCommits: appenders on as many logs (one small batch
// each, waiting for it to be durable, as an offset commit does), each log
// fsyncing its own segment or all of them sharing a journal. Reports the
// fsyncs per append: the journal's group commit across logs.
func BenchmarkJournalCommits(b *testing.B) {
	for _, logs := range []int{4, 16, 64} {
		for _, journaled := range []bool{false, true} {
			b.Run(fmt.Sprintf("logs=%d/journal=%v", logs, journaled), func(b *testing.B) {
				dir := b.TempDir()
				efs := vfs.NewErrorFS(nil)
				var syncs atomic.Int64
				efs.SetHook(func(op vfs.Op, _ string) {
					if op == vfs.OpSync {
						syncs.Add(1)
					}
				})
				var j *Journal
				if journaled {
					var err error
					if j, err = OpenJournal(dir, "bench", JournalOptions{FS: efs, Logger: quietLogger()}); err != nil {
						b.Fatal(err)
					}
				}
				ls := make([]*Log, logs)
				for p := range ls {
					o := Options{FS: efs, Fsync: FsyncAlways, Logger: quietLogger(), Journal: j, JournalPartition: int32(p)}
					l, err := Open(filepath.Join(dir, fmt.Sprintf("p-%d", p)), DefaultConfig(), o)
					if err != nil {
						b.Fatal(err)
					}
					ls[p] = l
				}
				if j != nil {
					if err := j.Recover(); err != nil {
						b.Fatal(err)
					}
				}
				defer func() {
					for _, l := range ls {
						l.Close()
					}
					if j != nil {
						j.Close()
					}
				}()
				proto := BuildBatch(1, []Record{{Timestamp: 1, Key: make([]byte, 40), Value: make([]byte, 60)}})
				b.ReportAllocs()
				var next atomic.Int64
				s0 := syncs.Load()
				b.ResetTimer()
				var wg sync.WaitGroup
				for p := range ls {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := bytes.Clone(proto)
						for next.Add(1) <= int64(b.N) {
							copy(buf, proto)
							res, err := ls[p].Append(buf)
							if err != nil {
								b.Error(err)
								return
							}
							if err := waitDurable(ls[p], res.LastOffset+1); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(syncs.Load()-s0)/float64(b.N), "fsyncs/op")
			})
		}
	}
}

// A log fenced while running (its acknowledged appends possibly only in
// the journal: its segment was never fsynced) keeps the journal files at
// its close and the journal's: the next start replays its appends.
func TestJournalKeptForFencedLog(t *testing.T) {
	disk := newPLDisk(t)
	s, err := openJSet(disk, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.logs[0].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("acked")}}))
	if err != nil || waitDurable(s.logs[0], res.LastOffset+1) != nil {
		t.Fatal(err)
	}
	s.logs[0].Fence(errors.New("test: fenced while running"))
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	img := disk.Crash(nil)
	s, err = openJSet(img, 2, plConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if recs := readAll(t, s.logs[0], 0); len(recs) != 1 || string(recs[0].Value) != "acked" {
		t.Fatalf("after the restart: %v, want the acknowledged record", recs)
	}
}

// Rounds overlap (with RoundsInFlight 2), but a later round is applied
// only after the earlier ones: when the earlier round's fsync fails after
// the later one's succeeded, the later round's appends are not
// acknowledged either (the journal is fenced first).
func TestJournalOverlappingRoundsApplyInOrder(t *testing.T) {
	defer func(old int) { jsetRounds = old }(jsetRounds)
	jsetRounds = 2
	_, efs, s := openErrJSet(t, 2)
	defer s.close()
	res, err := s.logs[1].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("before")}}))
	if err != nil || waitDurable(s.logs[1], res.LastOffset+1) != nil {
		t.Fatal(err)
	}
	hw := s.logs[1].HighWatermark()
	gate := make(chan struct{})
	var first atomic.Bool
	efs.SetHook(func(op vfs.Op, name string) {
		if op == vfs.OpSync && strings.HasSuffix(name, journalSuffix) && first.CompareAndSwap(false, true) {
			<-gate // the first round's fsync, until the second one's is done
		}
	})
	// The second journal fsync to reach the disk (the first round's,
	// released last) fails.
	efs.Inject(vfs.Fault{Op: vfs.OpSync, Match: vfs.Suffix(journalSuffix), After: 1, Times: 1})
	syncs := efs.Count(vfs.OpSync)
	a, err := s.logs[0].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("a")}}))
	if err != nil {
		t.Fatal(err)
	}
	for !first.Load() {
		time.Sleep(time.Millisecond)
	}
	b, err := s.logs[1].Append(BuildBatch(1, []Record{{Timestamp: 1, Value: []byte("b")}}))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for efs.Count(vfs.OpSync) == syncs { // the second round's fsync is done
		if time.Now().After(deadline) {
			t.Fatal("the second round did not fsync while the first was held")
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	if err := waitDurable(s.logs[1], b.LastOffset+1); !errors.Is(err, ErrStorage) {
		t.Fatalf("the later round's append after the earlier round's fsync failed: %v, want ErrStorage", err)
	}
	if err := waitDurable(s.logs[0], a.LastOffset+1); !errors.Is(err, ErrStorage) {
		t.Fatalf("the earlier round's append: %v, want ErrStorage", err)
	}
	if got := s.logs[1].HighWatermark(); got != hw {
		t.Fatalf("high watermark %d, want %d: the later round was applied", got, hw)
	}
}
