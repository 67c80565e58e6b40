package txn

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// memStore is the test's __transaction_state: every record written, per
// partition, in order; fail makes the next writes fail.
type memStore struct {
	mu   sync.Mutex
	recs map[int32][][2][]byte
	fail error
}

func (s *memStore) Write(_ context.Context, p int32, key, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if s.recs == nil {
		s.recs = map[int32][][2][]byte{}
	}
	s.recs[p] = append(s.recs[p], [2][]byte{key, value})
	return nil
}

// replayInto feeds every record to c, as the broker does at start.
func (s *memStore) replayInto(t *testing.T, c *Coordinator) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, rs := range s.recs {
		for _, r := range rs {
			if err := c.Replay(p, r[0], r[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type fakeMarkers struct {
	mu    sync.Mutex
	got   []Markers
	fail  error
	block chan struct{} // when set, WriteMarkers waits for it
}

func (f *fakeMarkers) WriteMarkers(ctx context.Context, m Markers) ([]Partition, error) {
	f.mu.Lock()
	block, fail := f.block, f.fail
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return m.Partitions, ctx.Err()
		}
	}
	if fail != nil {
		return m.Partitions[:1], fail // the first fails, the others are written
	}
	f.mu.Lock()
	f.got = append(f.got, m)
	f.mu.Unlock()
	return nil, nil
}

func (f *fakeMarkers) all() []Markers {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t       *testing.T
	c       *Coordinator
	store   *memStore
	markers *fakeMarkers
	clock   *fakeClock
	nextPID int64
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, store: &memStore{}, markers: &fakeMarkers{}, clock: &fakeClock{t: time.UnixMilli(1_000_000)}}
	h.c = h.open()
	return h
}

// open builds a coordinator over h's store (replaying it) and starts it.
func (h *harness) open() *Coordinator {
	cfg := DefaultConfig()
	cfg.Now = h.clock.now
	cfg.AbortInterval, cfg.ExpireInterval = time.Hour, time.Hour // driven by hand
	cfg.NewProducerID = func() (int64, error) { h.nextPID++; return h.nextPID - 1 + 1000, nil }
	c := New(cfg, h.store, h.markers)
	h.store.replayInto(h.t, c)
	c.Start()
	h.t.Cleanup(c.Close)
	return c
}

func (h *harness) init(id string, expected *ProducerIDEpoch) (int64, int16) {
	h.t.Helper()
	pid, epoch, err := h.c.InitProducerID(context.Background(), id, 60000, expected)
	if err != nil {
		h.t.Fatalf("InitProducerID(%s): %v", id, err)
	}
	return pid, epoch
}

func (h *harness) settle(id string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.c.WaitSettled(ctx, id); err != nil {
		h.t.Fatalf("%s did not settle: %v", id, err)
	}
}

func (h *harness) state(id string) Description {
	h.t.Helper()
	d, err := h.c.Describe(id)
	if err != nil {
		h.t.Fatalf("Describe(%s): %v", id, err)
	}
	return d
}

func wantErr(t *testing.T, what string, got, want *kerr.Error) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

var (
	ctx = context.Background()
	p0  = Partition{"t", 0}
	p1  = Partition{"t", 1}
)

func TestInitProducerID(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.init("a", nil)
	if epoch != 0 {
		t.Fatalf("new id: epoch %d, want 0", epoch)
	}
	pid2, epoch2 := h.init("a", nil)
	if pid2 != pid || epoch2 != 1 {
		t.Fatalf("second init: %d/%d, want %d/1 (the epoch bumped, fencing the first producer)", pid2, epoch2, pid)
	}
	wantErr(t, "the first producer adds", h.c.AddPartitions(ctx, "a", pid, 0, []Partition{p0}, 0), kerr.ProducerFenced)
	if d := h.state("a"); d.State != Empty || d.ProducerEpoch != 1 || d.TimeoutMs != 60000 || d.StartMs != -1 {
		t.Fatalf("describe: %+v", d)
	}

	for _, tc := range []struct {
		id      string
		timeout int32
		want    *kerr.Error
	}{
		{"", 60000, kerr.InvalidRequest},
		{"b", 0, kerr.InvalidTransactionTimeout},
		{"b", -1, kerr.InvalidTransactionTimeout},
		{"b", int32((15*time.Minute + time.Millisecond).Milliseconds()), kerr.InvalidTransactionTimeout},
	} {
		_, _, err := h.c.InitProducerID(ctx, tc.id, tc.timeout, nil)
		wantErr(t, "init "+tc.id, err, tc.want)
	}
	if _, err := h.c.Describe("b"); err != kerr.TransactionalIDNotFound {
		t.Fatalf("a refused id is known: %v", err)
	}
}

// KIP-360: a producer naming its id and epoch gets a bump; a retry naming
// the epoch before the last bump gets the same answer; anything else is
// fenced.
func TestInitProducerIDRecovery(t *testing.T) {
	h := newHarness(t)
	pid, _ := h.init("a", nil)
	_, e := h.init("a", &ProducerIDEpoch{pid, 0})
	if e != 1 {
		t.Fatalf("bump from 0: %d", e)
	}
	if _, e := h.init("a", &ProducerIDEpoch{pid, 0}); e != 1 {
		t.Fatalf("retry naming the previous epoch: %d, want 1 again", e)
	}
	_, _, err := h.c.InitProducerID(ctx, "a", 60000, &ProducerIDEpoch{pid, 7})
	wantErr(t, "a stale epoch", err, kerr.ProducerFenced)
	_, _, err = h.c.InitProducerID(ctx, "a", 60000, &ProducerIDEpoch{pid + 50, 1})
	wantErr(t, "another producer id", err, kerr.ProducerFenced)
	// An unknown id accepts any expected producer: it recovers from
	// UNKNOWN_PRODUCER_ID.
	if _, e := h.init("new", &ProducerIDEpoch{5, 3}); e != 0 {
		t.Fatalf("unknown id: epoch %d", e)
	}
}

func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	h := newHarness(t)
	pid, _ := h.init("a", nil)
	h.c.mu.Lock()
	h.c.txns["a"].epoch = maxEpoch - 1
	h.c.mu.Unlock()
	pid2, e := h.init("a", &ProducerIDEpoch{pid, maxEpoch - 1})
	if pid2 == pid || e != 0 {
		t.Fatalf("after an exhausted epoch: %d/%d, want a new id with epoch 0", pid2, e)
	}
	// The producer retrying (its answer lost) with the old id and its
	// exhausted epoch gets the new id again.
	if rp, re, err := h.c.InitProducerID(ctx, "a", 60000, &ProducerIDEpoch{pid, maxEpoch - 1}); err != nil || rp != pid2 || re != 0 {
		t.Fatalf("retry after rotation: %d/%d %v, want %d/0", rp, re, err, pid2)
	}
}

