package storage

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Power loss in the middle of transactions: a workload of interleaved
// transactions (FsyncAlways, each write waited for) crashes at every
// crash point; after recovery the transaction state must be what the
// surviving log says (checked against a model computed from its batches)
// and hold every promise: each acknowledged marker is there, and a
// transaction whose first batch was acknowledged and whose marker was
// never written holds the LSO at its first offset.

type txnLedger struct {
	markers map[int64]bool  // acknowledged marker offset -> commit
	open    map[int64]int64 // producer -> acknowledged first offset of a transaction with no marker attempted
}

func txnPowerLossWorkload(disk vfs.FS, cfg Config, lg *txnLedger) *Log {
	return txnPowerLossWorkloadOn(disk, cfg, FsyncAlways, lg)
}

// txnPowerLossWorkloadOn runs the workload under policy; lg records
// promises only under FsyncAlways (the others promise nothing per write).
func txnPowerLossWorkloadOn(disk vfs.FS, cfg Config, policy Fsync, lg *txnLedger) *Log {
	l, err := Open(plDir, cfg, plOptions(disk, policy))
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rng := rand.New(rand.NewPCG(7, 7)) // the same operations in every run
	seq := map[int64]int32{}
	first := map[int64]int64{} // producer -> first offset of its open transaction (appended)
	b := batch(2, 60, 1)
	for range 60 {
		pid := int64(1 + rng.IntN(3))
		var res AppendResult
		var err error
		marker := false
		switch op := rng.IntN(5); {
		case op < 3 || first[pid] == 0:
			res, err = l.Append(txnBatch(b, pid, 0, seq[pid]))
			seq[pid] += 2
			if err == nil && first[pid] == 0 {
				first[pid] = res.BaseOffset + 1 // +1: 0 means none
			}
		default:
			marker = true
			commit := op == 3
			res, err = l.AppendMarker(pid, 0, 0, commit, 0)
			delete(first, pid)
			delete(lg.open, pid) // its outcome is whatever survived
			if err == nil && policy == FsyncAlways && l.WaitDurable(ctx, res.LastOffset+1) == nil {
				lg.markers[res.BaseOffset] = commit
			}
		}
		if err != nil {
			return l
		}
		if !marker {
			if l.WaitDurable(ctx, res.LastOffset+1) != nil {
				return l
			}
			if f := first[pid]; f == res.BaseOffset+1 && policy == FsyncAlways {
				lg.open[pid] = res.BaseOffset
			}
		}
		if rng.IntN(4) == 0 {
			if _, err := l.Append(batch(1, 60, 1)); err != nil {
				return l
			}
		}
	}
	return l
}

// txnModel computes from l's batches what its transaction state must be.
func txnModel(t *testing.T, l *Log) (open map[int64]int64, aborted []AbortedTxn, markers map[int64]bool) {
	t.Helper()
	open, markers = map[int64]int64{}, map[int64]bool{}
	r, err := l.Read(l.LogStartOffset(), 1<<30, true)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	raw, err := r.AppendTo(nil)
	r.Release()
	if err != nil {
		t.Fatal(err)
	}
	minOpen := func(except int64) int64 {
		m := int64(-1)
		for pid, f := range open {
			if pid != except && (m < 0 || f < m) {
				m = f
			}
		}
		return m
	}
	for p := raw; len(p) > 0; {
		h := decodeHeader(p)
		b := p[:h.Size()]
		p = p[h.Size():]
		switch {
		case h.IsControl():
			m, ok := parseMarker(&h, b)
			if !ok {
				t.Fatalf("unreadable marker at %d", h.BaseOffset)
			}
			markers[h.BaseOffset] = m.commit
			f, was := open[h.ProducerID]
			if !was {
				continue
			}
			if !m.commit {
				lso := h.BaseOffset + 1
				if o := minOpen(h.ProducerID); o >= 0 {
					lso = o
				}
				aborted = append(aborted, AbortedTxn{h.ProducerID, f, h.BaseOffset, lso})
			}
			delete(open, h.ProducerID)
		case h.IsTransactional():
			if _, was := open[h.ProducerID]; !was {
				open[h.ProducerID] = h.BaseOffset
			}
		}
	}
	return open, aborted, markers
}

