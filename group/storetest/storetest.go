// Package storetest is the contract suite of group.Store: one set of
// checks run against every implementation (the in-memory fake the group
// tests use and the broker's store over __consumer_offsets), so that the
// fake cannot promise what the broker does not do.
//
//	func TestStoreContract(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) *storetest.Harness { ... })
//	}
//
// The suite checks what the group.Store and group.Pending comments
// promise: append order within a partition, atomic batches, durability as
// a prefix of the append order and across a reopen, Append never waiting
// for the disk, independence of partitions, concurrent appenders, empty
// input, and the error values of an oversized batch, a full disk, a
// fenced partition, an I/O error on write and on fsync, and a cancelled
// wait, each classified as Kafka 4.x does (offsetsfmt.AppendError).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Harness is one Store under test, on fresh data, and the means to look
// at and break what is under it. Every function is required.
type Harness struct {
	Store group.Store
	// Partitions is how many partitions the store has (at least 2).
	Partitions int32
	// MaxMessageBytes is max.message.bytes of every partition: the
	// largest batch, in Kafka's record batch v2 encoding, Append takes.
	MaxMessageBytes int

	// Read returns the records of partition p that are durable (for the
	// broker: below the high watermark, which moves only after fsync),
	// in log order.
	Read func(t testing.TB, p int32) []group.Record
	// Reopen closes the store, cleanly, and opens it again on the same
	// data, with every fault removed; the suite uses the store it returns
	// from then on.
	Reopen func(t testing.TB) group.Store
	// Full makes the disk full (the broker: read-only) until restore is
	// called; restore returns once the store takes writes again.
	Full func(t testing.TB) (restore func())
	// Fence fences partition p as the broker fences a __consumer_offsets
	// partition it cannot trust (group/fence.go).
	Fence func(t testing.TB, p int32)
	// FailWrite makes the next write of partition p's data fail with an
	// I/O error (EIO).
	FailWrite func(t testing.TB, p int32)
	// FailSync makes the next fsync of partition p fail with an I/O
	// error.
	FailSync func(t testing.TB, p int32)
	// Stall holds every fsync of partition p until release is called.
	Stall func(t testing.TB, p int32) (release func())
	// ReadBatches returns the batch of each record Read returns (its
	// producer, transactional and control flags), for the checks of
	// AppendTxn and AppendMarker; they are skipped while it is nil.
	ReadBatches func(t testing.TB, p int32) []group.Batch
	// SharedSync: one fsync makes the appends of every partition durable
	// (the broker's journal of __consumer_offsets under fsync=always), so
	// Stall and FailSync of one partition hold or fail all of them. The
	// checks then expect that shared fate where they would otherwise
	// expect the other partitions unaffected; appends still never wait.
	SharedSync bool
}

// checks are the suite's checks, by name.
var checks = []struct {
	name string
	fn   func(testing.TB, *Harness)
}{
	{"Order", testOrder},
	{"RecordsReadBackExactly", testRecordsExact},
	{"EmptyInput", testEmpty},
	{"DurableAfterReopen", testReopen},
	{"AppendDoesNotWaitForDisk", testAppendDoesNotWait},
	{"DurabilityIsAPrefix", testPrefix},
	{"PartitionsIndependent", testPartitionsIndependent},
	{"ConcurrentAppendersOnePartition", testConcurrentOnePartition},
	{"ConcurrentAppendersManyPartitions", testConcurrentManyPartitions},
	{"OversizedBatch", testOversized},
	{"OversizedCommit", testOversizedCommit},
	{"FullDisk", testFullDisk},
	{"FencedPartition", testFenced},
	{"WriteError", testWriteError},
	{"SyncError", testSyncError},
	{"ContextCancel", testCancel},
	{"WaitTwice", testWaitTwice},
}

// Run runs every check as a subtest; open returns a Harness on fresh data
// for each.
func Run(t *testing.T, open func(t testing.TB) *Harness) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { runCheck(t, c.fn, open) })
	}
}

func runCheck(t testing.TB, fn func(testing.TB, *Harness), open func(testing.TB) *Harness) {
	h := open(t)
	if h.Partitions < 2 {
		t.Fatalf("harness has %d partitions, the suite needs 2", h.Partitions)
	}
	fn(t, h)
}