func TestCommitTV1(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init("a", nil)
	wantErr(t, "end on Empty", endErr(h.c.EndTxn(ctx, "a", pid, e, true, 0)), kerr.InvalidTxnState)
	if err := h.c.AddPartitions(ctx, "a", pid, e, []Partition{p1, p0}, 0); err != nil {
		t.Fatal(err)
	}
	if d := h.state("a"); d.State != Ongoing || !slices.Equal(d.Partitions, []Partition{p0, p1}) || d.StartMs != 1_000_000 {
		t.Fatalf("after add: %+v", d)
	}
	gp, ge, err := h.c.EndTxn(ctx, "a", pid, e, true, 0)
	if err != nil || gp != pid || ge != e {
		t.Fatalf("commit: %d/%d %v, want %d/%d (no bump below TV2)", gp, ge, err, pid, e)
	}
	h.settle("a")
	ms := h.markers.all()
	if len(ms) != 1 || !ms[0].Commit || ms[0].ProducerID != pid || ms[0].ProducerEpoch != e || !slices.Equal(ms[0].Partitions, []Partition{p0, p1}) {
		t.Fatalf("markers: %+v", ms)
	}
	if d := h.state("a"); d.State != CompleteCommit || len(d.Partitions) != 0 {
		t.Fatalf("after commit: %+v", d)
	}
	if _, _, err := h.c.EndTxn(ctx, "a", pid, e, true, 0); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	wantErr(t, "abort after commit", endErr(h.c.EndTxn(ctx, "a", pid, e, false, 0)), kerr.InvalidTxnState)
	wantErr(t, "stale epoch", endErr(h.c.EndTxn(ctx, "a", pid, e-1, true, 0)), kerr.ProducerFenced)
	wantErr(t, "other producer", endErr(h.c.EndTxn(ctx, "a", pid+9, e, true, 0)), kerr.InvalidProducerIDMapping)
	wantErr(t, "unknown id", endErr(h.c.EndTxn(ctx, "zz", pid, e, true, 0)), kerr.InvalidProducerIDMapping)
}

