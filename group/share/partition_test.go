package share

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestAcquireWholeBatchesThenAcknowledge(t *testing.T) {
	p := NewPartition(PartitionConfig{}, 10)
	// Batches [10,14] and [15,19]; maxRecords 3 still takes the whole
	// first batch, and stops before the second.
	got := p.Acquire(t0, "a", 3, 20, []Batch{{First: 10, Last: 14}, {First: 15, Last: 19}})
	if want := []AcquiredRange{{10, 14, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("acquired %v, want %v", got, want)
	}
	if p.Start() != 10 || p.End() != 15 {
		t.Fatalf("start %d end %d, want 10 15", p.Start(), p.End())
	}
	// Another member gets the next batch only.
	if got := p.Acquire(t0, "b", 100, 20, []Batch{{First: 10, Last: 14}, {First: 15, Last: 19}}); !reflect.DeepEqual(got, []AcquiredRange{{15, 19, 1}}) {
		t.Fatalf("b acquired %v", got)
	}
	// b cannot acknowledge a's records, and a failed batch changes nothing.
	if err := p.Acknowledge(t0, "b", 14, 15, []AckType{AckAccept}); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("cross-member ack: %v", err)
	}
	if s, _, _ := p.State(15); s != Acquired {
		t.Fatalf("offset 15 is %v after a refused batch", s)
	}
	// a accepts 10-11, rejects 12, releases 13, gaps 14: start moves past 12.
	if err := p.Acknowledge(t0, "a", 10, 14, []AckType{AckAccept, AckAccept, AckReject, AckRelease, AckGap}); err != nil {
		t.Fatal(err)
	}
	if p.Start() != 13 {
		t.Fatalf("start %d, want 13 (13 was released)", p.Start())
	}
	if s, n, _ := p.State(13); s != Available || n != 1 {
		t.Fatalf("13 is %v delivered %d, want available delivered 1", s, n)
	}
	// The released record is delivered again, before any new record.
	if got := p.Acquire(t0, "b", 1, 30, []Batch{{First: 20, Last: 29}}); !reflect.DeepEqual(got, []AcquiredRange{{13, 13, 2}}) {
		t.Fatalf("redelivery %v", got)
	}
	if err := p.Acknowledge(t0, "b", 13, 13, []AckType{AckAccept}); err != nil {
		t.Fatal(err)
	}
	if err := p.Acknowledge(t0, "b", 15, 19, []AckType{AckAccept}); err != nil {
		t.Fatal(err)
	}
	if p.Start() != 20 || p.End() != 20 {
		t.Fatalf("start %d end %d, want 20 20", p.Start(), p.End())
	}
}

func TestAcknowledgeRefusesMalformedBatches(t *testing.T) {
	p := NewPartition(PartitionConfig{}, 0)
	p.Acquire(t0, "a", 10, 10, []Batch{{First: 0, Last: 9}})
	for _, c := range []struct {
		first, last int64
		types       []AckType
		want        error
	}{
		{5, 4, []AckType{AckAccept}, ErrInvalidRequest},
		{0, 3, []AckType{AckAccept, AckAccept}, ErrInvalidRequest},
		{0, 0, nil, ErrInvalidRequest},
		{0, 0, []AckType{5}, ErrInvalidRequest},
		{0, 0, []AckType{-1}, ErrInvalidRequest},
		// Past the records ever delivered (Kafka 4.4: INVALID_REQUEST).
		{8, 10, []AckType{AckAccept}, ErrInvalidRequest},
	} {
		if err := p.Acknowledge(t0, "a", c.first, c.last, c.types); !errors.Is(err, c.want) {
			t.Errorf("ack [%d,%d] %v: %v, want %v", c.first, c.last, c.types, err, c.want)
		}
	}
	if _, batches := p.Snapshot(); len(batches) != 1 || batches[0] != (StateBatch{0, 9, Available, 1}) {
		t.Fatalf("refused acks changed the partition: %v", batches)
	}
	// Acknowledged twice inside the window (2, while 1 is still acquired):
	// the second is refused.
	if err := p.Acknowledge(t0, "a", 2, 2, []AckType{AckAccept}); err != nil {
		t.Fatal(err)
	}
	if err := p.Acknowledge(t0, "a", 2, 2, []AckType{AckAccept}); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("second ack: %v", err)
	}
	// Below the start offset a record is finished, and acknowledging it
	// again is no error (as Kafka 4.4 answers); the rest of the batch must
	// still be acquired.
	if err := p.Acknowledge(t0, "a", 0, 1, []AckType{AckAccept}); err != nil || p.Start() != 3 {
		t.Fatalf("ack [0,1]: %v, start %d", err, p.Start())
	}
	if err := p.Acknowledge(t0, "a", 0, 0, []AckType{AckAccept}); err != nil {
		t.Fatalf("ack below start: %v", err)
	}
	if err := p.Acknowledge(t0, "a", 1, 3, []AckType{AckReject}); err != nil {
		t.Fatalf("ack [1,3] across the start: %v", err)
	}
	if err := p.Acknowledge(t0, "b", 2, 4, []AckType{AckReject}); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("b acks [2,4], 4 being a's: %v", err)
	}
}

