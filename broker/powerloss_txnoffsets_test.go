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
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPowerLossTxnOffsets runs the group coordinator of a broker on a
// vfs.CrashFS (--fsync always, __consumer_offsets journaled as the broker
// runs it) through transactional offset commits, their commit and abort
// markers (the broker's marker hook for __consumer_offsets) and plain
// commits of the same partition, one at a time, and loses the power
// after a random operation of the file system (seeded, strict or torn).
// A broker started on what the disk kept must hold, for the group, the
// state of every acknowledged operation, with or without the one in
// flight at the crash: the committed offset Kafka's rule gives (a commit
// marker applies a transactional offset only over an earlier record),
// and UNSTABLE_OFFSET_COMMIT for RequireStable exactly while a
// transaction's offsets are pending; a marker written after the restart
// then applies them.
//
// The coordinator is driven in process, as the transaction coordinator
// drives it, so no transaction coordinator's checks come in between.
func TestPowerLossTxnOffsets(t *testing.T) {
	seed := powerloss.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 0))

	dry := vfs.NewCrashFS()
	b := startTxnPL(t, t.TempDir(), dry)
	before := dry.Ops()
	full := &txnPLRun{}
	runTxnPL(t, b, dry, full)
	total := dry.Ops() - before
	if len(full.acked) < 40 {
		t.Fatalf("the workload without a crash acknowledged %d operations", len(full.acked))
	}
	b.Close()

	points, budget := 30, 5*time.Second
	if n, err := strconv.Atoi(os.Getenv("REWIND_POWERLOSS_SCALE")); err == nil && n > 1 {
		points, budget = points*n, budget*time.Duration(n)
	}
	deadline := time.Now().Add(budget)
	for i := 0; i < points && time.Now().Before(deadline); i++ {
		k := 1 + rng.Int64N(total)
		var torn *rand.Rand
		if i%2 == 1 {
			torn = rand.New(rand.NewPCG(seed, uint64(i)))
		}
		disk := vfs.NewCrashFS()
		dir := t.TempDir()
		b := startTxnPL(t, dir, disk)
		run := &txnPLRun{}
		disk.CrashAfter(k, torn)
		runTxnPL(t, b, disk, run)
		b.Close() // on a dead disk: its errors are the crash's
		img := disk.Image()
		if img == nil {
			img = disk.Crash(torn)
		}
		if testing.Verbose() {
			t.Logf("crash %d after operation %d of %d (torn %v): %d operations acknowledged", i, k, total, torn != nil, len(run.acked))
		}
		checkTxnPL(t, startTxnPL(t, dir, img), run, fmt.Sprintf("crash %d after operation %d of %d (torn %v)", i, k, total, torn != nil))
		if t.Failed() {
			return
		}
	}
}

const txnPLGroup, txnPLTopic = "txn-powerloss", "txn-in"