func endErr(_ int64, _ int16, err *kerr.Error) *kerr.Error { return err }

// TV2 (KIP-890 part 2): every end bumps the epoch; a retry naming the
// epoch before it is answered as the end it repeats; a TV2 client may abort
// a transaction to which nothing was added (and bumps the epoch), but not
// commit it. Checked against Kafka 4.4.
func TestEndTV2(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init("a", nil)
	if err := h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0}, TV2); err != nil {
		t.Fatal(err)
	}
	h.markers.mu.Lock()
	h.markers.block = make(chan struct{})
	h.markers.mu.Unlock()
	_, e1, err := h.c.EndTxn(ctx, "a", pid, e, true, TV2)
	if err != nil || e1 != e+1 {
		t.Fatalf("commit: epoch %d %v, want %d", e1, err, e+1)
	}
	wantErr(t, "retry while the markers are written", endErr(h.c.EndTxn(ctx, "a", pid, e, true, TV2)), kerr.ConcurrentTransactions)
	// The next transaction's abort, at the epoch the commit returned,
	// waits for the markers instead of being fenced.
	wantErr(t, "the next transaction ends while the markers are written", endErr(h.c.EndTxn(ctx, "a", pid, e1, false, TV2)), kerr.ConcurrentTransactions)
	wantErr(t, "add while the markers are written", h.c.AddPartitions(ctx, "a", pid, e1, []Partition{p0}, TV2), kerr.ConcurrentTransactions)
	close(h.markers.block)
	h.settle("a")
	if ms := h.markers.all(); len(ms) != 1 || ms[0].ProducerEpoch != e1 || ms[0].TransactionVersion != TV2 {
		t.Fatalf("markers: %+v, want the bumped epoch %d", ms, e1)
	}
	if _, ge, err := h.c.EndTxn(ctx, "a", pid, e, true, TV2); err != nil || ge != e1 {
		t.Fatalf("retried commit: %d %v", ge, err)
	}
	wantErr(t, "abort retrying a commit", endErr(h.c.EndTxn(ctx, "a", pid, e, false, TV2)), kerr.InvalidTxnState)
	wantErr(t, "commit of nothing", endErr(h.c.EndTxn(ctx, "a", pid, e1, true, TV2)), kerr.InvalidTxnState)
	_, e2, err := h.c.EndTxn(ctx, "a", pid, e1, false, TV2)
	if err != nil || e2 != e1+1 {
		t.Fatalf("abort of nothing: %d %v, want %d", e2, err, e1+1)
	}
	h.settle("a")
	if len(h.markers.all()) != 1 {
		t.Fatalf("an empty abort wrote markers: %+v", h.markers.all())
	}
	wantErr(t, "the old epoch adds", h.c.AddPartitions(ctx, "a", pid, e1, []Partition{p0}, TV2), kerr.ProducerFenced)
	wantErr(t, "the old-old epoch ends", endErr(h.c.EndTxn(ctx, "a", pid, e-1, false, TV2)), kerr.ProducerFenced)
}

