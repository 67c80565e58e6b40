package crash

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	etlIn      = "etl-in"
	etlOut     = "etl-out"
	etlGroup   = "etl"
	etlRecords = 3000
)

// etlKill is a step of the application's transaction at which the
// broker gets SIGKILL, from the application's own client (a kgo hook):
// the kill is sent from the hook called once that request was written or
// its answer read (kgo may already be sending the next request then, so
// the broker can be a step further when it dies).
type etlKill struct {
	key    int16 // the request's API key
	answer bool  // after its answer was read (else: once it was written)
	dies   bool  // the application dies with the broker
	newID  bool  // its successor takes another transactional id
	// again: the restarted broker is killed once more as soon as it
	// answers, while it may still be writing the markers of the
	// transactions it found prepared.
	again bool
}

func (k etlKill) String() string {
	s := kmsg.NameForKey(k.key)
	if k.answer {
		s += " answered"
	} else {
		s += " sent"
	}
	switch {
	case k.dies && k.newID:
		s += ", application dies, successor with a new transactional id"
	case k.dies:
		s += ", application dies, restarted with its transactional id"
	default:
		s += ", application lives"
	}
	if k.again {
		s += ", killed again at the restart"
	}
	return s
}

// etlKills: the offsets pending in __consumer_offsets (TxnOffsetCommit
// answered, no EndTxn), EndTxn in flight and answered (markers being
// written), and output records written (Produce answered), each with the
// application living (it retries against the restarted broker), dying
// (a successor with another id must wait for transaction.timeout.ms to
// abort what it left, meanwhile the group's offsets are
// UNSTABLE_OFFSET_COMMIT) or restarted with its id (its InitProducerId
// aborts it).
var etlKills = []etlKill{
	{key: 28, answer: true},
	{key: 28, answer: true, dies: true, newID: true},
	{key: 26},
	{key: 26, answer: true, dies: true},
	{key: 0, answer: true, dies: true, newID: true},
	{key: 26, dies: true},
	{key: 28, answer: true, dies: true},
	{key: 26, answer: true, again: true},
	{key: 26, answer: true, dies: true, newID: true, again: true},
}

// killHook kills the broker at the armed step of the application's
// transaction (kgo.HookBrokerWrite, kgo.HookBrokerRead).
type killHook struct {
	mu    sync.Mutex
	armed *etlKill
	kill  func()
	fired chan struct{}
}

func (h *killHook) arm(k etlKill, kill func()) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed, h.kill, h.fired = &k, kill, make(chan struct{})
	return h.fired
}

func (h *killHook) at(key int16, answer bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.armed != nil && h.armed.key == key && h.armed.answer == answer {
		h.kill() // before the client goes on
		h.armed = nil
		close(h.fired)
	}
}

func (h *killHook) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		h.at(key, false)
	}
}

func (h *killHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		h.at(key, true)
	}
}

// etlApp is one run of a consume-transform-produce application: a
// franz-go GroupTransactSession reading etl-in in group etl and copying
// each record into the same partition of etl-out, one transaction per
// poll of at most 25 records, its input offsets committed in the
// transaction.
type etlApp struct {
	sess    *kgo.GroupTransactSession
	commits *atomic.Int64
	cancel  context.CancelFunc
	done    chan struct{}
}

func startETL(t *testing.T, addr, txnID string, commits *atomic.Int64, hook *killHook) *etlApp {
	t.Helper()
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(addr), kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(3*time.Second), kgo.ConsumerGroup(etlGroup), kgo.ConsumeTopics(etlIn),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.RequestRetries(1000), kgo.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &etlApp{sess: sess, commits: commits, cancel: cancel, done: make(chan struct{})}
	go a.run(ctx)
	return a
}