// Failures runs every check against the Harnesses open returns and
// reports, by check name, why each failed ("" for a check that passed),
// without failing t. It is for testing the suite itself: a Store broken on
// purpose must make the check that guards the broken promise fail.
func Failures(t *testing.T, open func(t testing.TB) *Harness) map[string]string {
	out := make(map[string]string, len(checks))
	for _, c := range checks {
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			runCheck(r, c.fn, open)
		}()
		<-done
		out[c.name] = r.failure()
	}
	return out
}

// recorder is a testing.TB whose failures are recorded instead of failing
// the test; Fatal ends the check's goroutine as it would a test's.
// Logging, Helper, TempDir and Cleanup go to the real test.
type recorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *recorder) fail(msg string) {
	r.mu.Lock()
	if r.msg == "" {
		r.msg = msg
	}
	r.mu.Unlock()
}

func (r *recorder) failure() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg
}

func (r *recorder) Error(args ...any)                 { r.fail(fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }
func (r *recorder) Fail()                             { r.fail("failed") }
func (r *recorder) Failed() bool                      { return r.failure() != "" }
func (r *recorder) FailNow()                          { r.fail("failed"); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.fail(fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) {
	r.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// ---- records ----

// groupOn returns a group name whose records belong to partition p (the
// broker replays them at a reopen; a record on the wrong partition would
// be someone else's).
func groupOn(h *Harness, p int32, tag string) string {
	for i := 0; ; i++ {
		g := fmt.Sprintf("storetest-%s-%d", tag, i)
		if offsetsfmt.PartitionFor(g, h.Partitions) == p {
			return g
		}
	}
}

// commit is an offset commit record in Kafka's format, its offset and
// metadata saying which record it is.
func commit(grp, topic string, part int32, off int64, meta string, ts int64) group.Record {
	k := kmsg.NewOffsetCommitKey()
	k.Version = 1
	k.Group, k.Topic, k.Partition = grp, topic, part
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = off, -1, meta, ts
	return group.Record{Key: k.AppendTo(nil), Value: v.AppendTo(nil), Timestamp: ts}
}

func tombstone(grp, topic string, part int32, ts int64) group.Record {
	k := kmsg.NewOffsetCommitKey()
	k.Version = 1
	k.Group, k.Topic, k.Partition = grp, topic, part
	return group.Record{Key: k.AppendTo(nil), Timestamp: ts}
}

const baseTS = 1_700_000_000_000

// batch is n commit records of grp, offsets from..from+n-1.
func batch(grp string, from int64, n int) []group.Record {
	recs := make([]group.Record, n)
	for i := range recs {
		o := from + int64(i)
		recs[i] = commit(grp, "t", int32(i%3), o, "", baseTS+o)
	}
	return recs
}

// ---- helpers ----

func appendOK(t testing.TB, s group.Store, p int32, recs []group.Record) group.Pending {
	t.Helper()
	pend, err := s.Append(p, recs)
	if err != nil {
		t.Fatalf("Append to %d of %d records: %v", p, len(recs), err)
	}
	if pend == nil {
		t.Fatalf("Append to %d returned no error and no Pending", p)
	}
	return pend
}

func waitOK(t testing.TB, pend group.Pending) {
	t.Helper()
	if err := wait(pend); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// waitBound bounds every wait of the suite that must end.
const waitBound = 20 * time.Second

func wait(pend group.Pending) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	return pend.Wait(ctx)
}

func sameRecord(a, b group.Record) bool {
	return string(a.Key) == string(b.Key) && (a.Value == nil) == (b.Value == nil) &&
		string(a.Value) == string(b.Value) && a.Timestamp == b.Timestamp
}

func describe(r group.Record) string {
	rec, err := offsetsfmt.Decode(r.Key, r.Value)
	if err != nil {
		return fmt.Sprintf("undecodable %x=%x: %v", r.Key, r.Value, err)
	}
	if rec.Commit == nil {
		return fmt.Sprintf("%s/%s/%d tombstone @%d", rec.Group, rec.Topic, rec.Partition, r.Timestamp)
	}
	return fmt.Sprintf("%s/%s/%d=%d %q @%d", rec.Group, rec.Topic, rec.Partition, rec.Commit.Offset, rec.Commit.Metadata, r.Timestamp)
}

// expectRecords checks that partition p holds exactly want.
func expectRecords(t testing.TB, h *Harness, p int32, want []group.Record) {
	t.Helper()
	got := h.Read(t, p)
	if len(got) != len(want) {
		t.Fatalf("partition %d holds %d records, want %d", p, len(got), len(want))
	}
	for i := range want {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("partition %d record %d is %s, want %s", p, i, describe(got[i]), describe(want[i]))
		}
	}
}

// expectCode checks that err is classified as want for the group APIs.
func expectCode(t testing.TB, what string, err error, want *kerr.Error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one answered %s", what, want)
	}
	if got := offsetsfmt.AppendError(err); got != want {
		t.Fatalf("%s: %v is answered %v, want %v", what, err, got, want)
	}
}

// failed returns the error of an append that must fail, at Append or at
// Wait (an implementation may find out either way).
func failed(t testing.TB, s group.Store, p int32, recs []group.Record) error {
	t.Helper()
	pend, err := s.Append(p, recs)
	if err != nil {
		if pend != nil {
			t.Fatalf("Append failed (%v) and returned a Pending", err)
		}
		return err
	}
	if err := wait(pend); err != nil {
		return err
	}
	t.Fatalf("append to %d succeeded, want it to fail", p)
	return nil
}

// ---- checks ----

// Records of one partition are in the log in the order the Appends
// returned, each batch's in its order.
func testOrder(t testing.TB, h *Harness) {
	g := groupOn(h, 0, "order")
	var want []group.Record
	var pends []group.Pending
	for i := 0; i < 20; i++ {
		recs := batch(g, int64(len(want)), 1+i%4)
		pends = append(pends, appendOK(t, h.Store, 0, recs))
		want = append(want, recs...)
	}
	for _, p := range pends {
		waitOK(t, p)
	}
	expectRecords(t, h, 0, want)
	expectRecords(t, h, 1, nil)
}

// Keys, values, tombstones (nil values) and timestamps come back as they
// were given, and the store does not keep the caller's slices.
func testRecordsExact(t testing.TB, h *Harness) {
	g := groupOn(h, 1, "exact")
	recs := []group.Record{
		commit(g, "a", 0, 5, "meta", baseTS+10),
		tombstone(g, "a", 1, baseTS+3), // older than the first
		commit(g, "b", 2, 1<<40, strings.Repeat("x", 4000), baseTS+99),
		tombstone(g, "b", 3, baseTS+99),
	}
	want := make([]group.Record, len(recs))
	for i, r := range recs {
		want[i] = group.Record{Key: append([]byte(nil), r.Key...), Timestamp: r.Timestamp}
		if r.Value != nil {
			want[i].Value = append([]byte(nil), r.Value...)
		}
	}
	pend := appendOK(t, h.Store, 1, recs)
	// The coordinator does not keep recs after Append: scribble on them.
	for _, r := range recs {
		for i := range r.Key {
			r.Key[i] = 0xff
		}
		for i := range r.Value {
			r.Value[i] = 0xff
		}
	}
	waitOK(t, pend)
	expectRecords(t, h, 1, want)
}

// Appending no records appends nothing and is durable at once.
func testEmpty(t testing.TB, h *Harness) {
	g := groupOn(h, 0, "empty")
	first := batch(g, 0, 2)
	waitOK(t, appendOK(t, h.Store, 0, first))
	for _, recs := range [][]group.Record{nil, {}} {
		waitOK(t, appendOK(t, h.Store, 0, recs))
	}
	next := batch(g, 2, 1)
	waitOK(t, appendOK(t, h.Store, 0, next))
	expectRecords(t, h, 0, append(first, next...))
}

// Every record whose Wait returned nil is there after a reopen, in order,
// and the reopened store appends after them.
func testReopen(t testing.TB, h *Harness) {
	want := map[int32][]group.Record{}
	for p := int32(0); p < 2; p++ {
		g := groupOn(h, p, "reopen")
		for i := 0; i < 5; i++ {
			recs := batch(g, int64(len(want[p])), 3)
			waitOK(t, appendOK(t, h.Store, p, recs))
			want[p] = append(want[p], recs...)
		}
		del := []group.Record{tombstone(g, "t", 0, baseTS+1000)}
		waitOK(t, appendOK(t, h.Store, p, del))
		want[p] = append(want[p], del...)
	}
	h.Store = h.Reopen(t)
	for p := int32(0); p < 2; p++ {
		expectRecords(t, h, p, want[p])
	}
	more := batch(groupOn(h, 0, "reopen"), 100, 2)
	waitOK(t, appendOK(t, h.Store, 0, more))
	expectRecords(t, h, 0, append(want[0], more...))
	h.Store = h.Reopen(t)
	expectRecords(t, h, 0, append(want[0], more...))
}

// Append returns while the partition's fsync is held: it must not wait
// for the disk, and its records are not durable until the fsync is done.
func testAppendDoesNotWait(t testing.TB, h *Harness) {
	g := groupOn(h, 0, "nowait")
	first := batch(g, 0, 1)
	waitOK(t, appendOK(t, h.Store, 0, first))
	release := h.Stall(t, 0)
	defer release()
	type result struct {
		p   group.Pending
		err error
	}
	done := make(chan result, 1)
	recs := batch(g, 1, 2)
	go func() {
		p, err := h.Store.Append(0, recs)
		done <- result{p, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(waitBound):
		t.Fatal("Append waited for the held fsync")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := r.p.Wait(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with the fsync held: %v, want the context's deadline", err)
	}
	expectRecords(t, h, 0, first)
	release()
	waitOK(t, r.p)
	expectRecords(t, h, 0, append(first, recs...))
}

// Durability is a prefix of the append order: once a later Append's Wait
// returned nil, every earlier Append's records are durable and its Wait
// returns nil.
func testPrefix(t testing.TB, h *Harness) {
	g := groupOn(h, 1, "prefix")
	release := h.Stall(t, 1)
	var pends []group.Pending
	var want []group.Record
	for i := 0; i < 10; i++ {
		recs := batch(g, int64(len(want)), 2)
		pends = append(pends, appendOK(t, h.Store, 1, recs))
		want = append(want, recs...)
	}
	release()
	waitOK(t, pends[len(pends)-1])
	expectRecords(t, h, 1, want)
	for i, p := range pends {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		err := p.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Wait of append %d after the last one's returned nil: %v", i, err)
		}
	}
}

// A partition whose fsync is held, full of pending appends, does not hold
// up another partition's appends or their durability.
func testPartitionsIndependent(t testing.TB, h *Harness) {
	release := h.Stall(t, 0)
	defer release()
	held := appendOK(t, h.Store, 0, batch(groupOn(h, 0, "held"), 0, 1))
	g := groupOn(h, 1, "free")
	recs := batch(g, 0, 3)
	if h.SharedSync {
		// One fsync for all: the other partition's append is taken at
		// once (appendOK bounds it) and durable with the held one.
		other := appendOK(t, h.Store, 1, recs)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := other.Wait(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait on a partition sharing the held fsync: %v, want the context's deadline", err)
		}
		release()
		waitOK(t, other)
		waitOK(t, held)
		expectRecords(t, h, 1, recs)
		return
	}
	waitOK(t, appendOK(t, h.Store, 1, recs))
	expectRecords(t, h, 1, recs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := held.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on the held partition: %v", err)
	}
}

// Appenders racing on one partition: every batch lands whole (its records
// adjacent and in order), each appender's batches in its order, and once
// every Wait returned nil everything is durable.
func testConcurrentOnePartition(t testing.TB, h *Harness) {
	const appenders, batches, size = 8, 25, 3
	g := groupOn(h, 0, "race")
	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				recs := make([]group.Record, size)
				for i := range recs {
					recs[i] = commit(g, fmt.Sprintf("a%d", a), int32(i), int64(b), "", baseTS)
				}
				pend, err := h.Store.Append(0, recs)
				if err == nil {
					err = wait(pend)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := h.Read(t, 0)
	if len(got) != appenders*batches*size {
		t.Fatalf("%d records, want %d", len(got), appenders*batches*size)
	}
	next := make(map[string]int64) // appender -> next batch
	for i := 0; i < len(got); i += size {
		first, err := offsetsfmt.Decode(got[i].Key, got[i].Value)
		if err != nil || first.Commit == nil {
			t.Fatalf("record %d: %v", i, err)
		}
		for j := 0; j < size; j++ {
			r, _ := offsetsfmt.Decode(got[i+j].Key, got[i+j].Value)
			if r.Commit == nil || r.Topic != first.Topic || r.Partition != int32(j) || r.Commit.Offset != first.Commit.Offset {
				t.Fatalf("batch at record %d is not whole: record %d is %s", i, i+j, describe(got[i+j]))
			}
		}
		if first.Commit.Offset != next[first.Topic] {
			t.Fatalf("appender %s: batch %d at record %d, want batch %d", first.Topic, first.Commit.Offset, i, next[first.Topic])
		}
		next[first.Topic]++
	}
}

// Appenders on different partitions at once: each partition holds its
// own records, in order.
func testConcurrentManyPartitions(t testing.TB, h *Harness) {
	const batches = 30
	want := make([][]group.Record, h.Partitions)
	var wg sync.WaitGroup
	errs := make(chan error, h.Partitions)
	for p := int32(0); p < h.Partitions; p++ {
		g := groupOn(h, p, "many")
		for b := 0; b < batches; b++ {
			want[p] = append(want[p], batch(g, int64(2*b), 2)...)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pends []group.Pending
			for b := 0; b < batches; b++ {
				pend, err := h.Store.Append(p, want[p][2*b:2*b+2])
				if err != nil {
					errs <- err
					return
				}
				pends = append(pends, pend)
			}
			for _, pend := range pends {
				if err := wait(pend); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for p := int32(0); p < h.Partitions; p++ {
		expectRecords(t, h, p, want[p])
	}
}

// assignment is a group metadata record whose one member's assignment is
// n bytes: what a SyncGroup leader writes, of a size the client chooses.
func assignment(grp string, n int) group.Record {
	k := kmsg.NewGroupMetadataKey()
	k.Version = 2
	k.Group = grp
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = "consumer"
	v.Generation = 1
	proto, leader := "range", "m-1"
	v.Protocol, v.Leader = &proto, &leader
	m := kmsg.NewGroupMetadataValueMember()
	m.MemberID, m.ClientID, m.ClientHost = leader, "c", "/127.0.0.1"
	m.RebalanceTimeoutMillis, m.SessionTimeoutMillis = 30000, 10000
	m.Assignment = make([]byte, n)
	v.Members = append(v.Members, m)
	return group.Record{Key: k.AppendTo(nil), Value: v.AppendTo(nil), Timestamp: baseTS}
}

// largest returns the length of the largest assignment whose record's
// batch fits in limit bytes, and that batch's size.
func largest(grp string, limit int) (n, size int) {
	sizeOf := func(n int) int { return group.BatchSize([]group.Record{assignment(grp, n)}) }
	// The record's overhead is well below 400 bytes, and the size grows
	// with n: search between.
	lo, hi := limit-400, limit // size(lo) <= limit < size(hi)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if sizeOf(mid) <= limit {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, sizeOf(lo)
}

// A batch over max.message.bytes is refused whole with MESSAGE_TOO_LARGE
// (or RECORD_LIST_TOO_LARGE), which the group APIs answer
// UNKNOWN_SERVER_ERROR; the largest batch within the limit is taken; the
// partition goes on working.
func testOversized(t testing.TB, h *Harness) {
	g := groupOn(h, 0, "big")
	first := batch(g, 0, 1)
	waitOK(t, appendOK(t, h.Store, 0, first))
	n, size := largest(g, h.MaxMessageBytes)
	if size < h.MaxMessageBytes-1 {
		t.Fatalf("largest batch within the limit is %d bytes, limit %d", size, h.MaxMessageBytes)
	}
	over := []group.Record{assignment(g, n+1)} // one byte more: over the limit
	err := failed(t, h.Store, 0, over)
	if !errors.Is(err, kerr.MessageTooLarge) && !errors.Is(err, kerr.RecordListTooLarge) {
		t.Fatalf("batch of %d bytes, limit %d: %v, want MESSAGE_TOO_LARGE", group.BatchSize(over), h.MaxMessageBytes, err)
	}
	expectCode(t, "oversized batch", err, kerr.UnknownServerError)
	expectRecords(t, h, 0, first)
	fits := assignment(g, n)
	waitOK(t, appendOK(t, h.Store, 0, []group.Record{fits}))
	expectRecords(t, h, 0, append(first, fits))
}

// The commit of issue 12: 400 partitions with 4,000 bytes of metadata
// each, every record within offset.metadata.max.bytes and the batch over
// max.message.bytes.
func testOversizedCommit(t testing.TB, h *Harness) {
	g := groupOn(h, 1, "wide")
	recs := make([]group.Record, 400)
	for i := range recs {
		recs[i] = commit(g, "wide", int32(i), 7, strings.Repeat("m", 4000), baseTS)
	}
	if group.BatchSize(recs) <= h.MaxMessageBytes {
		t.Fatalf("the commit is %d bytes, within max.message.bytes %d: the harness limit is too large for this check", group.BatchSize(recs), h.MaxMessageBytes)
	}
	err := failed(t, h.Store, 1, recs)
	expectCode(t, "400 partitions x 4,000 bytes", err, kerr.UnknownServerError)
	expectRecords(t, h, 1, nil)
	small := recs[:10]
	waitOK(t, appendOK(t, h.Store, 1, small))
	expectRecords(t, h, 1, small)
}

// While the disk is full, a commit is refused with ErrStoreFull (a
// KAFKA_STORAGE_ERROR, answered NOT_COORDINATOR) and nothing of it is
// written, tombstones still go (deleting is how space is freed), and
// commits go again once space returns.
func testFullDisk(t testing.TB, h *Harness) {
	g := groupOn(h, 0, "full")
	first := batch(g, 0, 1)
	waitOK(t, appendOK(t, h.Store, 0, first))
	restore := h.Full(t)
	restored := false
	defer func() {
		if !restored {
			restore()
		}
	}()
	err := failed(t, h.Store, 0, batch(g, 1, 2))
	if !errors.Is(err, group.ErrStoreFull) {
		t.Fatalf("commit on a full disk: %v, want ErrStoreFull", err)
	}
	if !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("commit on a full disk: %v does not carry KAFKA_STORAGE_ERROR", err)
	}
	expectCode(t, "commit on a full disk", err, kerr.NotCoordinator)
	del := []group.Record{tombstone(g, "t", 0, baseTS+5)}
	waitOK(t, appendOK(t, h.Store, 0, del))
	expectRecords(t, h, 0, append(first, del...))
	restore()
	restored = true
	next := batch(g, 3, 1)
	waitOK(t, appendOK(t, h.Store, 0, next))
	expectRecords(t, h, 0, append(append(first, del...), next...))
}

// A fenced partition refuses every append with KAFKA_STORAGE_ERROR
// (NOT_COORDINATOR); the other partitions are not affected.
func testFenced(t testing.TB, h *Harness) {
	g := groupOn(h, 1, "fenced")
	first := batch(g, 0, 1)
	waitOK(t, appendOK(t, h.Store, 1, first))
	h.Fence(t, 1)
	for i := 0; i < 2; i++ {
		err := failed(t, h.Store, 1, batch(g, int64(1+i), 1))
		if !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("append to a fenced partition: %v, want KAFKA_STORAGE_ERROR", err)
		}
		expectCode(t, "append to a fenced partition", err, kerr.NotCoordinator)
	}
	other := batch(groupOn(h, 0, "fenced"), 0, 2)
	waitOK(t, appendOK(t, h.Store, 0, other))
	expectRecords(t, h, 0, other)
}

// An I/O error writing a partition fails that append (at Append or Wait)
// as a storage error, and every later append to the partition in this
// process; other partitions go on; after a reopen the partition holds
// what was durable and takes appends again.
func testWriteError(t testing.TB, h *Harness) {
	g := groupOn(h, 0, "eio")
	first := batch(g, 0, 2)
	waitOK(t, appendOK(t, h.Store, 0, first))
	h.FailWrite(t, 0)
	err := failed(t, h.Store, 0, batch(g, 2, 1))
	expectCode(t, "append hitting EIO", err, kerr.NotCoordinator)
	err = failed(t, h.Store, 0, batch(g, 3, 1))
	expectCode(t, "append after EIO", err, kerr.NotCoordinator)
	other := batch(groupOn(h, 1, "eio"), 0, 1)
	waitOK(t, appendOK(t, h.Store, 1, other))
	h.Store = h.Reopen(t)
	expectRecords(t, h, 0, first)
	next := batch(g, 4, 1)
	waitOK(t, appendOK(t, h.Store, 0, next))
	expectRecords(t, h, 0, append(first, next...))
	expectRecords(t, h, 1, other)
}

// A failed fsync fails the Wait of every append it covers, is never
// turned into a success, and fails every later append to the partition
// in this process (Append or Wait); after a reopen the acknowledged
// records are there.
func testSyncError(t testing.TB, h *Harness) {
	g := groupOn(h, 1, "fsync")
	first := batch(g, 0, 2)
	waitOK(t, appendOK(t, h.Store, 1, first))
	h.FailSync(t, 1)
	pend := appendOK(t, h.Store, 1, batch(g, 2, 1))
	err := wait(pend)
	expectCode(t, "Wait of an append whose fsync failed", err, kerr.NotCoordinator)
	if again := wait(pend); again == nil {
		t.Fatal("a second Wait after a failed fsync returned nil")
	}
	err = failed(t, h.Store, 1, batch(g, 3, 1))
	expectCode(t, "append after a failed fsync", err, kerr.NotCoordinator)
	other := batch(groupOn(h, 0, "fsync"), 0, 1)
	if h.SharedSync {
		// The failed fsync was every partition's: none acknowledges
		// anything more in this process.
		err = failed(t, h.Store, 0, other)
		expectCode(t, "append to another partition after the shared fsync failed", err, kerr.NotCoordinator)
	} else {
		waitOK(t, appendOK(t, h.Store, 0, other))
	}
	h.Store = h.Reopen(t)
	got := h.Read(t, 1)
	if len(got) < len(first) {
		t.Fatalf("%d records after reopen, want at least the %d acknowledged", len(got), len(first))
	}
	for i := range first {
		if !sameRecord(got[i], first[i]) {
			t.Fatalf("record %d after reopen: %s, want %s", i, describe(got[i]), describe(first[i]))
		}
	}
	// The unacknowledged batch may or may not be there; nothing else is.
	if len(got) > len(first)+1 {
		t.Fatalf("%d records after reopen, want %d or %d", len(got), len(first), len(first)+1)
	}
}

// A Wait whose context ends before the records are durable returns the
// context's error (a coordinator closing answers NOT_COORDINATOR, an
// abandoned wait's deadline COORDINATOR_NOT_AVAILABLE); the records are
// not withdrawn: a later Wait returns nil once they are durable.
func testCancel(t testing.TB, h *Harness) {
	g := groupOn(h, 0, "cancel")
	release := h.Stall(t, 0)
	defer release()
	recs := batch(g, 0, 2)
	pend := appendOK(t, h.Store, 0, recs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pend.Wait(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v with the fsync held", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait: %v, want context.Canceled", err)
		}
		expectCode(t, "cancelled Wait", err, kerr.NotCoordinator)
	case <-time.After(waitBound):
		t.Fatal("a cancelled Wait did not return")
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	err := pend.Wait(dctx)
	dcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait past its deadline: %v, want context.DeadlineExceeded", err)
	}
	expectCode(t, "Wait past its deadline", err, kerr.CoordinatorNotAvailable)
	release()
	waitOK(t, pend)
	expectRecords(t, h, 0, recs)
}

// Wait may be called more than once and from several goroutines: each
// call answers the same.
func testWaitTwice(t testing.TB, h *Harness) {
	g := groupOn(h, 1, "twice")
	release := h.Stall(t, 1)
	pend := appendOK(t, h.Store, 1, batch(g, 0, 1))
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() { errs <- wait(pend) }()
	}
	release()
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Wait %d: %v", i, err)
		}
	}
	waitOK(t, pend)
}