func TestEndTV2Overflow(t *testing.T) {
	h := newHarness(t)
	pid, _ := h.init("a", nil)
	h.c.mu.Lock()
	h.c.txns["a"].epoch = maxEpoch - 1
	h.c.mu.Unlock()
	if err := h.c.AddPartitions(ctx, "a", pid, maxEpoch-1, []Partition{p0}, TV2); err != nil {
		t.Fatal(err)
	}
	np, ne, err := h.c.EndTxn(ctx, "a", pid, maxEpoch-1, true, TV2)
	if err != nil || np == pid || ne != 0 {
		t.Fatalf("end at an exhausted epoch: %d/%d %v, want a new producer id at epoch 0", np, ne, err)
	}
	h.settle("a")
	if ms := h.markers.all(); len(ms) != 1 || ms[0].ProducerID != pid || ms[0].ProducerEpoch != maxEpoch {
		t.Fatalf("markers: %+v, want the old id at epoch %d", ms, maxEpoch)
	}
	if d := h.state("a"); d.ProducerID != np || d.ProducerEpoch != 0 || d.State != CompleteCommit {
		t.Fatalf("after: %+v", d)
	}
	if rp, re, err := h.c.EndTxn(ctx, "a", pid, maxEpoch-1, true, TV2); err != nil || rp != np || re != 0 {
		t.Fatalf("retry after overflow: %d/%d %v", rp, re, err)
	}
	if err := h.c.AddPartitions(ctx, "a", np, 0, []Partition{p0}, TV2); err != nil {
		t.Fatalf("the new id adds: %v", err)
	}
}

// InitProducerId during a transaction aborts it with a bumped epoch and
// answers CONCURRENT_TRANSACTIONS; the retry gets the epoch after the
// abort (Kafka 4.4: 0 -> abort at 1 -> 2).
func TestInitFencesOngoing(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init("a", nil)
	if err := h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0}, 0); err != nil {
		t.Fatal(err)
	}
	_, _, err := h.c.InitProducerID(ctx, "a", 60000, nil)
	wantErr(t, "init during a transaction", err, kerr.ConcurrentTransactions)
	h.settle("a")
	ms := h.markers.all()
	if len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != e+1 {
		t.Fatalf("markers: %+v, want an abort at epoch %d", ms, e+1)
	}
	if _, e2 := h.init("a", nil); e2 != e+2 {
		t.Fatalf("retried init: epoch %d, want %d", e2, e+2)
	}
	wantErr(t, "the fenced producer commits", endErr(h.c.EndTxn(ctx, "a", pid, e, true, 0)), kerr.ProducerFenced)
}

// A transaction open longer than its timeout is aborted by the timer with
// a bumped epoch; the TV2 producer's own abort at the old epoch then looks
// like a retry and succeeds (Kafka 4.4 answers it the same).
func TestTimedOutTransactionIsAborted(t *testing.T) {
	h := newHarness(t)
	pid, e, err := h.c.InitProducerID(ctx, "a", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0}, TV2); err != nil {
		t.Fatal(err)
	}
	h.clock.add(1000 * time.Millisecond)
	h.c.AbortTimedOut()
	if d := h.state("a"); d.State != Ongoing {
		t.Fatalf("aborted at exactly its timeout: %+v", d)
	}
	h.clock.add(time.Millisecond)
	h.c.AbortTimedOut()
	h.settle("a")
	d := h.state("a")
	if d.State != CompleteAbort || d.ProducerEpoch != e+1 {
		t.Fatalf("after timeout: %+v", d)
	}
	if ms := h.markers.all(); len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != e+1 {
		t.Fatalf("markers: %+v", ms)
	}
	wantErr(t, "the producer commits", h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0}, TV2), kerr.ProducerFenced)
	if _, ge, err := h.c.EndTxn(ctx, "a", pid, e, false, TV2); err != nil || ge != e+1 {
		t.Fatalf("the producer's abort: %d %v", ge, err)
	}
}