func (a *etlApp) run(ctx context.Context) {
	defer close(a.done)
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := a.sess.PollRecords(pctx, 25)
		cancel()
		if fs.NumRecords() == 0 {
			continue
		}
		if err := a.sess.Begin(); err != nil {
			continue
		}
		fs.EachRecord(func(r *kgo.Record) {
			out := &kgo.Record{Topic: etlOut, Partition: r.Partition, Key: r.Key, Value: r.Value}
			a.sess.Produce(ctx, out, nil) // a failed produce makes End abort
		})
		ectx, cancel := context.WithTimeout(ctx, 20*time.Second)
		committed, err := a.sess.End(ectx, kgo.TryCommit)
		cancel()
		if err == nil && committed {
			a.commits.Add(1)
		}
	}
}

// stop ends the application as one that shuts down: its last
// transaction ends (aborted if it was not committed), it leaves the group.
func (a *etlApp) stop() {
	a.cancel()
	<-a.done
	a.sess.Close()
}

// TestETLKillLoop runs a consume-transform-produce application
// (GroupTransactSession, read_committed, RequireStable offset fetches)
// over 3000 input records while the broker gets SIGKILL at each step of
// etlKills in turn (REWIND_CRASH_CYCLES kills for more, round the list),
// each time once the application has committed twice since the last
// restart. In the end every input record is in the output
// exactly once (read with read_committed), no transaction is open, and
// the group's offsets are stable at the end of the input.
func TestETLKillLoop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	addr := freePort(t)
	p := start(t, dir, addr)
	defer func() { p.kill() }()
	requireTransactions(t, addr)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, topic := range []string{etlIn, etlOut} {
		if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	var in []*kgo.Record
	for i := range etlRecords {
		in = append(in, &kgo.Record{Topic: etlIn, Partition: int32(i % partitions), Value: fmt.Appendf(nil, "in-%05d", i)})
	}
	if err := cl.ProduceSync(ctx, in...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var commits atomic.Int64
	hook := &killHook{}
	id := 0
	app := startETL(t, addr, fmt.Sprintf("etl-%d", id), &commits, hook)
	defer func() { app.stop() }()
	n := len(etlKills)
	if os.Getenv("REWIND_CRASH_CYCLES") != "" {
		n = cycles()
	}
	for k := range n {
		kp := etlKills[k%len(etlKills)]
		base := commits.Load()
		deadline := time.Now().Add(45 * time.Second)
		for commits.Load() < base+2 {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: the application committed %d transactions in 45 s since the restart (%d in all)", k, commits.Load()-base, commits.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
		dead := p
		fired := hook.arm(kp, func() { dead.cmd.Process.Kill() })
		select {
		case <-fired:
		case <-time.After(30 * time.Second):
			t.Fatalf("kill %d (%v): the application never reached that step in 30 s", k, kp)
		}
		dead.kill() // reaps it
		if kp.dies {
			// The application's process dies with the broker: nothing
			// of it reaches the broker again (no EndTxn, no LeaveGroup).
			app.cancel()
			<-app.done
			app.sess.Close()
		}
		p = start(t, dir, addr)
		if kp.again {
			p.kill()
			p = start(t, dir, addr)
		}
		t.Logf("kill %d (%v): after the restart: %s", k, kp, txnStates(t, addr))
		if kp.dies {
			if kp.newID {
				id++
			}
			app = startETL(t, addr, fmt.Sprintf("etl-%d", id), &commits, hook)
		}
	}

	// Every input record reaches the output; then the application stops.
	deadline := time.Now().Add(60 * time.Second)
	for {
		seen, _ := readCommitted(t, addr, etlOut, false)
		if len(seen) >= etlRecords {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last restart the output holds %d of the %d input records after 60 s (%d transactions committed)",
				len(seen), etlRecords, commits.Load())
		}
		time.Sleep(500 * time.Millisecond)
	}
	app.stop()

	seen, ends := readCommitted(t, addr, etlOut, true)
	for i := range etlRecords {
		v := fmt.Sprintf("in-%05d", i)
		if c := seen[v]; c != 1 {
			t.Errorf("input record %s is %d times in the output", v, c)
		}
		delete(seen, v)
	}
	for v, c := range seen {
		t.Errorf("output record %q (%d times) is no input record", v, c)
	}

	// The group's offsets are stable (no transaction holds any pending)
	// and at the end of the input.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inEnds, err := adm.ListEndOffsets(ctx, etlIn)
	if err != nil || inEnds.Error() != nil {
		t.Fatal(err, inEnds.Error())
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = etlGroup
	req.RequireStable = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("OffsetFetch(RequireStable) of group %s: %v", etlGroup, err)
	}
	got := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Errorf("OffsetFetch(RequireStable) %s/%d: %v", rt.Topic, rp.Partition, err)
			}
			got[rp.Partition] = rp.Offset
		}
	}
	inEnds.Each(func(o kadm.ListedOffset) {
		if got[o.Partition] != o.Offset {
			t.Errorf("group %s committed %s/%d at %d, want the end of the input %d", etlGroup, etlIn, o.Partition, got[o.Partition], o.Offset)
		}
	})
	t.Logf("%d kills, %d transactions committed, %d records copied exactly once; output ends %v", n, commits.Load(), etlRecords, ends)
}

