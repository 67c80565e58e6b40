package txn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// etl is one consume-transform-produce application instance: a franz-go
// GroupTransactSession that reads the input topic in the group, copies
// every record to the output topic and commits the input offsets in the
// same transaction.
type etl struct {
	t     *testing.T
	b     broker
	txnID string
	sess  *kgo.GroupTransactSession
	// abortEvery aborts every n-th transaction on purpose (0: never):
	// the session then rewinds to the committed offsets and the records
	// are processed again, so their aborted copies are in the output log.
	abortEvery int
	// crash, when set, makes the next transaction end without EndTxn:
	// its records are produced and flushed, then the client is closed as
	// if the process died, leaving the transaction open on the broker.
	crash     atomic.Bool
	quit      atomic.Bool   // stop between transactions
	committed *atomic.Int64 // input records committed, all instances
	done      chan struct{}
	err       error

	// For a failure's report: the client's log and the loop's, and the
	// partitions the instance owns.
	log   *ringLog
	owned owned
}

func startETL(t *testing.T, b broker, group, in, out, txnID string, timeout time.Duration, committed *atomic.Int64, t0 time.Time) *etl {
	t.Helper()
	e := &etl{t: t, b: b, txnID: txnID, abortEvery: 5, committed: committed, done: make(chan struct{}),
		log: newRingLog(t0, 600, 300, 400)}
	e.log.Printf("start")
	sess, err := kgo.NewGroupTransactSession(
		kgo.WithLogger(e.log),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			e.owned.change(m, true)
			e.log.Printf("assigned %v, owns %s", m, &e.owned)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			e.owned.change(m, false)
			e.log.Printf("revoked %v, owns %s", m, &e.owned)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			e.owned.change(m, false)
			e.log.Printf("lost %v, owns %s", m, &e.owned)
		}),
		kgo.SeedBrokers(b.addr),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(timeout),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(10*time.Second),
		kgo.DefaultProduceTopic(out),
		kgo.UnknownTopicRetries(-1),
		kgo.MaxBufferedRecords(1000),
		// Small fetches: many transactions per run.
		kgo.FetchMaxPartitionBytes(2000),
	)
	if err != nil {
		t.Fatal(err)
	}
	e.sess = sess
	go e.run()
	return e
}

func (e *etl) run() {
	defer close(e.done)
	ctx := context.Background()
	for n := 1; ; n++ {
		if e.quit.Load() {
			e.log.Printf("quit")
			e.sess.Close() // leaves the group
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := e.sess.PollFetches(pctx)
		cancel()
		if fs.IsClientClosed() {
			return
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, kgo.ErrClientClosed) {
				ferr = err
			}
		})
		if ferr != nil {
			e.err = fmt.Errorf("%s: poll: %w", e.txnID, ferr)
			return
		}
		if len(recs) == 0 {
			if n%20 == 0 {
				e.log.Printf("poll %d: no records, owns %s", n, &e.owned)
			}
			continue
		}
		e.log.Printf("poll %d: %d records %s", n, len(recs), spans(recs))
		if err := e.sess.Begin(); err != nil {
			e.err = fmt.Errorf("%s: begin: %w", e.txnID, err)
			return
		}
		for _, r := range recs {
			e.sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, nil)
		}
		if e.crash.Load() {
			e.log.Printf("crash")
			// Produced and on the broker, never ended: Close leaves the
			// group without ending the transaction.
			if err := e.sess.Client().Flush(ctx); err != nil {
				e.err = fmt.Errorf("%s: flush before the crash: %w", e.txnID, err)
			}
			e.sess.Close()
			return
		}
		commit := e.abortEvery == 0 || n%e.abortEvery != 0
		ok, err := e.sess.End(ctx, kgo.TransactionEndTry(commit))
		if err != nil {
			e.err = fmt.Errorf("%s: end (commit=%v): %w", e.txnID, commit, err)
			return
		}
		if ok {
			e.committed.Add(int64(len(recs)))
		}
		e.log.Printf("end %d: commit=%v committed=%v", n, commit, ok)
	}
}

// stop makes the loop close the session (it leaves the group) after its
// current transaction and waits for it; a loop error fails the test.
func (e *etl) stop() {
	e.quit.Store(true)
	e.wait()
}