func TestAcknowledgeWithNothingInFlight(t *testing.T) {
	p := NewPartition(PartitionConfig{}, 5)
	// Kafka 4.4 finds no batch: INVALID_RECORD_STATE.
	if err := p.Acknowledge(t0, "a", 5, 5, []AckType{AckAccept}); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("ack with nothing in flight: %v", err)
	}
	if err := p.Acknowledge(t0, "a", 0, 4, []AckType{AckAccept}); err != nil {
		t.Fatalf("ack below the start: %v", err)
	}
}

// A batch far larger than the window, and a gap in the log far larger
// than it, cost the window's bound and no more.
func TestHugeBatchesAndGapsStayBounded(t *testing.T) {
	p := NewPartition(PartitionConfig{MaxInFlight: 2000}, 0)
	got := p.Acquire(t0, "a", 1, 10_000_000, []Batch{{First: 0, Last: 4_999_999}})
	if want := []AcquiredRange{{0, 1999, 1}}; !reflect.DeepEqual(got, want) || p.End() != 2000 {
		t.Fatalf("one batch of 5M: acquired %v, end %d", got, p.End())
	}
	if err := p.Acknowledge(t0, "a", 0, 1999, []AckType{AckAccept}); err != nil {
		t.Fatal(err)
	}
	if got := p.Acquire(t0, "a", 1, 10_000_000, []Batch{{First: 0, Last: 4_999_999}}); !reflect.DeepEqual(got, []AcquiredRange{{2000, 3999, 1}}) {
		t.Fatalf("the batch's next window: %v", got)
	}
	// A gap of 50M offsets after records in flight: nothing is acquired
	// past it until they finish, then the start jumps over it.
	if got := p.Acquire(t0, "b", 10, 100_000_000, []Batch{{First: 50_000_000, Last: 50_000_009}}); got != nil || p.End() != 4000 {
		t.Fatalf("acquired %v across a gap with records in flight, end %d", got, p.End())
	}
	if err := p.Acknowledge(t0, "a", 2000, 3999, []AckType{AckReject}); err != nil {
		t.Fatal(err)
	}
	if got := p.Acquire(t0, "b", 10, 100_000_000, []Batch{{First: 50_000_000, Last: 50_000_009}}); !reflect.DeepEqual(got, []AcquiredRange{{50_000_000, 50_000_009, 1}}) || p.Start() != 50_000_000 {
		t.Fatalf("after the gap: acquired %v, start %d", got, p.Start())
	}
}

func TestAcquireStopsAtHWMAndStrictLimit(t *testing.T) {
	p := NewPartition(PartitionConfig{}, 0)
	if got := p.AcquireStrict(t0, "a", 3, 10, []Batch{{First: 0, Last: 9}}); !reflect.DeepEqual(got, []AcquiredRange{{0, 2, 1}}) {
		t.Fatalf("strict acquired %v", got)
	}
	if err := p.Acknowledge(t0, "a", 0, 2, []AckType{AckRelease}); err != nil {
		t.Fatal(err)
	}
	// Available records at or past hwm stay where they are.
	if got := p.Acquire(t0, "b", 100, 2, []Batch{{First: 0, Last: 9}}); !reflect.DeepEqual(got, []AcquiredRange{{0, 1, 2}}) {
		t.Fatalf("acquired %v below hwm 2", got)
	}
	if s, _, _ := p.State(2); s != Available {
		t.Fatalf("offset 2 is %v", s)
	}
}