func TestExpireIDs(t *testing.T) {
	h := newHarness(t)
	h.init("idle", nil)
	pid, e := h.init("open", nil)
	if err := h.c.AddPartitions(ctx, "open", pid, e, []Partition{p0}, 0); err != nil {
		t.Fatal(err)
	}
	h.clock.add(7*24*time.Hour - time.Millisecond)
	h.c.ExpireIDs()
	h.state("idle")
	h.clock.add(time.Millisecond)
	h.c.ExpireIDs()
	if _, err := h.c.Describe("idle"); err != kerr.TransactionalIDNotFound {
		t.Fatalf("idle id after expiration: %v", err)
	}
	h.state("open") // a transaction open is never expired (the timeout aborts it)
	// The tombstone is durable: a restart does not bring it back.
	h.c.Close()
	h.c = h.open()
	if _, err := h.c.Describe("idle"); err != kerr.TransactionalIDNotFound {
		t.Fatalf("idle id after restart: %v", err)
	}
}

// Everything the coordinator answered is in __transaction_state: a new
// coordinator replaying it has the same states, and one stopped between
// PrepareCommit and CompleteCommit writes the markers again at start.
func TestReplayAfterRestart(t *testing.T) {
	h := newHarness(t)
	pa, ea := h.init("a", nil)
	pb, eb := h.init("b", nil)
	h.init("c", nil)
	if err := h.c.AddPartitions(ctx, "a", pa, ea, []Partition{p0, p1}, TV2); err != nil {
		t.Fatal(err)
	}
	if err := h.c.AddPartitions(ctx, "b", pb, eb, []Partition{p1}, TV2); err != nil {
		t.Fatal(err)
	}
	h.markers.mu.Lock()
	h.markers.block = make(chan struct{}) // the markers of b never get written
	h.markers.mu.Unlock()
	if _, _, err := h.c.EndTxn(ctx, "b", pb, eb, true, TV2); err != nil {
		t.Fatal(err)
	}
	before := map[string]Description{}
	for _, id := range []string{"a", "b", "c"} {
		before[id] = h.state(id)
	}
	h.c.Close() // a crash: b is PrepareCommit on disk
	h.markers.mu.Lock()
	h.markers.block = nil
	h.markers.mu.Unlock()

	h.c = h.open()
	for id, want := range before {
		got := h.state(id)
		if id == "b" {
			continue
		}
		if got.State != want.State || got.ProducerID != want.ProducerID || got.ProducerEpoch != want.ProducerEpoch || !slices.Equal(got.Partitions, want.Partitions) || got.StartMs != want.StartMs {
			t.Fatalf("%s after restart: %+v, want %+v", id, got, want)
		}
	}
	h.settle("b")
	if d := h.state("b"); d.State != CompleteCommit || d.ProducerEpoch != eb+1 {
		t.Fatalf("b after restart: %+v", d)
	}
	if ms := h.markers.all(); len(ms) != 1 || ms[0].TransactionalID != "b" || !ms[0].Commit || !slices.Equal(ms[0].Partitions, []Partition{p1}) {
		t.Fatalf("markers after restart: %+v", ms)
	}
	// a's open transaction goes on where it was.
	if _, _, err := h.c.EndTxn(ctx, "a", pa, ea, false, TV2); err != nil {
		t.Fatalf("a's abort after restart: %v", err)
	}
}

