package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/powerloss"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPowerLossTransactionsThroughBroker runs a broker on a vfs.CrashFS
// (--fsync always) while transactions are written into a partition as
// the produce path and the coordinator write them (transactional batches,
// then markers through writeTxnMarkers, each waited for), crashes it at
// random operations and restarts it on what the disk kept. A real franz-go
// read_committed consumer must then read every acknowledged committed
// record, no record of a transaction whose abort was acknowledged, and
// nothing of the transaction left open, which holds the LSO at its first
// offset.
func TestPowerLossTransactionsThroughBroker(t *testing.T) {
	seed := powerloss.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	dry := vfs.NewCrashFS()
	dir := t.TempDir()
	b := startTxnLogOnCrashFS(t, dir, dry)
	before := dry.Ops()
	ref := txnLogPLWorkload(b)
	total := dry.Ops() - before
	b.Close()
	if len(ref.committed) < 5 || len(ref.aborted) < 5 || ref.openFirst < 0 {
		t.Fatalf("the workload is too weak: %+v", ref)
	}
	points, budget := 16, 8*time.Second
	if n, err := strconv.Atoi(os.Getenv("REWIND_POWERLOSS_SCALE")); err == nil && n > 1 {
		points, budget = points*n, budget*time.Duration(n)
	}
	deadline := time.Now().Add(budget)
	i := 0
	defer func() { t.Logf("%d crash points of %d operations", i, total) }()
	for ; i < points && time.Now().Before(deadline); i++ {
		k := 1 + rng.Int64N(total)
		var torn *rand.Rand
		if i%2 == 1 {
			torn = rand.New(rand.NewPCG(seed, uint64(i)))
		}
		disk := vfs.NewCrashFS()
		dir := t.TempDir()
		b := startTxnLogOnCrashFS(t, dir, disk)
		disk.CrashAfter(k, torn)
		acked := txnLogPLWorkload(b)
		b.Close()
		img := disk.Image()
		if img == nil {
			img = disk.Crash(torn)
		}
		checkTxnLogPL(t, startTxnLogOnCrashFS(t, dir, img), acked, fmt.Sprintf("crash %d after operation %d of %d (torn %v)", i, k, total, torn != nil))
		if t.Failed() {
			return
		}
	}
}

func startTxnLogOnCrashFS(t *testing.T, dir string, disk *vfs.CrashFS) *Broker {
	t.Helper()
	fresh := false
	if _, err := disk.Stat(dir); err != nil {
		fresh = true
		if err := disk.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		disk.SyncAll()
	}
	b, err := New(WithListen("127.0.0.1:0"), WithDataDir(dir), WithFS(disk),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *Config) { c.DiskReserve, c.OffsetsTopicPartitions = 0, 1 })
	if err != nil {
		t.Fatalf("start on the crashed disk: %v", err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if fresh {
		if _, err := b.reg.create("txpl", 1, nil, false, false, nil); err != nil {
			t.Fatal(err)
		}
		disk.SyncAll()
	}
	return b
}

// txnLogPLAcked is what the workload was told is durable.
type txnLogPLAcked struct {
	committed map[string]bool // values of transactions whose commit was acknowledged
	aborted   map[string]bool // values of transactions whose abort was acknowledged
	openFirst int64           // first offset of the transaction left open (its batch acknowledged), -1 if none
	openVals  map[string]bool
}

// txnLogPLWorkload writes 24 transactions of producers 1-3 (each of two
// batches, one committed then one aborted in turn, with plain records
// between) and leaves producer 9's open. It stops at the first failure:
// the disk is dead.
func txnLogPLWorkload(b *Broker) txnLogPLAcked {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acked := txnLogPLAcked{committed: map[string]bool{}, aborted: map[string]bool{}, openFirst: -1, openVals: map[string]bool{}}
	l := b.partition("txpl", 0)
	seq := map[int64]int32{}
	write := func(rec []byte) (int64, bool) {
		res, err := l.Append(rec)
		if err != nil || l.WaitDurable(ctx, res.LastOffset+1) != nil {
			return 0, false
		}
		return res.BaseOffset, true
	}
	for i := range 24 {
		pid := int64(1 + i%3)
		v1, v2 := fmt.Sprintf("t%d-a", i), fmt.Sprintf("t%d-b", i)
		if _, ok := write(txnRecords(pid, 0, seq[pid], v1)); !ok {
			return acked
		}
		if _, ok := write(plainRecords(fmt.Sprintf("plain-%d", i))); !ok {
			return acked
		}
		if _, ok := write(txnRecords(pid, 0, seq[pid]+1, v2)); !ok {
			return acked
		}
		seq[pid] += 2
		commit := i%2 == 0
		resp := b.writeTxnMarkers(ctx, markerReq(1, "txpl", pid, 0, 0, commit, 0))
		if codes := markerCodes(resp); len(codes) != 1 || codes[0] != 0 {
			return acked
		}
		into := acked.aborted
		if commit {
			into = acked.committed
		}
		into[v1], into[v2] = true, true
	}
	if off, ok := write(txnRecords(9, 0, 0, "open")); ok {
		acked.openFirst, acked.openVals["open"] = off, true
	}
	return acked
}

func checkTxnLogPL(t *testing.T, b *Broker, acked txnLogPLAcked, at string) {
	t.Helper()
	l := b.partition("txpl", 0)
	if l == nil || l.Err() != nil {
		t.Fatalf("%s: partition after the crash: %v", at, l)
	}
	lso := l.LastStableOffset()
	if acked.openFirst >= 0 && lso > acked.openFirst {
		t.Fatalf("%s: LSO %d passed the open transaction at %d", at, lso, acked.openFirst)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("txpl"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]bool{}
	var pos int64
	all := func() bool {
		for v := range acked.committed {
			if !got[v] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(5 * time.Second)
	for !all() && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Value)] = true
			pos = max(pos, r.Offset)
		})
	}
	// One more poll: nothing aborted or open may come after.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	cancel()
	for v := range acked.committed {
		if !got[v] {
			t.Fatalf("%s: acknowledged committed record %q not read with read_committed (LSO %d, read to %d)", at, v, lso, pos)
		}
	}
	for v := range got {
		if acked.aborted[v] || acked.openVals[v] {
			t.Fatalf("%s: read_committed read %q of an aborted or open transaction", at, v)
		}
	}
}
