package txn

import (
	"context"
	"errors"
	"fmt"
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
}

func startETL(t *testing.T, b broker, group, in, out, txnID string, timeout time.Duration, committed *atomic.Int64) *etl {
	t.Helper()
	sess, err := kgo.NewGroupTransactSession(
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
	e := &etl{t: t, b: b, txnID: txnID, sess: sess, abortEvery: 5, committed: committed, done: make(chan struct{})}
	go e.run()
	return e
}

func (e *etl) run() {
	defer close(e.done)
	ctx := context.Background()
	for n := 1; ; n++ {
		if e.quit.Load() {
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
			continue
		}
		if err := e.sess.Begin(); err != nil {
			e.err = fmt.Errorf("%s: begin: %w", e.txnID, err)
			return
		}
		for _, r := range recs {
			e.sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, nil)
		}
		if e.crash.Load() {
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
	}
}

// stop makes the loop close the session (it leaves the group) after its
// current transaction and waits for it; a loop error fails the test.
func (e *etl) stop() {
	e.quit.Store(true)
	e.wait()
}

// crashNow makes the instance die in its next transaction and waits.
func (e *etl) crashNow() {
	e.crash.Store(true)
	e.wait()
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
// output read with read_committed holds every input record exactly once:
//
//   - two instances (transactional ids A and B) share the group, each
//     aborting every fifth transaction on purpose;
//   - A crashes in a transaction (records produced, no EndTxn) and is
//     restarted with the same transactional id: its InitProducerId fences
//     the old producer and aborts the open transaction;
//   - B crashes in a transaction and is replaced by an instance with a new
//     id C: B's transaction hangs until its transaction.timeout.ms (8 s)
//     and the broker aborts it;
//   - a new instance D joins and A's successor leaves cleanly: cooperative
//     rebalances while transactions run.
//
// At the end no transaction may be open (every last stable offset equals
// its high watermark), the read_committed output is the input exactly
// once, and the read_uncommitted output is larger (the aborted copies are
// in the log, so the filtering was exercised).
func TestGroupTransactSessionExactlyOnce(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		const n = 3000
		in, out, group := name("etl-in"), name("etl-out"), name("etl-group")
		createTopic(t, b, in, 4)
		createTopic(t, b, out, 4)
		want := produceInput(t, b, in, n)

		var committed atomic.Int64
		var running []*etl
		start := func(id string, timeout time.Duration) *etl {
			e := startETL(t, b, group, in, out, id, timeout, &committed)
			running = append(running, e)
			return e
		}
		t.Cleanup(func() {
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
		waitCommitted(n / 5)
		a.crashNow()
		a2 := start(idA, time.Minute)
		waitCommitted(2 * n / 5)
		bb.crashNow()
		c := start(name("txn-C"), time.Minute)
		waitCommitted(3 * n / 5)
		d := start(name("txn-D"), time.Minute)
		waitCommitted(4 * n / 5)
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