// A failed write of the state changes nothing and is answered as Kafka
// answers it (NOT_COORDINATOR: the client looks the coordinator up again);
// a failed epoch fence does not bump the epoch a second time.
func TestStoreFailure(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init("a", nil)
	h.store.mu.Lock()
	h.store.fail = errors.New("disk gone")
	h.store.mu.Unlock()
	wantErr(t, "add", h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0}, 0), kerr.NotCoordinator)
	if d := h.state("a"); d.State != Empty {
		t.Fatalf("a failed add changed the state: %+v", d)
	}
	h.store.mu.Lock()
	h.store.fail = kerr.MessageTooLarge
	h.store.mu.Unlock()
	wantErr(t, "add of an oversized record", h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0}, 0), kerr.UnknownServerError)
	h.store.mu.Lock()
	h.store.fail = nil
	h.store.mu.Unlock()
	if err := h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0}, 0); err != nil {
		t.Fatal(err)
	}
	h.store.mu.Lock()
	h.store.fail = errors.New("disk gone")
	h.store.mu.Unlock()
	_, _, err := h.c.InitProducerID(ctx, "a", 60000, nil)
	wantErr(t, "fence", err, kerr.NotCoordinator)
	_, _, err = h.c.InitProducerID(ctx, "a", 60000, nil)
	wantErr(t, "fence again", err, kerr.NotCoordinator)
	h.store.mu.Lock()
	h.store.fail = nil
	h.store.mu.Unlock()
	_, _, err = h.c.InitProducerID(ctx, "a", 60000, nil)
	wantErr(t, "fence once it writes", err, kerr.ConcurrentTransactions)
	h.settle("a")
	if ms := h.markers.all(); len(ms) != 1 || ms[0].ProducerEpoch != e+1 {
		t.Fatalf("markers: %+v, want one abort at epoch %d (failed fences bump once)", ms, e+1)
	}
}

func TestVerify(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init("a", nil)
	res, err := h.c.Verify("a", pid, e, []Partition{p0})
	if err != nil || res[p0] != kerr.TransactionAbortable {
		t.Fatalf("not added: %v %v", res, err)
	}
	if err := h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0}, 0); err != nil {
		t.Fatal(err)
	}
	res, err = h.c.Verify("a", pid, e, []Partition{p0, p1})
	if err != nil || res[p0] != nil || res[p1] != kerr.TransactionAbortable {
		t.Fatalf("one added: %v %v", res, err)
	}
	_, err = h.c.Verify("a", pid, e+1, []Partition{p0})
	wantErr(t, "other epoch", err, kerr.ProducerFenced)
	_, err = h.c.Verify("a", pid+1, e, []Partition{p0})
	wantErr(t, "other producer", err, kerr.InvalidProducerIDMapping)
	_, err = h.c.Verify("zz", pid, e, []Partition{p0})
	wantErr(t, "unknown id", err, kerr.InvalidProducerIDMapping)
}

func TestList(t *testing.T) {
	h := newHarness(t)
	pa, ea := h.init("a", nil)
	h.init("b", nil)
	if err := h.c.AddPartitions(ctx, "a", pa, ea, []Partition{p0}, 0); err != nil {
		t.Fatal(err)
	}
	h.clock.add(10 * time.Second)
	ids := func(f Filter) []string {
		ls, _ := h.c.List(f)
		var out []string
		for _, l := range ls {
			out = append(out, l.TransactionalID)
		}
		return out
	}
	all := Filter{MinDurationMs: -1}
	if got := ids(all); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("all: %v", got)
	}
	if got := ids(Filter{States: []string{"Ongoing"}, MinDurationMs: -1}); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Ongoing: %v", got)
	}
	if got := ids(Filter{ProducerIDs: []int64{pa}, MinDurationMs: -1}); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("by producer: %v", got)
	}
	// Open 10 s: longer than 9 s, not longer than 10 s. b has no start
	// (-1), so it is older than any duration, as in Kafka.
	if got := ids(Filter{MinDurationMs: 9000}); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("over 9 s: %v", got)
	}
	if got := ids(Filter{States: []string{"Ongoing"}, MinDurationMs: 10000}); len(got) != 0 {
		t.Fatalf("over 10 s: %v", got)
	}
	if _, unknown := h.c.List(Filter{States: []string{"Ongoing", "Bogus"}, MinDurationMs: -1}); !slices.Equal(unknown, []string{"Bogus"}) {
		t.Fatalf("unknown states: %v", unknown)
	}
}

