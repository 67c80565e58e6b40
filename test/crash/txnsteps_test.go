package crash

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// killPoint is the step of a transaction at which the broker gets SIGKILL.
type killPoint int

const (
	// afterAddPartitions: records produced to every partition (so each
	// was added to the transaction), no EndTxn. The transactional id is
	// never used again, so only transaction.timeout.ms can abort it.
	afterAddPartitions killPoint = iota
	// duringCommit / duringAbort: EndTxn is in flight and the kill comes
	// 0-5 ms after it was sent: before the coordinator logged
	// PrepareCommit, between it and the markers, between the markers of
	// the partitions, or after CompleteCommit. The next cycle reuses the
	// transactional id, so its InitProducerId must finish or abort it.
	duringCommit
	duringAbort
	// afterCommit: EndTxn(commit) acknowledged, then the kill.
	afterCommit
	killPoints
)

func (k killPoint) String() string {
	return [...]string{"after AddPartitions", "during EndTxn commit", "during EndTxn abort", "after EndTxn commit"}[k]
}

// txnOutcome is what a transaction must look like after every restart.
type txnOutcome int

const (
	mustCommit txnOutcome = iota // EndTxn(commit) acknowledged
	mustAbort                    // aborted, or never ended (hanging)
	eitherWay                    // killed during EndTxn: all or nothing
)

type txnRecord struct {
	values  []string
	outcome txnOutcome
	what    string
}

const txnTopic = "crash-txn"

// TestTxnKillLoop kills the broker with SIGKILL at each step of a
// transaction in turn (see killPoint), once each or REWIND_CRASH_CYCLES
// times, with
// committed and aborted transactions of small batches (10 records over 4
// partitions) before each kill. After each restart, once no transaction
// is open any more (every partition's last stable offset equals its high
// watermark: the hanging transaction of afterAddPartitions must have been
// aborted by its 3 s timeout), the whole topic is read with
// read_committed: every acknowledged commit is there exactly once, no
// record of an aborted or hanging transaction is, and a transaction
// killed during EndTxn is there entirely or not at all.
func TestTxnKillLoop(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freePort(t)
	p := start(t, dataDir, addr)
	defer func() { p.kill() }()
	requireTransactions(t, addr)

	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = kadm.NewClient(adm).CreateTopic(ctx, partitions, 1, nil, txnTopic)
	cancel()
	adm.Close()
	if err != nil {
		t.Fatal(err)
	}

	var txns []txnRecord
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	seq := 0
	newTxn := func(cl *kgo.Client, cycle int) []string {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("cycle %d: begin: %v", cycle, err)
		}
		var vals []string
		for i := range 10 {
			v := fmt.Sprintf("c%d-t%d-r%d", cycle, seq, i)
			vals = append(vals, v)
			r := &kgo.Record{Topic: txnTopic, Partition: int32(i % partitions), Value: []byte(v)}
			cl.Produce(context.Background(), r, nil)
		}
		seq++
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("cycle %d: flush: %v", cycle, err)
		}
		return vals
	}
	reusedID := "crash-txn-reused"
	// Each kill point once by default (a cycle takes 5-20 s: the hanging
	// transaction waits for its timeout); REWIND_CRASH_CYCLES for more.
	n := int(killPoints)
	if os.Getenv("REWIND_CRASH_CYCLES") != "" {
		n = cycles()
	}
	for cycle := 0; cycle < n; cycle++ {
		kp := killPoint(cycle % int(killPoints))
		id := reusedID
		if kp == afterAddPartitions {
			id = fmt.Sprintf("crash-txn-hanging-%d", cycle)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id),
			kgo.TransactionTimeout(3*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequestRetries(1000))
		if err != nil {
			t.Fatal(err)
		}
		// Acknowledged commits and aborts before the kill.
		for range 3 {
			vals := newTxn(cl, cycle)
			end(t, cl, cycle, true)
			txns = append(txns, txnRecord{vals, mustCommit, "committed"})
		}
		vals := newTxn(cl, cycle)
		end(t, cl, cycle, false)
		txns = append(txns, txnRecord{vals, mustAbort, "aborted"})

		vals = newTxn(cl, cycle)
		switch kp {
		case afterAddPartitions:
			txns = append(txns, txnRecord{vals, mustAbort, kp.String()})
			p.kill()
		case duringCommit, duringAbort:
			txns = append(txns, txnRecord{vals, eitherWay, kp.String()})
			sent := make(chan struct{})
			go func() {
				close(sent)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = cl.EndTransaction(ctx, kgo.TransactionEndTry(kp == duringCommit)) // its answer is lost in the kill
			}()
			<-sent
			time.Sleep(time.Duration(rng.Intn(5000)) * time.Microsecond)
			p.kill()
		case afterCommit:
			end(t, cl, cycle, true)
			txns = append(txns, txnRecord{vals, mustCommit, kp.String()})
			p.kill()
		}
		cl.Close()
		p = start(t, dataDir, addr)
		checkTxns(t, addr, cycle, kp, txns)
	}
}

