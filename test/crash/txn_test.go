package crash

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnLedger is what the transactional producer was told of each
// transaction: committed, aborted, or no answer (in doubt: the broker died
// before or while it answered).
type txnLedger struct {
	mu      sync.Mutex
	outcome map[string]string // transaction name -> "commit", "abort", "doubt"
}

func (l *txnLedger) set(txn, o string) {
	l.mu.Lock()
	l.outcome[txn] = o
	l.mu.Unlock()
}

const txnRecords = 8 // per transaction, over every partition

// runTransactions runs transactions on a kgo transactional producer until
// ctx ends: each writes txnRecords records named after it over the
// partitions, then commits (3 in 4) or aborts.
func runTransactions(ctx context.Context, addr, prefix string, led *txnLedger) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("crash-txn"), kgo.DefaultProduceTopic("txn"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(5*time.Second),
		kgo.RetryTimeout(5*time.Second), kgo.RequestRetries(3))
	if err != nil {
		return
	}
	defer cl.Close()
	for k := 0; ctx.Err() == nil; k++ {
		name := fmt.Sprintf("%s-t%d", prefix, k)
		if err := cl.BeginTransaction(); err != nil {
			return
		}
		led.set(name, "doubt")
		ok := true
		for i := range txnRecords {
			r := &kgo.Record{Value: fmt.Appendf(nil, "%s-r%d", name, i), Partition: int32(i % partitions)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				ok = false
				break
			}
		}
		commit := ok && rand.Intn(4) != 0
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			return
		}
		if commit {
			led.set(name, "commit")
		} else {
			led.set(name, "abort")
		}
	}
}

// TestTransactionsSurviveKill kills rewind with SIGKILL at random moments
// while a transactional producer commits and aborts transactions, and
// restarts it each time. At the end a read_committed consumer must see
// every record of every acknowledged commit exactly once, nothing of an
// acknowledged abort, and each transaction whose end was never answered
// whole or not at all. Then a transaction left open by a producer that
// dies with the broker is aborted by its timeout after the restart.
func TestTransactionsSurviveKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	addr := freePort(t)
	p := start(t, dir, addr)
	defer func() { p.kill() }()
	requireTransactions(t, addr)
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(adm).CreateTopic(context.Background(), partitions, 1, nil, "txn"); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	led := &txnLedger{outcome: map[string]string{}}
	n := cycles()
	for c := range n {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			runTransactions(ctx, addr, fmt.Sprintf("c%d", c), led)
		}()
		time.Sleep(time.Duration(300+rand.Intn(1200)) * time.Millisecond)
		// The producer lives through the outage, as an application does:
		// the broker is restarted while it retries. It cannot be stopped
		// first: a transactional (idempotent) produce that was sent is
		// never failed by its context or a timeout before its answer
		// comes (kgo.Produce's doc; failing it would break the sequence
		// numbers), so waiting for the producer before the restart waits
		// forever.
		p.kill()
		p = start(t, dir, addr)
		cancel()
		waitProducer(t, p, done, c)
	}
	// The last producer aborted (by InitProducerId's fence) whatever its
	// predecessor left open; read everything committed.
	settle, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("crash-txn"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil { // InitProducerId: fences and aborts the open one
		t.Fatal(err)
	}
	if err := cl.EndTransaction(settle, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	seen := readAllCommitted(t, settle, addr)

	counts := map[string]int{}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("record %s seen %d times", v, c)
		}
		counts[v[:strings.LastIndex(v, "-r")]]++
	}
	var commits, aborts, doubts int
	led.mu.Lock()
	defer led.mu.Unlock()
	for name, o := range led.outcome {
		got := counts[name]
		switch o {
		case "commit":
			commits++
			if got != txnRecords {
				t.Errorf("committed transaction %s: %d of %d records visible", name, got, txnRecords)
			}
		case "abort":
			aborts++
			if got != 0 {
				t.Errorf("aborted transaction %s: %d records visible", name, got)
			}
		case "doubt":
			doubts++
			if got != 0 && got != txnRecords {
				t.Errorf("transaction %s cut by the kill: %d of %d records visible, want all or none", name, got, txnRecords)
			}
		}
		delete(counts, name)
	}
	for name, c := range counts {
		t.Errorf("%d records of %s, which the producer never began", c, name)
	}
	t.Logf("%d kills: %d transactions committed, %d aborted, %d in doubt; %d records visible", n, commits, aborts, doubts, len(seen))
	if commits == 0 {
		t.Fatal("no transaction committed: the test proved nothing")
	}

	// A transaction left open when the broker is killed is aborted by its
	// timeout once the broker is back (the check runs every 10 s).
	hang, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("crash-hang"), kgo.DefaultProduceTopic("txn"),
		kgo.TransactionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := hang.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := hang.ProduceSync(settle, kgo.StringRecord("hanging-r0")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p.kill()
	hang.Close()
	p = start(t, dir, addr)
	cl, err = kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(25 * time.Second)
	for {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{"crash-hang"}
		resp, err := req.RequestWith(context.Background(), cl)
		if err == nil && resp.TransactionStates[0].State == "CompleteAbort" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hanging transaction was not aborted after the restart: %+v %v", resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c := readAllCommitted(t, context.Background(), addr)["hanging-r0"]; c != 0 {
		t.Fatal("the hanging transaction's record became visible")
	}
}

// readAllCommitted reads topic txn with read_committed from the start,
// counting each value, until three polls in a row bring nothing (every
// record is already durable: nothing is on its way).
func readAllCommitted(t *testing.T, ctx context.Context, addr string) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("txn"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	for empty := 0; empty < 3; {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(fctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; n++ })
		if n == 0 {
			empty++
		} else {
			empty = 0
		}
	}
	return seen
}

// waitProducer waits for the producer of cycle c to stop once the broker
// is back: each produce or EndTxn it had in flight at the kill must be
// answered by the restarted broker. If it is not within a minute, the
// broker is sent SIGQUIT (its goroutines go to its log) and the test fails.
func waitProducer(t *testing.T, p *proc, done <-chan struct{}, c int) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(time.Minute):
		p.cmd.Process.Signal(syscall.SIGQUIT)
		t.Fatalf("cycle %d: the transactional producer got no answer within a minute of the restart (broker goroutines in %s)", c, p.log.Name())
	}
}