// The records are Kafka's: a value written decodes with kmsg into the
// same fields, and Empty has null partitions.
func TestRecordsRoundTrip(t *testing.T) {
	m := newMeta("x", 7, 1234, 55)
	m.epoch, m.state, m.startMs, m.tv = 3, Ongoing, 50, TV2
	m.parts[p1], m.parts[p0], m.parts[Partition{"a", 9}] = struct{}{}, struct{}{}, struct{}{}
	key, value := encode("x", m.snapshot(), TV2)
	id, ok, err := decodeKey(key)
	if err != nil || !ok || id != "x" {
		t.Fatalf("key: %q %v %v", id, ok, err)
	}
	got, err := decodeValue(id, value)
	if err != nil {
		t.Fatal(err)
	}
	if got.producerID != 7 || got.epoch != 3 || got.state != Ongoing || got.timeoutMs != 1234 || got.startMs != 50 || got.updateMs != 55 || got.tv != TV2 || len(got.parts) != 3 {
		t.Fatalf("decoded: %+v", got)
	}
	if value[1] != 1 {
		t.Fatalf("value version %d, want 1 under transaction.version 2", value[1])
	}
	e := newMeta("y", 8, 1000, 1)
	e.epoch = 0
	_, v0 := encode("y", e.snapshot(), 0)
	if v0[1] != 0 {
		t.Fatalf("value version %d under transaction.version 0", v0[1])
	}
}

// A marker that could not be written is written again, and only it: under
// TV2 a partition refuses a second marker of the same epoch.
func TestMarkersRetriedUntilWritten(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init("a", nil)
	if err := h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0, p1}, TV2); err != nil {
		t.Fatal(err)
	}
	h.markers.mu.Lock()
	h.markers.fail = errors.New("fsync failed")
	h.markers.mu.Unlock()
	if _, _, err := h.c.EndTxn(ctx, "a", pid, e, true, TV2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a few failed rounds
	if d := h.state("a"); d.State != PrepareCommit {
		t.Fatalf("with a marker unwritten: %+v, want PrepareCommit", d)
	}
	h.markers.mu.Lock()
	h.markers.fail = nil
	h.markers.mu.Unlock()
	h.settle("a")
	ms := h.markers.all()
	if len(ms) != 1 || !slices.Equal(ms[0].Partitions, []Partition{p0}) {
		t.Fatalf("markers written after the failure: %+v, want only %v again", ms, p0)
	}
	if d := h.state("a"); d.State != CompleteCommit {
		t.Fatalf("after: %+v", d)
	}
}

// A transaction version 1 client (EndTxn below v5) whose transaction was
// aborted by a timeout or fenced by another InitProducerId is fenced when
// it ends it, commit or abort: Kafka 4.4 answers PRODUCER_FENCED
// (test/differential TestTransactionsV2Timeout). It used to be taken as
// a TV2 retry of the abort (success) or INVALID_TXN_STATE for a commit,
// because the fence records the coordinator's version. A TV2 client's
// abort at the old epoch is still a retry.
func TestTV1ClientFencedAfterAbortByCoordinator(t *testing.T) {
	for _, how := range []string{"timeout", "init"} {
		h := newHarness(t)
		pid, e, err := h.c.InitProducerID(ctx, "a", 1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.c.AddPartitions(ctx, "a", pid, e, []Partition{p0}, 0); err != nil {
			t.Fatal(err)
		}
		if how == "timeout" {
			h.clock.add(1001 * time.Millisecond)
			h.c.AbortTimedOut()
		} else {
			_, _, err := h.c.InitProducerID(ctx, "a", 60000, nil)
			wantErr(t, "init during a transaction", err, kerr.ConcurrentTransactions)
		}
		h.settle("a")
		if d := h.state("a"); d.State != CompleteAbort || d.ProducerEpoch != e+1 {
			t.Fatalf("%s: %+v", how, d)
		}
		wantErr(t, how+": TV1 commit", endErr(h.c.EndTxn(ctx, "a", pid, e, true, TV1)), kerr.ProducerFenced)
		wantErr(t, how+": TV1 abort", endErr(h.c.EndTxn(ctx, "a", pid, e, false, TV1)), kerr.ProducerFenced)
		if _, ge, err := h.c.EndTxn(ctx, "a", pid, e, false, TV2); err != nil || ge != e+1 {
			t.Fatalf("%s: TV2 abort at the old epoch: %d %v", how, ge, err)
		}
	}
}
