package group

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// staticGroup brings two static members (instances "i0", "i1") to Stable.
func (h *harness) staticGroup(name string, opts ...joinOpt) (ids []string, gen int32) {
	h.t.Helper()
	a := h.joinAsync(joinReq(9, name, "", append([]joinOpt{withInstance("i0")}, opts...)...))
	h.waitAwaiting(name, 1)
	b := h.joinAsync(joinReq(9, name, "", append([]joinOpt{withInstance("i1")}, opts...)...))
	h.waitAwaiting(name, 2)
	h.advance(3 * time.Second)
	h.advance(3 * time.Second)
	ra, rb := recv(h.t, a), recv(h.t, b)
	wantCode(h.t, "join a", ra.ErrorCode, 0)
	wantCode(h.t, "join b", rb.ErrorCode, 0)
	if !strings.HasPrefix(ra.MemberID, "i0-") {
		h.t.Fatalf("static member id %q should start with the instance id", ra.MemberID)
	}
	fb := h.syncAsync(syncReq(5, name, rb.MemberID, rb.Generation, nil))
	h.waitSyncing(name, rb.MemberID)
	lr := h.sync(syncReq(5, name, ra.MemberID, ra.Generation, map[string][]byte{ra.MemberID: []byte("A0"), rb.MemberID: []byte("A1")}))
	wantCode(h.t, "leader sync", lr.ErrorCode, 0)
	wantCode(h.t, "follower sync", recv(h.t, fb).ErrorCode, 0)
	return []string{ra.MemberID, rb.MemberID}, ra.Generation
}

// KIP-345: a static member that restarts (empty member id, same instance
// id) while the group is Stable gets a new member id and its old
// assignment, with no rebalance; its old member id is fenced.
func TestStaticMemberRejoinWithoutRebalance(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.staticGroup("g")
	before := h.store.count()

	r := h.join(joinReq(9, "g", "", withInstance("i1")))
	wantCode(t, "static rejoin", r.ErrorCode, 0)
	if r.MemberID == ids[1] || !strings.HasPrefix(r.MemberID, "i1-") || r.Generation != gen || r.LeaderID != ids[0] || r.SkipAssignment {
		t.Fatalf("static rejoin %+v", r)
	}
	if h.state("g") != "Stable" {
		t.Fatalf("state %s: a static rejoin must not rebalance", h.state("g"))
	}
	// The replacement is persisted (GroupMetadataValue with the new id).
	if h.store.count() != before+1 {
		t.Fatalf("expected one group metadata record, got %d", h.store.count()-before)
	}
	sr := h.sync(syncReq(5, "g", r.MemberID, gen, nil))
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "A1" {
		t.Fatalf("sync after static rejoin %+v", sr)
	}
	// The old member id with the instance id is fenced everywhere.
	wantCode(t, "old id heartbeat", h.heartbeat(4, "g", ids[1], gen, "i1"), kerr.FencedInstanceID.Code)
	old := syncReq(5, "g", ids[1], gen, nil)
	i1 := "i1"
	old.InstanceID = &i1
	wantCode(t, "old id sync", h.sync(old).ErrorCode, kerr.FencedInstanceID.Code)
	oc := commitReq(8, "g", ids[1], gen, map[string]map[int32]int64{"t": {0: 1}})
	oc.InstanceID = &i1
	allCodes(t, h.commit(oc), kerr.FencedInstanceID.Code)
	wantCode(t, "old id join", h.join(joinReq(9, "g", ids[1], withInstance("i1"))).ErrorCode, kerr.FencedInstanceID.Code)
	lr := h.c.LeaveGroup(context.Background(), leaveReq(5, "g", leaving(ids[1], "i1")))
	wantCode(t, "old id leave", lr.Members[0].ErrorCode, kerr.FencedInstanceID.Code)
	// Without the instance id the old member id is simply unknown.
	wantCode(t, "old id heartbeat, no instance", h.heartbeat(4, "g", ids[1], gen), kerr.UnknownMemberID.Code)
	// The new id works.
	wantCode(t, "new id heartbeat", h.heartbeat(4, "g", r.MemberID, gen, "i1"), 0)
}