func startTxnPL(t *testing.T, dir string, disk *vfs.CrashFS) *Broker {
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
		func(c *Config) { c.DiskReserve = 0 })
	if err != nil {
		t.Fatalf("start on the disk: %v", err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if fresh {
		if _, err := b.reg.create(txnPLTopic, 1, nil, false, false, nil); err != nil {
			t.Fatal(err)
		}
		disk.SyncAll()
	}
	return b
}

// txnPLOp is one operation of the workload.
type txnPLOp struct {
	kind   byte // 'c' plain commit, 't' transactional commit, 'm' marker
	pid    int64
	off    int64
	commit bool // of a marker
}

// txnPLRun is what was sent and acknowledged.
type txnPLRun struct {
	acked    []txnPLOp
	inFlight *txnPLOp
}

// runTxnPL sends the workload until it ends or an operation fails (the
// disk died).
func runTxnPL(t *testing.T, b *Broker, disk *vfs.CrashFS, run *txnPLRun) {
	t.Helper()
	p := b.grp.PartitionFor(txnPLGroup)
	var ops []txnPLOp
	for i := int64(1); i <= 24; i++ {
		if i%4 == 0 {
			ops = append(ops, txnPLOp{kind: 'c', off: 1000 + i})
			continue
		}
		pid := 9000 + i
		ops = append(ops, txnPLOp{kind: 't', pid: pid, off: 10 * i})
		if i%5 == 1 {
			// A plain commit between the transaction's record and its
			// marker: it wins over the transactional offset.
			ops = append(ops, txnPLOp{kind: 'c', off: 2000 + i})
		}
		ops = append(ops, txnPLOp{kind: 'm', pid: pid, commit: i%3 != 0})
	}
	ctx := context.Background()
	for i := range ops {
		op := ops[i]
		run.inFlight = &op
		if disk.Image() != nil {
			return
		}
		ok := false
		switch op.kind {
		case 'c':
			ok = allOK(b.grp.OffsetCommit(ctx, plainCommitReq(op.off)).Topics[0].Partitions[0].ErrorCode)
		case 't':
			req := kmsg.NewPtrTxnOffsetCommitRequest()
			req.Version, req.TransactionalID, req.Group, req.ProducerID = 3, "tx", txnPLGroup, op.pid
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = txnPLTopic
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Offset = op.off
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			ok = allOK(b.grp.TxnOffsetCommit(ctx, req).Topics[0].Partitions[0].ErrorCode)
		case 'm':
			ok = b.completeGroupTxn(ctx, p, op.pid, 0, 0, op.commit, 1) == 0
		}
		if !ok {
			return
		}
		run.acked = append(run.acked, op)
		run.inFlight = nil
	}
}

func allOK(code int16) bool { return code == 0 }

func plainCommitReq(off int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation = 8, txnPLGroup, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = txnPLTopic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = off
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// txnPLState is the group's state after a sequence of operations, by
// Kafka's rules: positions are the operations' order in the log.
type txnPLState struct {
	committed, committedAt int64              // -1: none
	pending                map[int64][2]int64 // pid -> offset, position
}

func txnPLModel(ops []txnPLOp) txnPLState {
	s := txnPLState{committed: -1, committedAt: -1, pending: map[int64][2]int64{}}
	for i, op := range ops {
		pos := int64(i)
		switch op.kind {
		case 'c':
			s.committed, s.committedAt = op.off, pos
		case 't':
			s.pending[op.pid] = [2]int64{op.off, pos}
		case 'm':
			pend, ok := s.pending[op.pid]
			delete(s.pending, op.pid)
			if ok && op.commit && pend[1] > s.committedAt {
				s.committed, s.committedAt = pend[0], pend[1]
			}
		}
	}
	return s
}

func (s txnPLState) String() string {
	return fmt.Sprintf("committed %d, %d transactions pending", s.committed, len(s.pending))
}

func fetchTxnPL(t *testing.T, b *Broker, stable bool) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, txnPLGroup, stable
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = txnPLTopic, []int32{0}
	req.Topics = append(req.Topics, rt)
	sp := b.grp.OffsetFetch(context.Background(), req).Topics[0].Partitions[0]
	return sp.ErrorCode, sp.Offset
}

func checkTxnPL(t *testing.T, b *Broker, run *txnPLRun, what string) {
	t.Helper()
	candidates := []txnPLState{txnPLModel(run.acked)}
	if run.inFlight != nil {
		candidates = append(candidates, txnPLModel(append(append([]txnPLOp(nil), run.acked...), *run.inFlight)))
	}
	_, off := fetchTxnPL(t, b, false)
	code, _ := fetchTxnPL(t, b, true)
	var match *txnPLState
	for i, c := range candidates {
		wantCode := int16(0)
		if len(c.pending) > 0 {
			wantCode = kerr.UnstableOffsetCommit.Code
		}
		if c.committed == off && code == wantCode {
			match = &candidates[i]
			break
		}
	}
	if match == nil {
		t.Fatalf("%s: after the restart offset %d and RequireStable %v; acknowledged %d operations, want %v", what, off, kerr.ErrorForCode(code), len(run.acked), candidates)
	}
	// The markers written after the restart end what was left pending.
	p := b.grp.PartitionFor(txnPLGroup)
	ops := append([]txnPLOp(nil), run.acked...)
	if match != &candidates[0] {
		ops = append(ops, *run.inFlight)
	}
	for pid := range match.pending {
		if code := b.completeGroupTxn(context.Background(), p, pid, 0, 0, true, 1); code != 0 {
			t.Fatalf("%s: marker of producer %d after the restart: %v", what, pid, kerr.ErrorForCode(code))
		}
		ops = append(ops, txnPLOp{kind: 'm', pid: pid, commit: true})
	}
	want := txnPLModel(ops)
	if code, off := fetchTxnPL(t, b, true); code != 0 || off != want.committed {
		t.Fatalf("%s: after the markers written since the restart: %v offset %d, want %d", what, kerr.ErrorForCode(code), off, want.committed)
	}
	if ps := b.grp.PendingTxnOffsets(txnPLGroup); len(ps) != 0 {
		t.Fatalf("%s: still pending after every marker: %+v", what, ps)
	}
}