func TestLocksExpireAndDeliveryLimitArchives(t *testing.T) {
	cfg := PartitionConfig{LockDuration: time.Second, DeliveryLimit: 2}
	p := NewPartition(cfg, 0)
	p.Acquire(t0, "a", 10, 3, []Batch{{First: 0, Last: 2}})
	if d := p.NextDeadline(); !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v", d)
	}
	if n := p.Expire(t0.Add(999 * time.Millisecond)); n != 0 {
		t.Fatalf("expired %d before the lock ended", n)
	}
	// A renewal keeps offset 1 past the first expiry.
	if err := p.Acknowledge(t0.Add(500*time.Millisecond), "a", 1, 1, []AckType{AckRenew}); err != nil {
		t.Fatal(err)
	}
	if n := p.Expire(t0.Add(time.Second)); n != 2 {
		t.Fatalf("expired %d, want 2", n)
	}
	if s, _, _ := p.State(1); s != Acquired {
		t.Fatalf("renewed offset 1 is %v", s)
	}
	// Second delivery of 0 and 2; a release now archives them (limit 2).
	got := p.Acquire(t0.Add(2*time.Second), "b", 10, 3, nil)
	if want := []AcquiredRange{{0, 0, 2}, {2, 2, 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second delivery %v, want %v", got, want)
	}
	if err := p.Acknowledge(t0, "b", 0, 0, []AckType{AckRelease}); err != nil {
		t.Fatal(err)
	}
	if p.Start() != 1 {
		t.Fatalf("start %d: offset 0 reached its delivery limit and should be archived", p.Start())
	}
	// b leaves: 2 is released at its limit, archived; a's 1 stays.
	if n := p.ReleaseMember("b"); n != 1 {
		t.Fatalf("released %d for b", n)
	}
	if s, _, _ := p.State(2); s != Archived {
		t.Fatalf("offset 2 is %v", s)
	}
	if n := p.ReleaseMember("a"); n != 1 || p.Start() != 1 {
		t.Fatalf("released %d for a, start %d", n, p.Start())
	}
}