// KIP-814 (JoinGroup v9): a static leader that restarts is told it is the
// leader with SkipAssignment; before v9 it is given the old leader id so it
// does not assign.
func TestStaticLeaderRejoin(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.staticGroup("g")
	r := h.join(joinReq(9, "g", "", withInstance("i0")))
	if r.ErrorCode != 0 || r.LeaderID != r.MemberID || !r.SkipAssignment || len(r.Members) != 2 || r.Generation != gen {
		t.Fatalf("v9 static leader rejoin %+v", r)
	}
	r2 := h.join(joinReq(8, "g", "", withInstance("i0")))
	if r2.ErrorCode != 0 || r2.LeaderID != r.MemberID || r2.SkipAssignment || len(r2.Members) != 0 {
		t.Fatalf("v8 static leader rejoin should get the old leader id %q: %+v", r.MemberID, r2)
	}
	_ = ids
	if h.state("g") != "Stable" {
		t.Fatalf("state %s", h.state("g"))
	}
}

// A static member rejoining with metadata that changes the group's
// selected protocol triggers a rebalance.
func TestStaticRejoinChangingProtocol(t *testing.T) {
	h := newHarness(t)
	h.staticGroup("g", withProtocols(proto("range", consumerMeta("t")), proto("roundrobin", consumerMeta("t"))))
	ch := h.joinAsync(joinReq(9, "g", "", withInstance("i1"), withProtocols(proto("roundrobin", consumerMeta("t")))))
	h.waitAwaiting("g", 1)
	if h.state("g") != "PreparingRebalance" {
		t.Fatalf("state %s", h.state("g"))
	}
	pending(t, ch)
}

// Static members that miss a rebalance are kept (unlike dynamic ones) and
// the leader assigns to them; like every member they must then send
// SyncGroup within the rebalance timeout (Kafka's pending-sync expiry) or
// be removed, which starts another rebalance.
func TestStaticMemberKeptThroughRebalance(t *testing.T) {
	h := newHarness(t)
	opt := withTimeouts(30*time.Second, 5*time.Second)
	ids, gen := h.staticGroup("g", opt)
	a := h.joinAsync(joinReq(9, "g", ids[0], withInstance("i0"), opt))
	h.waitAwaiting("g", 1)
	h.advance(5 * time.Second)
	ra := recv(t, a)
	if ra.ErrorCode != 0 || ra.Generation != gen+1 || len(ra.Members) != 2 {
		t.Fatalf("join %+v: the static member that did not rejoin must stay", ra)
	}
	h.sync(syncReq(5, "g", ids[0], gen+1, map[string][]byte{ids[0]: []byte("x"), ids[1]: []byte("y")}))
	h.advance(4 * time.Second)
	wantCode(t, "leader hb", h.heartbeat(4, "g", ids[0], gen+1, "i0"), 0)
	h.advance(time.Second)
	wantCode(t, "static member removed", h.heartbeat(4, "g", ids[1], gen+1, "i1"), kerr.UnknownMemberID.Code)
	wantCode(t, "leader told to rejoin", h.heartbeat(4, "g", ids[0], gen+1, "i0"), kerr.RebalanceInProgress.Code)
}

// A static member's session expires like any other.
func TestStaticMemberSessionExpires(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.staticGroup("g", withTimeouts(10*time.Second, 5*time.Second))
	h.advance(9 * time.Second)
	wantCode(t, "leader hb", h.heartbeat(4, "g", ids[0], gen, "i0"), 0)
	h.advance(time.Second) // 10s since the follower's SyncGroup
	wantCode(t, "static member expired", h.heartbeat(4, "g", ids[1], gen, "i1"), kerr.UnknownMemberID.Code)
	wantCode(t, "leader told to rejoin", h.heartbeat(4, "g", ids[0], gen, "i0"), kerr.RebalanceInProgress.Code)
}

// KIP-345 LeaveGroup v3+: a batch of members, named by member id or, for
// administrative removal, by instance id alone.
func TestLeaveGroupBatchByInstance(t *testing.T) {
	h := newHarness(t)
	ids, _ := h.staticGroup("g")
	r := h.c.LeaveGroup(context.Background(), leaveReq(3, "g",
		leaving("", "i0"),
		leaving(ids[1], "i1"),
		leaving("", "i9"),
	))
	if r.ErrorCode != 0 || len(r.Members) != 3 {
		t.Fatalf("leave %+v", r)
	}
	want := []int16{0, 0, kerr.UnknownMemberID.Code}
	for i, m := range r.Members {
		wantCode(t, "member "+m.MemberID, m.ErrorCode, want[i])
	}
	if r.Members[0].InstanceID == nil || *r.Members[0].InstanceID != "i0" {
		t.Fatalf("response member %+v", r.Members[0])
	}
	if h.state("g") != "Empty" {
		t.Fatalf("state %s", h.state("g"))
	}
}