// readCommitted reads topic from the start with read_committed. With
// settled, it first waits (up to 30 s) until no transaction is open on it
// (every partition's last stable offset is its high watermark) and reads
// up to that end; without, it reads what is committed now.
func readCommitted(t *testing.T, addr, topic string, settled bool) (map[string]int, map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ends map[int32]int64
	for ends == nil {
		hw, err1 := adm.ListEndOffsets(ctx, topic)
		lso, err2 := adm.ListCommittedOffsets(ctx, topic)
		if err := errors.Join(err1, err2, hw.Error(), lso.Error()); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("offsets of %s: %v", topic, err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		e := map[int32]int64{}
		open := ""
		lso.Each(func(o kadm.ListedOffset) {
			e[o.Partition] = o.Offset
			if h, _ := hw.Lookup(topic, o.Partition); h.Offset != o.Offset {
				open = fmt.Sprintf("%s/%d: last stable offset %d, high watermark %d", topic, o.Partition, o.Offset, h.Offset)
			}
		})
		switch {
		case open == "" || !settled:
			ends = e
		case ctx.Err() != nil:
			t.Fatalf("a transaction is still open 30 s after the application stopped: %s", open)
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	seen := map[string]int{}
	left := map[int32]bool{}
	for p, e := range ends {
		if e > 0 {
			left[p] = true
		}
	}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed of %s did not reach %v", topic, ends)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= ends[r.Partition] {
				delete(left, r.Partition)
			}
			if !r.Attrs.IsControl() && r.Offset < ends[r.Partition] {
				seen[string(r.Value)]++
			}
		})
	}
	return seen, ends
}

// txnStates describes the transactions the kill left open
// (ListTransactions and DescribeTransactions) and counts the settled ones.
func txnStates(t *testing.T, addr string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := kmsg.NewPtrListTransactionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return err.Error()
	}
	req := kmsg.NewPtrDescribeTransactionsRequest()
	for _, s := range list.TransactionStates {
		req.TransactionalIDs = append(req.TransactionalIDs, s.TransactionalID)
	}
	desc, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err.Error()
	}
	// The open ones, and how many ids are settled.
	out, settled := "", 0
	for _, s := range desc.TransactionStates {
		if s.State == "CompleteCommit" || s.State == "CompleteAbort" || s.State == "Empty" {
			settled++
			continue
		}
		out += fmt.Sprintf("%s: %s epoch %d, %d topics; ", s.TransactionalID, s.State, s.ProducerEpoch, len(s.Topics))
	}
	return fmt.Sprintf("%s%d transactional ids settled", out, settled)
}