func end(t *testing.T, cl *kgo.Client, cycle int, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("cycle %d: end transaction (commit=%v): %v", cycle, commit, err)
	}
}

// checkTxns waits until no transaction is open on the topic, then reads
// it all with read_committed and checks every transaction's outcome.
func checkTxns(t *testing.T, addr string, cycle int, kp killPoint, txns []txnRecord) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The hanging transaction times out after 3 s; Kafka looks for timed
	// out transactions every 10 s (transaction.abort.timed.out.transaction.cleanup.interval.ms).
	deadline := time.Now().Add(45 * time.Second)
	var ends map[int32]int64
	for ends == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		hw, err1 := adm.ListEndOffsets(ctx, txnTopic)
		lso, err2 := adm.ListCommittedOffsets(ctx, txnTopic)
		cancel()
		var why string
		if err := errors.Join(err1, err2, hw.Error(), lso.Error()); err != nil {
			why = err.Error()
		} else {
			e := map[int32]int64{}
			hw.Each(func(o kadm.ListedOffset) {
				e[o.Partition] = o.Offset
				if l, _ := lso.Lookup(txnTopic, o.Partition); l.Offset != o.Offset {
					why = fmt.Sprintf("partition %d: last stable offset %d, high watermark %d", o.Partition, l.Offset, o.Offset)
				}
			})
			if why == "" {
				ends = e
			}
		}
		if ends == nil && time.Now().After(deadline) {
			t.Fatalf("cycle %d (killed %s): a transaction is still open 45 s after the restart: %s", cycle, kp, why)
		}
		if ends == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}

	rd, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(txnTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]int{}
	left := map[int32]bool{}
	for p, e := range ends {
		if e > 0 {
			left[p] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(left) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("cycle %d: read_committed did not reach the end of %v", cycle, left)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("cycle %d: fetch partition %d: %v", cycle, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= ends[r.Partition] {
				delete(left, r.Partition)
			}
			if !r.Attrs.IsControl() && r.Offset < ends[r.Partition] {
				seen[string(r.Value)]++
			}
		})
	}
	for i, tx := range txns {
		n := 0
		for _, v := range tx.values {
			if c := seen[v]; c > 1 {
				t.Errorf("cycle %d (killed %s): transaction %d (%s): %s read %d times", cycle, kp, i, tx.what, v, c)
			} else if c == 1 {
				n++
			}
		}
		switch {
		case tx.outcome == mustCommit && n != len(tx.values):
			t.Errorf("cycle %d (killed %s): committed transaction %d (%s): %d of its %d records visible", cycle, kp, i, tx.what, n, len(tx.values))
		case tx.outcome == mustAbort && n != 0:
			t.Errorf("cycle %d (killed %s): aborted transaction %d (%s): %d of its %d records visible", cycle, kp, i, tx.what, n, len(tx.values))
		case tx.outcome == eitherWay && n != 0 && n != len(tx.values):
			t.Errorf("cycle %d (killed %s): transaction %d killed %s: %d of its %d records visible, want all or none", cycle, kp, i, tx.what, n, len(tx.values))
		case tx.outcome == eitherWay && n == 0:
			txns[i].outcome = mustAbort // decided: it must stay so
		case tx.outcome == eitherWay:
			txns[i].outcome = mustCommit
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// requireTransactions skips t when the broker does not list EndTxn in
// ApiVersions: a Rewind built before it served transactions.
func requireTransactions(t *testing.T, addr string) {
	t.Helper()
	cl := proctest.NewClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 26 { // EndTxn
			return
		}
	}
	t.Skip("this Rewind does not serve transactions (no EndTxn in ApiVersions)")
}
