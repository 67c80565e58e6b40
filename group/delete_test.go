package group

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Deletions (DeleteGroups, OffsetDelete, expiry) apply in memory once
// their tombstones are durable, as Kafka 4.x's coordinator applies them
// when their write commits, and not at all when the write fails: the
// group and its offsets stay, as a disk that lost the tombstones has them.

// powerLoss is a restart after a power loss: only what was durable is
// there (a failed fsync's records are gone).
func (s *memStore) powerLoss() *memStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := newMemStore()
	n.maxBytes = s.maxBytes
	for p, rs := range s.parts {
		n.parts[p] = append([]Record(nil), rs[:s.durable[p]]...)
		n.batches[p] = append([]Batch(nil), s.batches[p][:s.durable[p]]...)
		n.durable[p] = s.durable[p]
	}
	return n
}

func deleteGroups(h *harness, groups ...string) map[string]int16 {
	r := h.c.DeleteGroups(context.Background(), &kmsg.DeleteGroupsRequest{Version: 2, Groups: groups})
	out := make(map[string]int16)
	for _, g := range r.Groups {
		out[g.Group] = g.ErrorCode
	}
	return out
}

// groupOn returns a group name of prefix that hashes to partition p of
// __consumer_offsets (or, with p < 0, to any partition but not).
func groupOn(h *harness, prefix string, p, not int32) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if q := h.c.PartitionFor(name); (p < 0 || q == p) && q != not {
			return name
		}
	}
}

// A DeleteGroups whose tombstones were appended but whose fsync failed is
// answered NOT_COORDINATOR (Kafka's mapping of a storage error) and leaves
// the group, with its offsets, in place: a power loss then restores what
// memory said, and once the disk is healthy again the deletion succeeds.
func TestDeleteGroupsFsyncFailureKeepsGroup(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 1)
	allCodes(t, h.commit(commitReq(8, "g", ids[0], gen, offs{"t": {0: 7}})), 0)
	h.c.LeaveGroup(context.Background(), leaveReq(5, "g", leaving(ids[0])))
	wantState := func(h *harness, when string) {
		t.Helper()
		if s := h.state("g"); s != "Empty" {
			t.Fatalf("%s: group %s, want Empty", when, s)
		}
		if _, got := h.fetch(6, "g", map[string][]int32{"t": {0}}); got["t/0"] != 7 {
			t.Fatalf("%s: offset %v, want 7", when, got)
		}
	}
	h.store.setFailSync(h.c.PartitionFor("g"))
	wantCode(t, "delete with a failed fsync", deleteGroups(h, "g")["g"], kerr.NotCoordinator.Code)
	wantState(h, "after the failed delete")
	if n := len(h.store.all()[h.c.PartitionFor("g")]) - len(h.store.read(h.c.PartitionFor("g"))); n != 2 {
		t.Fatalf("%d records appended but not durable, want the offset and group tombstones", n)
	}

	h.store = h.store.powerLoss()
	h = h.restart()
	wantState(h, "after a power loss")
	wantCode(t, "delete on a healthy disk", deleteGroups(h, "g")["g"], 0)
	if s := h.state("g"); s != "Dead" {
		t.Fatalf("group %s after its deletion, want Dead", s)
	}
	if _, got := h.restart().fetch(6, "g", map[string][]int32{"t": {0}}); got["t/0"] != -1 {
		t.Fatalf("deleted group's offset after a restart: %v", got)
	}
}

// OffsetDelete whose fsync fails deletes nothing.
func TestOffsetDeleteFsyncFailureKeepsOffsets(t *testing.T) {
	h := newHarness(t)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 1, 1: 2}})), 0)
	h.store.setFailSync(h.c.PartitionFor("g"))
	resp := h.c.OffsetDelete(context.Background(), proctest.OffsetDeleteRequest("g", "t", 0))
	wantCode(t, "offset delete with a failed fsync", resp.ErrorCode, kerr.NotCoordinator.Code)
	check := func(when string) {
		t.Helper()
		if c := h.c.Committed("g")["t"]; len(c) != 2 || c[0].Offset != 1 {
			t.Fatalf("%s: offsets %+v, want t/0 and t/1", when, c)
		}
	}
	check("after the failed delete")
	h.store = h.store.powerLoss()
	h = h.restart()
	check("after a power loss")
}

