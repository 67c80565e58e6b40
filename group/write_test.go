package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gated makes every later Append of h wait for the test's release.
func (h *harness) gated() {
	h.store.mu.Lock()
	h.store.gated = true
	h.store.mu.Unlock()
}

// offsetOf is the applied commit of t/0, -1 if none.
func (h *harness) offsetOf(group string) int64 {
	if o, ok := h.c.Committed(group)["t"][0]; ok {
		return o.Offset
	}
	return -1
}

// within waits for ch's answer while the test holds a write back: the
// answer must not depend on that write.
func within[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer while a write of the group waits for its fsync", what)
		panic("unreachable")
	}
}

func async[T any](fn func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	return ch
}

func commitResult(resp *kmsg.OffsetCommitResponse) map[string]int16 {
	out := make(map[string]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[tpName(t.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

// Two commits of one partition whose writes become durable in the other
// order (the later Wait returns first) are applied in append order: the
// later commit is neither applied nor answered before the earlier one,
// and the final position is the later commit's.
func TestCommitsAppliedInAppendOrder(t *testing.T) {
	h := newHarness(t)
	h.gated()
	first := h.c.BeginOffsetCommit(context.Background(), commitReq(8, "g", "", -1, offs{"t": {0: 1}}))
	second := h.c.BeginOffsetCommit(context.Background(), commitReq(8, "g", "", -1, offs{"t": {0: 2}}))
	secondDone := async(second)
	h.store.release(1, nil)
	h.eventually("the later write's wait to return", func() bool {
		done := false
		h.inspect("g", func(g *group) { done = len(g.writes) == 2 && g.writes[1].done })
		return done
	})
	select {
	case r := <-secondDone:
		t.Fatalf("later commit answered before the earlier one was durable: %+v", r)
	default:
	}
	if got := h.offsetOf("g"); got != -1 {
		t.Fatalf("offset %d applied before the earlier commit was durable", got)
	}
	h.store.release(0, nil)
	allCodes(t, commitResult(first()), 0)
	allCodes(t, commitResult(recv(t, secondDone)), 0)
	if got := h.offsetOf("g"); got != 2 {
		t.Fatalf("offset %d after both commits, want 2 (applied in append order)", got)
	}
}

// A commit whose write fails once appended (its Wait errs) is answered
// with the error and never applied; a commit before it that succeeded
// stays. The failed fsync fenced the partition, as the broker's store
// does (group.Pending: the failure is sticky), so a commit after it is
// refused too, until a restart recovers the partition.
func TestCommitWaitFailure(t *testing.T) {
	h := newHarness(t)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 1}})), 0)
	h.gated()
	failed := h.c.BeginOffsetCommit(context.Background(), commitReq(8, "g", "", -1, offs{"t": {0: 2}}))
	if got := h.offsetOf("g"); got != 1 {
		t.Fatalf("pending commit visible: offset %d", got)
	}
	if _, got := h.fetch(6, "g", map[string][]int32{"t": {0}}); got["t/0"] != 1 {
		t.Fatalf("OffsetFetch saw a commit not yet durable: %v", got)
	}
	h.store.release(0, errDisk)
	allCodes(t, commitResult(failed()), kerr.NotCoordinator.Code)
	if got := h.offsetOf("g"); got != 1 {
		t.Fatalf("offset %d after a failed write, want 1", got)
	}
	later := h.c.BeginOffsetCommit(context.Background(), commitReq(8, "g", "", -1, offs{"t": {0: 3}}))
	allCodes(t, commitResult(later()), kerr.NotCoordinator.Code)
	if got := h.offsetOf("g"); got != 1 {
		t.Fatalf("offset %d after a commit to a fenced partition, want 1", got)
	}
	h.store = h.store.reopen()
	h = h.restart()
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 4}})), 0)
	if got := h.offsetOf("g"); got != 4 {
		t.Fatalf("offset %d after the restart, want 4", got)
	}
}