func verifyTxnLog(t *testing.T, disk vfs.FS, cfg Config, lg *txnLedger) {
	t.Helper()
	verifyTxnLogOn(t, disk, cfg, FsyncAlways, lg)
}

func verifyTxnLogOn(t *testing.T, disk vfs.FS, cfg Config, policy Fsync, lg *txnLedger) {
	t.Helper()
	l, err := Open(plDir, cfg, plOptions(disk, policy))
	if err != nil {
		t.Fatalf("Open after the crash: %v", err)
	}
	defer l.Close()
	if err := l.Err(); err != nil {
		t.Fatalf("fenced after the crash: %v", err)
	}
	open, aborted, markers := txnModel(t, l)
	wantLSO := l.HighWatermark()
	for _, f := range open {
		wantLSO = min(wantLSO, f)
	}
	if got := l.LastStableOffset(); got != wantLSO {
		t.Fatalf("LSO %d, the log's open transactions %v say %d", got, open, wantLSO)
	}
	if policy == FsyncAlways {
		if got := l.AbortedTransactions(0, l.HighWatermark()); !slices.Equal(got, aborted) {
			t.Fatalf("aborted transactions\n got %+v\nwant %+v", got, aborted)
		}
	} else {
		// Lost writes leave index entries whose transaction lost its
		// records (harmless to a consumer) or merge two transactions of
		// one producer whose marker between them is gone: what must hold
		// is what a read_committed consumer reads.
		if got, want := consumeCommitted(t, l), committedModel(t, l); !slices.Equal(got, want) {
			t.Fatalf("a read_committed consumer reads offsets\n%v\nthe log's transactions say\n%v", got, want)
		}
	}
	for off, commit := range lg.markers {
		if c, ok := markers[off]; !ok || c != commit {
			t.Fatalf("acknowledged marker at %d (commit %v) lost: %v %v", off, commit, ok, c)
		}
	}
	for pid, f := range lg.open {
		if got, ok := open[pid]; !ok || got != f {
			t.Fatalf("producer %d's acknowledged open transaction at %d: recovered as %d %v", pid, f, got, ok)
		}
		if l.LastStableOffset() > f {
			t.Fatalf("LSO %d passed producer %d's open transaction at %d", l.LastStableOffset(), pid, f)
		}
	}
	for _, ps := range l.Producers() {
		want := int64(-1)
		if f, ok := open[ps.ProducerID]; ok {
			want = f
		}
		if ps.TxnStartOffset != want {
			t.Fatalf("producer %d: transaction start %d, the log says %d", ps.ProducerID, ps.TxnStartOffset, want)
		}
	}
	// The recovered state goes on: every open transaction can end.
	for pid := range open {
		if _, err := l.AppendMarker(pid, 0, 0, false, 0); err != nil {
			t.Fatalf("abort after recovery: %v", err)
		}
	}
	if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if policy == FsyncInterval {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if l, err = Open(plDir, cfg, plOptions(disk, policy)); err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	if got := l.LastStableOffset(); got != l.HighWatermark() {
		t.Fatalf("after aborting every open transaction: LSO %d, HW %d", got, l.HighWatermark())
	}
}

// Under FsyncInterval and FsyncNever nothing per write is promised, and a
// crash may tear any segment the recovery scans (FsyncNever) or the last
// one: the recovered transaction state must still be exactly what the
// surviving log says.
func TestPowerLossTransactionsInterval(t *testing.T) { testPowerLossTxnPolicy(t, FsyncInterval) }
func TestPowerLossTransactionsNever(t *testing.T)    { testPowerLossTxnPolicy(t, FsyncNever) }

func testPowerLossTxnPolicy(t *testing.T, policy Fsync) {
	seed := plSeed(t)
	cfg := plConfig()
	cfg.SegmentBytes = 1200
	dry := newPLDisk(t)
	if l := txnPowerLossWorkloadOn(dry, cfg, policy, &txnLedger{markers: map[int64]bool{}, open: map[int64]int64{}}); l == nil || l.Err() != nil {
		t.Fatal("the workload failed without a crash")
	} else {
		l.Close()
	}
	crashPoints(t, seed, dry.Ops(), 100, 6*time.Second, func(k int64, rng *rand.Rand) {
		disk := newPLDisk(t)
		lg := &txnLedger{markers: map[int64]bool{}, open: map[int64]int64{}}
		disk.CrashAfter(k, rng)
		if l := txnPowerLossWorkloadOn(disk, cfg, policy, lg); l != nil {
			l.Close()
		}
		img := disk.Image()
		if img == nil {
			img = disk.Crash(rng)
		}
		verifyTxnLogOn(t, recoverTwice(t, img, cfg, policy, rng), cfg, policy, lg)
	})
}

func TestPowerLossTransactions(t *testing.T) {
	seed := plSeed(t)
	cfg := plConfig()
	cfg.SegmentBytes = 1200 // rolls every few batches: transactions span segments
	dry := newPLDisk(t)
	ref := &txnLedger{markers: map[int64]bool{}, open: map[int64]int64{}}
	l := txnPowerLossWorkload(dry, cfg, ref)
	if l == nil || l.Err() != nil {
		t.Fatal("the workload failed without a crash")
	}
	open, aborted, _ := txnModel(t, l)
	if len(open) == 0 || len(aborted) < 3 || len(l.segs) < 10 || len(ref.markers) < 10 {
		t.Fatalf("the workload is too weak: %d open, %d aborted, %d segments, %d markers", len(open), len(aborted), len(l.segs), len(ref.markers))
	}
	t.Logf("%d open, %d aborted, %d segments, %d markers", len(open), len(aborted), len(l.segs), len(ref.markers))
	l.Close()
	total := dry.Ops()
	crashPoints(t, seed, total, 120, 8*time.Second, func(k int64, rng *rand.Rand) {
		disk := newPLDisk(t)
		lg := &txnLedger{markers: map[int64]bool{}, open: map[int64]int64{}}
		disk.CrashAfter(k, rng)
		if l := txnPowerLossWorkload(disk, cfg, lg); l != nil {
			l.Close()
		}
		img := disk.Image()
		if img == nil {
			img = disk.Crash(rng)
		}
		verifyTxnLog(t, recoverTwice(t, img, cfg, FsyncAlways, rng), cfg, lg)
	})
}

// TestPowerLossCompactionWithTransactions crashes at every operation of
// a compaction run over segments holding committed, aborted and open
// transactions (and of the Close after it): after recovery the aborted
// index and the LSO are what they were, no aborted record is left where
// the run removed it from a committed key's history, and compacting again
// changes the LSO not, and drops only the index entries of aborted
// transactions with no record left.
func TestPowerLossCompactionWithTransactions(t *testing.T) {
	cfg := plConfig()
	cfg.SegmentBytes = 1200
	type state struct {
		l       *Log
		aborted []AbortedTxn
		lso     int64
	}
	prepare := func(disk *vfs.CrashFS) *state {
		lg := &txnLedger{markers: map[int64]bool{}, open: map[int64]int64{}}
		l := txnPowerLossWorkload(disk, cfg, lg)
		if l == nil || l.Err() != nil {
			t.Fatal("the workload failed without a crash")
		}
		if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		return &state{l: l, aborted: l.AbortedTransactions(0, l.HighWatermark()), lso: l.LastStableOffset()}
	}
	crashWindow(t, 300, prepare, func(st *state) {
		defer st.l.Close()
		st.l.Compact(CompactPolicy{})
	}, func(img *vfs.CrashFS, st *state, rng *rand.Rand) {
		img = recoverTwice(t, img, cfg, FsyncAlways, rng)
		for pass := range 2 {
			l, err := Open(plDir, cfg, plOptions(img, FsyncAlways))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Err(); err != nil {
				t.Fatalf("fenced after a power loss during compaction: %v", err)
			}
			got := l.AbortedTransactions(0, l.HighWatermark())
			if pass == 0 && !slices.Equal(got, st.aborted) {
				t.Fatalf("pass %d: aborted transactions\n got %+v\nwant %+v", pass, got, st.aborted)
			}
			if pass == 1 {
				// The second run drops the entries of the transactions
				// whose records the first removed, as Kafka's cleaner:
				// no record of a dropped one may be left.
				for _, a := range st.aborted {
					if slices.Contains(got, a) {
						continue
					}
					for _, b := range rawBatches(t, l, l.HighWatermark()) {
						if h := decodeHeader(b); !h.IsControl() && h.ProducerID == a.ProducerID && h.NumRecords > 0 &&
							h.BaseOffset >= a.FirstOffset && h.BaseOffset <= a.LastOffset {
							t.Fatalf("aborted transaction %+v left the index with a record at %d", a, h.BaseOffset)
						}
					}
				}
				for _, a := range got {
					if !slices.Contains(st.aborted, a) {
						t.Fatalf("aborted transaction %+v in the index after compacting again: never aborted", a)
					}
				}
			}
			if got := l.LastStableOffset(); got != st.lso {
				t.Fatalf("pass %d: LSO %d, was %d", pass, got, st.lso)
			}
			if pass == 0 {
				if _, err := l.Compact(CompactPolicy{}); err != nil {
					t.Fatalf("compacting after recovery: %v", err)
				}
			}
			l.Close()
		}
	})
}

// rawBatches returns l's batches below upTo, whole.
func rawBatches(t *testing.T, l *Log, upTo int64) [][]byte {
	t.Helper()
	r, err := l.Read(l.LogStartOffset(), 1<<30, true)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.AppendTo(nil)
	r.Release()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for p := raw; len(p) > 0; {
		h := decodeHeader(p)
		if h.BaseOffset >= upTo {
			break
		}
		out = append(out, p[:h.Size()])
		p = p[h.Size():]
	}
	return out
}

// consumeCommitted reads l as a Kafka read_committed consumer does
// (Fetcher's abortedProducerIds): the batches below the LSO, dropping
// those of producers in an aborted transaction from its first offset to
// its abort marker. It returns the base offsets of the data batches read.
func consumeCommitted(t *testing.T, l *Log) []int64 {
	t.Helper()
	lso := l.LastStableOffset()
	aborted := l.AbortedTransactions(l.LogStartOffset(), lso)
	slices.SortFunc(aborted, func(a, b AbortedTxn) int { return int(a.FirstOffset - b.FirstOffset) })
	skipping := map[int64]bool{}
	var out []int64
	for _, b := range rawBatches(t, l, lso) {
		h := decodeHeader(b)
		for len(aborted) > 0 && aborted[0].FirstOffset <= h.LastOffset() {
			skipping[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		if h.IsControl() {
			if m, ok := parseMarker(&h, b); ok && !m.commit {
				delete(skipping, h.ProducerID)
			}
			continue
		}
		if h.IsTransactional() && skipping[h.ProducerID] {
			continue
		}
		out = append(out, h.BaseOffset)
	}
	return out
}

// committedModel is what the log's batches say a read_committed consumer
// must read: below the LSO, plain batches and those of transactions that
// ended with a commit marker.
func committedModel(t *testing.T, l *Log) []int64 {
	t.Helper()
	lso := l.LastStableOffset()
	pending := map[int64][]int64{}
	var out []int64
	for _, b := range rawBatches(t, l, l.HighWatermark()) {
		h := decodeHeader(b)
		switch {
		case h.IsControl():
			if m, ok := parseMarker(&h, b); ok && m.commit {
				out = append(out, pending[h.ProducerID]...)
			}
			delete(pending, h.ProducerID)
		case h.IsTransactional():
			pending[h.ProducerID] = append(pending[h.ProducerID], h.BaseOffset)
		default:
			out = append(out, h.BaseOffset)
		}
	}
	out = slices.DeleteFunc(out, func(o int64) bool { return o >= lso })
	slices.Sort(out)
	return out
}