// crashNext makes the instance die in its next transaction, once it owns
// a partition (so that input fed next reaches it); wait waits for that.
func (e *etl) crashNext() {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for e.owned.count() == 0 {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: no partition assigned after 2 minutes", e.txnID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.log.Printf("crash in the next transaction, %d input records committed, owns %s", e.committed.Load(), &e.owned)
	e.crash.Store(true)
}

// report is what the test prints of the instance when it fails.
func (e *etl) report() string {
	state := "running"
	select {
	case <-e.done:
		state = "stopped"
	default:
	}
	return fmt.Sprintf("%s (%s, crash=%v, quit=%v), owns partitions %s:\n%s", e.txnID, state, e.crash.Load(), e.quit.Load(), &e.owned, e.log)
}

// spans says which offsets of which partitions recs holds.
func spans(recs []*kgo.Record) string {
	type span struct{ lo, hi int64 }
	m := map[int32]*span{}
	var order []int32
	for _, r := range recs {
		s, ok := m[r.Partition]
		if !ok {
			m[r.Partition] = &span{r.Offset, r.Offset}
			order = append(order, r.Partition)
			continue
		}
		s.lo, s.hi = min(s.lo, r.Offset), max(s.hi, r.Offset)
	}
	var sb strings.Builder
	for _, p := range order {
		fmt.Fprintf(&sb, " %d:%d-%d", p, m[p].lo, m[p].hi)
	}
	return sb.String()
}

func (e *etl) wait() {
	select {
	case <-e.done:
	case <-time.After(2 * time.Minute):
		e.t.Fatalf("%s: the ETL loop did not stop", e.txnID)
	}
	if e.err != nil {
		e.t.Error(e.err)
	}
}

// TestGroupTransactSessionExactlyOnce runs consume-transform-produce
// instances through restarts, crashes and rebalances and checks that the
// output read with read_committed holds every input record exactly once.
// The input is fed in five rounds of records on every partition; each
// round is committed completely before the next one is fed:
//
//   - two instances (transactional ids A and B) share the group, each
//     aborting every fifth transaction on purpose;
//   - A is told to crash, and the next round makes it crash in a
//     transaction (records produced, no EndTxn); it is restarted with the
//     same transactional id: its InitProducerId fences the old producer
//     and aborts the open transaction;
//   - likewise B crashes in a transaction and is replaced by an instance
//     with a new id C: B's transaction hangs until its
//     transaction.timeout.ms (8 s) and the broker aborts it;
//   - a new instance D joins and A's successor leaves cleanly, each while
//     a round is processed: cooperative rebalances while transactions run.
//
// Feeding rounds makes sure an instance told to crash has records to
// crash with. With the whole input there from the start, an instance on a
// fast broker could commit all of its partitions' records before the test
// saw the count it waited for and told it to crash: the instance, never
// polling a record again, never crashed.
//
// At the end no transaction may be open (every last stable offset equals
// its high watermark), the read_committed output is the input exactly
// once, and the read_uncommitted output is larger (the aborted copies are
// in the log, so the filtering was exercised).
func TestGroupTransactSessionExactlyOnce(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		const n, rounds, partitions = 3000, 5, 4
		in, out, group := name("etl-in"), name("etl-out"), name("etl-group")
		createTopic(t, b, in, partitions)
		createTopic(t, b, out, partitions)
		var want []string
		feed := func() {
			t.Helper()
			from := len(want)
			want = append(want, produceInput(t, b, in, from, from+n/rounds, partitions)...)
		}

		var committed atomic.Int64
		var running []*etl
		t0 := time.Now()
		start := func(id string, timeout time.Duration) *etl {
			e := startETL(t, b, group, in, out, id, timeout, &committed, t0)
			running = append(running, e)
			return e
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s: %d input records committed; the instances, in their start order (times since the first start):", b.name, committed.Load())
				for _, e := range running {
					t.Log(e.report())
				}
				if b.proc != nil {
					t.Logf("broker log:\n%s", b.proc.Log())
				}
			}
			for _, e := range running {
				e.sess.Close()
			}
		})
		waitCommitted := func(atLeast int64) {
			t.Helper()
			deadline := time.Now().Add(2 * time.Minute)
			for committed.Load() < atLeast {
				if time.Now().After(deadline) {
					t.Fatalf("%s: %d input records committed after 2 minutes, waiting for %d", b.name, committed.Load(), atLeast)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}

		idA, idB := name("txn-A"), name("txn-B")
		a := start(idA, time.Minute)
		bb := start(idB, 8*time.Second)
		feed()
		waitCommitted(int64(len(want)))
		a.crashNext()
		feed()
		a.wait()
		a2 := start(idA, time.Minute)
		waitCommitted(int64(len(want)))
		bb.crashNext()
		feed()
		bb.wait()
		c := start(name("txn-C"), time.Minute)
		waitCommitted(int64(len(want)))
		feed()
		d := start(name("txn-D"), time.Minute)
		waitCommitted(int64(len(want)))
		feed()
		a2.stop()
		waitCommitted(n)
		c.stop()
		d.stop()

		if got := committed.Load(); got != n {
			t.Errorf("%s: the instances committed %d input records, want %d", b.name, got, n)
		}
		ends := stableEnds(t, b, out, time.Minute)
		exactlyOnce(t, b.name+": read_committed output", want, readAll(t, b, out, ends, true))
		if all := readAll(t, b, out, ends, false); len(all) <= n {
			t.Errorf("%s: read_uncommitted output has %d records, want more than %d (the aborted copies)", b.name, len(all), n)
		}
	})
}