func TestInFlightBoundAndLogGaps(t *testing.T) {
	p := NewPartition(PartitionConfig{MaxInFlight: 8}, 0)
	// Batches of 5: the second starts while 5 < 8 are in flight and is
	// cut at the window's bound; the third is not started.
	got := p.Acquire(t0, "a", 100, 100, []Batch{{First: 0, Last: 4}, {First: 5, Last: 9}, {First: 10, Last: 14}})
	if want := []AcquiredRange{{0, 7, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("acquired %v, want %v", got, want)
	}
	if got := p.Acquire(t0, "b", 100, 100, []Batch{{First: 5, Last: 9}, {First: 10, Last: 14}}); got != nil {
		t.Fatalf("acquired past the in-flight bound: %v", got)
	}
	// Records past the high watermark are never acquired.
	q := NewPartition(PartitionConfig{}, 0)
	if got := q.Acquire(t0, "a", 100, 3, []Batch{{First: 0, Last: 4}}); !reflect.DeepEqual(got, []AcquiredRange{{0, 2, 1}}) {
		t.Fatalf("acquired past the high watermark: %v", got)
	}
	// A hole in the log (compaction) is skipped as archived offsets.
	if err := q.Acknowledge(t0, "a", 0, 2, []AckType{AckAccept}); err != nil {
		t.Fatal(err)
	}
	if got := q.Acquire(t0, "a", 100, 20, []Batch{{First: 7, Last: 9}}); !reflect.DeepEqual(got, []AcquiredRange{{7, 9, 1}}) {
		t.Fatalf("acquired %v across a hole", got)
	}
	if q.Start() != 7 {
		t.Fatalf("start %d, want 7 past the hole", q.Start())
	}
	// Retention removes offsets 7 and 8 from the log.
	q.LogStartMoved(9)
	if q.Start() != 9 || q.End() != 10 {
		t.Fatalf("after log start 9: start %d end %d", q.Start(), q.End())
	}
	q.LogStartMoved(50)
	if q.Start() != 50 || q.End() != 50 {
		t.Fatalf("after log start 50: start %d end %d", q.Start(), q.End())
	}
}

func TestSnapshotRestore(t *testing.T) {
	p := NewPartition(PartitionConfig{}, 100)
	p.Acquire(t0, "a", 100, 200, []Batch{{First: 100, Last: 109}})
	if err := p.Acknowledge(t0, "a", 101, 109, []AckType{AckAccept, AckRelease, AckRelease, AckReject, AckAccept, AckAccept, AckAccept, AckAccept, AckAccept}); err != nil {
		t.Fatal(err)
	}
	start, batches := p.Snapshot()
	want := []StateBatch{
		{100, 100, Available, 1}, // acquired: a lock does not survive a restart
		{101, 101, Acknowledged, 1},
		{102, 103, Available, 1},
		{104, 104, Archived, 1},
		{105, 109, Acknowledged, 1},
	}
	if start != 100 || !reflect.DeepEqual(batches, want) {
		t.Fatalf("snapshot %d %v, want 100 %v", start, batches, want)
	}
	q, err := RestorePartition(PartitionConfig{}, start, batches)
	if err != nil {
		t.Fatal(err)
	}
	if q.Start() != 100 || q.End() != 110 {
		t.Fatalf("restored start %d end %d", q.Start(), q.End())
	}
	if got := q.Acquire(t0, "b", 100, 200, nil); !reflect.DeepEqual(got, []AcquiredRange{{100, 100, 2}, {102, 103, 2}}) {
		t.Fatalf("after restore acquired %v", got)
	}
	for _, bad := range [][]StateBatch{
		{{105, 104, Available, 0}},
		{{100, 105, Available, 0}, {103, 106, Available, 0}},
		{{100, 100, Acquired, 1}},
		{{100, 100 + 4*2000, Available, 0}},
		{{99, 99, Available, 0}},
	} {
		if _, err := RestorePartition(PartitionConfig{}, 100, bad); err == nil {
			t.Errorf("restored a bad snapshot %v", bad)
		}
	}
}

// TestRandomOperationsKeepInvariants drives a partition with random
// acquisitions, acknowledgements, expiries and leaves and checks after
// each step what must always hold: the window stays bounded, the record
// at the start is never finished, no offset is acquired by two members,
// a delivery count never exceeds the limit, and a snapshot restores to
// the same states.
func TestRandomOperationsKeepInvariants(t *testing.T) {
	cfg := PartitionConfig{LockDuration: 3 * time.Second, DeliveryLimit: 3, MaxInFlight: 50}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		p := NewPartition(cfg, 0)
		now := t0
		hwm := int64(0)
		members := []string{"a", "b", "c"}
		held := map[int64]string{}
		for step := range 2000 {
			switch rng.IntN(5) {
			case 0:
				hwm += int64(rng.IntN(20))
			case 1:
				var batches []Batch
				for off := p.End(); off < hwm; off += 4 {
					batches = append(batches, Batch{First: off, Last: min(off+3, hwm-1)})
				}
				m := members[rng.IntN(3)]
				for _, r := range p.Acquire(now, m, 1+rng.IntN(10), hwm, batches) {
					if r.DeliveryCount > cfg.DeliveryLimit {
						t.Fatalf("seed %d step %d: delivery %d over the limit", seed, step, r.DeliveryCount)
					}
					for off := r.First; off <= r.Last; off++ {
						if o, ok := held[off]; ok {
							t.Fatalf("seed %d step %d: offset %d acquired by %s while %s holds it", seed, step, off, m, o)
						}
						held[off] = m
					}
				}
			case 2:
				for off, m := range held {
					tp := AckType(rng.IntN(4))
					if err := p.Acknowledge(now, m, off, off, []AckType{tp}); err != nil {
						t.Fatalf("seed %d step %d: ack %d by %s: %v", seed, step, off, m, err)
					}
					delete(held, off)
					break
				}
			case 3:
				now = now.Add(time.Duration(rng.IntN(2000)) * time.Millisecond)
				p.Expire(now)
				for off := range held {
					if s, _, _ := p.State(off); s != Acquired {
						delete(held, off)
					}
				}
			case 4:
				m := members[rng.IntN(3)]
				p.ReleaseMember(m)
				for off, o := range held {
					if o == m {
						delete(held, off)
					}
				}
			}
			if w := p.End() - p.Start(); w < 0 || w > cfg.MaxInFlight+4 {
				t.Fatalf("seed %d step %d: window %d", seed, step, w)
			}
			if p.End() > p.Start() {
				if s, _, _ := p.State(p.Start()); s == Acknowledged || s == Archived {
					t.Fatalf("seed %d step %d: start %d is %v", seed, step, p.Start(), s)
				}
			}
			start, batches := p.Snapshot()
			q, err := RestorePartition(cfg, start, batches)
			if err != nil {
				t.Fatalf("seed %d step %d: restore: %v", seed, step, err)
			}
			if q.Start() != p.Start() || q.End() != p.End() {
				t.Fatalf("seed %d step %d: restored [%d,%d), was [%d,%d)", seed, step, q.Start(), q.End(), p.Start(), p.End())
			}
		}
	}
}

// TestSkippedBatches: a batch marked Skip (an aborted transaction's, a
// marker) is archived, never delivered, whether records are in flight or
// not, and a skipped tail moves the partition past it.
func TestSkippedBatches(t *testing.T) {
	p := NewPartition(PartitionConfig{}, 0)
	got := p.Acquire(t0, "a", 100, 10, []Batch{{First: 0, Last: 2}, {First: 3, Last: 5, Skip: true}, {First: 6, Last: 6, Skip: true}, {First: 7, Last: 9}})
	if want := []AcquiredRange{{0, 2, 1}, {7, 9, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("acquired %v, want %v", got, want)
	}
	if p.End() != 10 {
		t.Fatalf("end %d, want 10", p.End())
	}
	// Nothing in flight: a skipped batch alone moves the start.
	q := NewPartition(PartitionConfig{}, 0)
	if got := q.Acquire(t0, "a", 100, 5, []Batch{{First: 0, Last: 4, Skip: true}}); got != nil || q.Start() != 5 || q.FirstAvailable() != 5 {
		t.Fatalf("acquired %v, start %d, first available %d", got, q.Start(), q.FirstAvailable())
	}
}