// An expiry whose tombstones fail to be written keeps the offsets and the
// group; the next pass after the disk recovers expires them.
func TestExpiryFsyncFailureKeepsOffsets(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.OffsetsRetention = time.Hour; c.OffsetsRetentionCheck = time.Minute })
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 1}})), 0)
	h.store.setFailSync(h.c.PartitionFor("g"))
	h.advance(61 * time.Minute)
	if _, ok := h.c.Committed("g")["t"][0]; !ok || h.state("g") != "Empty" {
		t.Fatalf("group %s, offsets %v after an expiry whose write failed, want both kept", h.state("g"), h.c.Committed("g"))
	}
	h.store = h.store.powerLoss()
	h = h.restart()
	h.advance(time.Minute)
	if h.c.Committed("g") != nil || h.state("g") != "Dead" {
		t.Fatalf("group %s, offsets %v after an expiry on a healthy disk, want removed", h.state("g"), h.c.Committed("g"))
	}
}

// DeleteGroups answers each group on its own when some writes fail: a
// group on a partition whose fsync fails keeps NOT_COORDINATOR and
// stays, one on another partition is deleted; a group refused on the
// failed partition answers the failure too, as Kafka (one batch per
// partition) answers it. Every group's tombstones are appended before
// any is waited for.
func TestDeleteGroupsPerGroupCodes(t *testing.T) {
	h := newHarness(t)
	bad := groupOn(h, "bad", -1, -1)
	pBad := h.c.PartitionFor(bad)
	good := groupOn(h, "good", -1, pBad)
	unknown := groupOn(h, "unknown", pBad, -1)
	elsewhere := groupOn(h, "elsewhere", -1, pBad)
	for _, g := range []string{bad, good} {
		allCodes(t, h.commit(commitReq(8, g, "", -1, offs{"t": {0: 3}})), 0)
	}

	h.gated()
	done := async(func() map[string]int16 { return deleteGroups(h, bad, unknown, good, elsewhere) })
	h.eventually("both groups' tombstones appended before either waits", func() bool { return h.store.gateCount() == 2 })
	h.store.release(0, errDisk)
	h.store.release(1, nil)
	got := recv(t, done)
	want := map[string]int16{bad: kerr.NotCoordinator.Code, unknown: kerr.NotCoordinator.Code, good: 0, elsewhere: kerr.GroupIDNotFound.Code}
	for g, code := range want {
		wantCode(t, g, got[g], code)
	}
	if h.state(bad) != "Empty" || h.c.Committed(bad)["t"][0].Offset != 3 {
		t.Fatalf("%s is %s with %v after its failed deletion, want kept", bad, h.state(bad), h.c.Committed(bad))
	}
	if h.state(good) != "Dead" {
		t.Fatalf("%s is %s, want deleted", good, h.state(good))
	}
}

// A commit appended after a deletion's tombstones, before they are
// durable, follows them in the log: the group stays with that commit, as
// a replay has it.
func TestCommitAfterPendingDeletion(t *testing.T) {
	h := newHarness(t)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 1, 1: 1}})), 0)
	h.gated()
	del := async(func() map[string]int16 { return deleteGroups(h, "g") })
	h.eventually("the tombstones' append", func() bool { return h.store.gateCount() == 1 })
	commit := h.c.BeginOffsetCommit(context.Background(), commitReq(8, "g", "", -1, offs{"t": {0: 9}}))
	h.store.release(0, nil)
	h.store.release(1, nil)
	wantCode(t, "delete", recv(t, del)["g"], 0)
	allCodes(t, commitResult(commit()), 0)
	check := func(when string) {
		t.Helper()
		if c := h.c.Committed("g")["t"]; len(c) != 1 || c[0].Offset != 9 || h.state("g") != "Empty" {
			t.Fatalf("%s: group %s with %+v, want Empty with only the later commit t/0=9", when, h.state("g"), c)
		}
	}
	check("in memory")
	h = h.restart()
	check("after a restart")
}

// A second DeleteGroups of a group whose deletion is not durable yet
// waits for it and answers GROUP_ID_NOT_FOUND, as Kafka answers it (the
// deletion is already written when it runs).
func TestDeleteGroupsTwice(t *testing.T) {
	h := newHarness(t)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 1}})), 0)
	h.gated()
	first := async(func() map[string]int16 { return deleteGroups(h, "g") })
	h.eventually("the tombstones' append", func() bool { return h.store.gateCount() == 1 })
	second := async(func() map[string]int16 { return deleteGroups(h, "g") })
	select {
	case r := <-second:
		t.Fatalf("second delete answered %v before the first's tombstones were durable", r)
	case <-time.After(50 * time.Millisecond):
	}
	h.store.release(0, nil)
	wantCode(t, "first", recv(t, first)["g"], 0)
	wantCode(t, "second", recv(t, second)["g"], kerr.GroupIDNotFound.Code)
	if n := h.store.gateCount(); n != 1 {
		t.Fatalf("%d appends, want the first's tombstones only", n)
	}
}