// A second instance using a live instance id with the old member id is
// fenced at JoinGroup; a duplicate instance with an empty member id takes
// over (the other is fenced from then on), as in Kafka.
func TestStaticDuplicateInstance(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.staticGroup("g")
	waiting := h.syncAsync(func() *kmsg.SyncGroupRequest {
		r := syncReq(5, "g", ids[1], gen, nil)
		i := "i1"
		r.InstanceID = &i
		return r
	}())
	wantCode(t, "stable sync", recv(t, waiting).ErrorCode, 0)
	r := h.join(joinReq(9, "g", "", withInstance("i1")))
	wantCode(t, "takeover", r.ErrorCode, 0)
	wantCode(t, "fenced", h.heartbeat(4, "g", ids[1], gen, "i1"), kerr.FencedInstanceID.Code)
}

// A static member rejoining during CompletingRebalance triggers a new
// rebalance (the leader may assign to the old id), and one waiting in
// PreparingRebalance just waits under its new id.
func TestStaticRejoinDuringRebalance(t *testing.T) {
	h := newHarness(t)
	ids, _ := h.staticGroup("g")
	a := h.joinAsync(joinReq(9, "g", ids[0], withInstance("i0")))
	h.waitAwaiting("g", 1)
	b := h.joinAsync(joinReq(9, "g", "", withInstance("i1")))
	ra, rb := recv(t, a), recv(t, b)
	if ra.ErrorCode != 0 || rb.ErrorCode != 0 || rb.MemberID == ids[1] || len(ra.Members) != 2 {
		t.Fatalf("a %+v b %+v", ra, rb)
	}
	if h.state("g") != "CompletingRebalance" {
		t.Fatalf("state %s", h.state("g"))
	}
	c := h.joinAsync(joinReq(9, "g", "", withInstance("i1")))
	h.waitAwaiting("g", 1)
	if h.state("g") != "PreparingRebalance" {
		t.Fatalf("state %s", h.state("g"))
	}
	pending(t, c)
}

// Kafka's maybeElectNewJoinedLeader: a static leader that misses the
// rebalance stays a member, but a member that rejoined leads.
func TestStaticLeaderMissesRebalance(t *testing.T) {
	h := newHarness(t)
	opt := withTimeouts(30*time.Second, 5*time.Second)
	ids, gen := h.staticGroup("g", opt)
	b := h.joinAsync(joinReq(9, "g", ids[1], withInstance("i1"), opt, withProtocols(proto("range", consumerMeta("t", "u")))))
	h.waitAwaiting("g", 1)
	h.advance(5 * time.Second)
	rb := recv(t, b)
	if rb.ErrorCode != 0 || rb.LeaderID != ids[1] || len(rb.Members) != 2 || rb.Generation != gen+1 {
		t.Fatalf("join %+v", rb)
	}
}

// If no member rejoins (only static members that stay silent), the join
// phase is extended by another rebalance timeout until sessions expire,
// and the group then becomes Empty.
func TestNoMemberRejoins(t *testing.T) {
	h := newHarness(t)
	opt := withTimeouts(12*time.Second, 5*time.Second)
	h.staticGroup("g", opt)
	r := h.c.LeaveGroup(context.Background(), leaveReq(5, "g", leaving("", "i9")))
	wantCode(t, "unknown instance", r.Members[0].ErrorCode, kerr.UnknownMemberID.Code)
	// Something starts a rebalance (as a dynamic member leaving would);
	// the static members stay silent.
	h.inspect("g", func(g *group) { g.prepareRebalance("test") })
	h.advance(5 * time.Second) // rebalance timeout: nobody rejoined
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s, want still PreparingRebalance", s)
	}
	h.advance(7 * time.Second) // sessions (12s since the sync) expire
	if s := h.state("g"); s != "Empty" {
		t.Fatalf("state %s, want Empty once the silent static members expired", s)
	}
}

// If persisting a static member's new id fails, the replacement is undone:
// the old member id keeps working and the joiner gets the error.
func TestStaticRejoinStoreFailure(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.staticGroup("g")
	h.store.setFail(errDisk)
	r := h.join(joinReq(9, "g", "", withInstance("i1")))
	wantCode(t, "join", r.ErrorCode, kerr.NotCoordinator.Code) // Kafka: KAFKA_STORAGE_ERROR -> NOT_COORDINATOR
	h.store.setFail(nil)
	wantCode(t, "old id still valid", h.heartbeat(4, "g", ids[1], gen, "i1"), 0)
	if h.state("g") != "Stable" {
		t.Fatal(h.state("g"))
	}
}