// While a member's commit waits for its fsync, the group keeps serving:
// heartbeats, joins, descriptions and fetches are answered (a fetch
// without the commit), and only a RequireStable fetch waits for it.
func TestGroupServedWhileCommitWaits(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 1)
	h.gated()
	commit := async(func() map[string]int16 { return h.commit(commitReq(8, "g", ids[0], gen, offs{"t": {0: 7}})) })
	h.eventually("the commit's append", func() bool { return h.store.gateCount() == 1 })

	hb := async(func() int16 { return h.heartbeat(4, "g", ids[0], gen) })
	wantCode(t, "heartbeat", within(t, "heartbeat", hb), 0)
	join := async(func() *kmsg.JoinGroupResponse { return h.join(joinReq(9, "g", "")) })
	wantCode(t, "new member's first join", within(t, "join", join).ErrorCode, kerr.MemberIDRequired.Code)
	desc := async(func() *kmsg.DescribeGroupsResponse {
		return h.c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Version: 3, Groups: []string{"g"}})
	})
	if s := within(t, "describe", desc).Groups[0].State; s != "Stable" {
		t.Fatalf("state %s", s)
	}
	fetch := async(func() map[string]int64 { _, got := h.fetch(6, "g", map[string][]int32{"t": {0}}); return got })
	if got := within(t, "fetch", fetch); got["t/0"] != -1 {
		t.Fatalf("fetch saw the pending commit: %v", got)
	}
	stable := async(func() *kmsg.OffsetFetchResponse {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version, r.Group, r.RequireStable = 7, "g", true
		return h.c.OffsetFetch(context.Background(), r)
	})
	pending(t, stable)
	pending(t, commit)

	h.store.release(0, nil)
	allCodes(t, recv(t, commit), 0)
	if r := recv(t, stable); len(r.Topics) != 1 || r.Topics[0].Partitions[0].Offset != 7 {
		t.Fatalf("RequireStable fetch %+v, want the commit", r.Topics)
	}
}

// The leader's SyncGroup waits for the assignment to be durable without
// the group's lock: heartbeats are answered meanwhile, and every member
// gets its assignment once it is durable. A failed write answers the
// error and starts a new rebalance.
func TestSyncWaitsOutsideLock(t *testing.T) {
	for _, fail := range []bool{false, true} {
		h := newHarness(t, noDelay)
		r := h.join(joinReq(9, "g", ""))
		id := r.MemberID
		ch := h.joinAsync(joinReq(9, "g", id))
		h.waitAwaiting("g", 1)
		h.fire()
		jr := recv(t, ch)
		wantCode(t, "join", jr.ErrorCode, 0)
		h.gated()
		sync := h.syncAsync(syncReq(5, "g", id, jr.Generation, map[string][]byte{id: []byte("a")}))
		h.eventually("the assignment's append", func() bool { return h.store.gateCount() == 1 })
		hb := async(func() int16 { return h.heartbeat(4, "g", id, jr.Generation) })
		wantCode(t, "heartbeat", within(t, "heartbeat", hb), 0)
		pending(t, sync)
		if s := h.state("g"); s != "CompletingRebalance" {
			t.Fatalf("state %s before the assignment is durable", s)
		}
		var err error
		if fail {
			err = errDisk
		}
		h.store.release(0, err)
		sr := recv(t, sync)
		if fail {
			wantCode(t, "sync", sr.ErrorCode, kerr.NotCoordinator.Code)
			if s := h.state("g"); s != "PreparingRebalance" {
				t.Fatalf("state %s after a failed assignment write", s)
			}
			continue
		}
		wantCode(t, "sync", sr.ErrorCode, 0)
		if string(sr.MemberAssignment) != "a" || h.state("g") != "Stable" {
			t.Fatalf("assignment %q, state %s", sr.MemberAssignment, h.state("g"))
		}
	}
}

// DeleteGroups while a commit is pending: the group stays, as readers
// see it, until the tombstones are durable (Kafka 4.x reads at the last
// committed offset); they cover the pending commit's partition and follow
// its record, so the commit is applied and then deleted with the group,
// and a restart agrees.
func TestDeleteGroupWithPendingCommit(t *testing.T) {
	h := newHarness(t)
	h.gated()
	commit := h.c.BeginOffsetCommit(context.Background(), commitReq(8, "g", "", -1, offs{"t": {0: 5}}))
	del := async(func() *kmsg.DeleteGroupsResponse {
		return h.c.DeleteGroups(context.Background(), &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"g"}})
	})
	h.eventually("the tombstones' append", func() bool { return h.store.gateCount() == 2 })
	if s := h.state("g"); s != "Empty" {
		t.Fatalf("state %s while the tombstones are written, want Empty (not deleted before durable)", s)
	}
	h.store.release(1, nil)
	h.store.release(0, nil)
	allCodes(t, commitResult(commit()), 0)
	wantCode(t, "delete", recv(t, del).Groups[0].ErrorCode, 0)
	if got := h.c.Committed("g"); got != nil || h.state("g") != "Dead" {
		t.Fatalf("deleted group is %s with offsets %v", h.state("g"), got)
	}
	recs := h.store.all()[h.c.PartitionFor("g")]
	if len(recs) != 2 || recs[0].Value == nil || recs[1].Value != nil {
		t.Fatalf("records %d, want the commit then its tombstone", len(recs))
	}
	if got := h.restart().c.Committed("g"); got != nil {
		t.Fatalf("after restart: %v", got)
	}
}
