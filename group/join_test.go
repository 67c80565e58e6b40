package group

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka: a new group's first member waits group.initial.rebalance.delay.ms
// (InitialDelayedJoin) and the leader receives every member's metadata.
func TestJoinSyncSingleMember(t *testing.T) {
	h := newHarness(t)
	ctx := WithClient(context.Background(), "client-a", "/10.0.0.1")

	// KIP-394: v4+ with an empty member id gets MEMBER_ID_REQUIRED and a
	// generated "clientId-uuid".
	r := h.c.JoinGroup(ctx, joinReq(9, "g", ""))
	wantCode(t, "first join", r.ErrorCode, kerr.MemberIDRequired.Code)
	if !strings.HasPrefix(r.MemberID, "client-a-") || len(r.MemberID) != len("client-a-")+36 {
		t.Fatalf("member id %q is not clientId-uuid", r.MemberID)
	}
	if r.Generation != -1 {
		t.Fatalf("generation %d, want -1", r.Generation)
	}
	id := r.MemberID
	if got := h.state("g"); got != "Empty" {
		t.Fatalf("state %s, want Empty (pending members are not members)", got)
	}

	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- h.c.JoinGroup(ctx, joinReq(9, "g", id)) }()
	h.waitAwaiting("g", 1)
	if got := h.state("g"); got != "PreparingRebalance" {
		t.Fatalf("state %s, want PreparingRebalance", got)
	}
	h.advance(2999 * time.Millisecond)
	pending(t, ch)
	h.advance(time.Millisecond)
	jr := recv(t, ch)
	wantCode(t, "join", jr.ErrorCode, 0)
	if jr.Generation != 1 || jr.LeaderID != id || jr.MemberID != id || *jr.Protocol != "range" || *jr.ProtocolType != "consumer" {
		t.Fatalf("join response %+v", jr)
	}
	if len(jr.Members) != 1 || jr.Members[0].MemberID != id || !bytes.Equal(jr.Members[0].ProtocolMetadata, consumerMeta("t")) {
		t.Fatalf("leader's members %+v", jr.Members)
	}
	if got := h.state("g"); got != "CompletingRebalance" {
		t.Fatalf("state %s, want CompletingRebalance", got)
	}

	sr := h.sync(syncReq(5, "g", id, 1, map[string][]byte{id: []byte("A")}))
	wantCode(t, "sync", sr.ErrorCode, 0)
	if string(sr.MemberAssignment) != "A" || *sr.Protocol != "range" || *sr.ProtocolType != "consumer" {
		t.Fatalf("sync response %+v", sr)
	}
	if got := h.state("g"); got != "Stable" {
		t.Fatalf("state %s, want Stable", got)
	}
	wantCode(t, "heartbeat", h.heartbeat(4, "g", id, 1), 0)

	// DescribeGroups shows client id, host, metadata and assignment.
	dr := h.c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"g"}})
	dg := dr.Groups[0]
	if dg.State != "Stable" || dg.Protocol != "range" || dg.ProtocolType != "consumer" || len(dg.Members) != 1 {
		t.Fatalf("describe %+v", dg)
	}
	m := dg.Members[0]
	if m.MemberID != id || m.ClientID != "client-a" || m.ClientHost != "/10.0.0.1" ||
		!bytes.Equal(m.ProtocolMetadata, consumerMeta("t")) || string(m.MemberAssignment) != "A" {
		t.Fatalf("described member %+v", m)
	}
}

// Kafka's InitialDelayedJoin: members arriving during the delay extend it
// by the delay, up to the rebalance timeout.
func TestInitialRebalanceDelayExtends(t *testing.T) {
	h := newHarness(t) // delay 3s, rebalance timeout 20s in joinReq
	a := h.joinAsync(joinReq(3, "g", ""))
	h.waitAwaiting("g", 1)
	h.advance(2 * time.Second)
	b := h.joinAsync(joinReq(3, "g", ""))
	h.waitAwaiting("g", 2)
	h.advance(time.Second) // first delay over, a member arrived: wait 3s more
	pending(t, a)
	h.advance(2999 * time.Millisecond)
	pending(t, a)
	h.advance(time.Millisecond)
	ra, rb := recv(t, a), recv(t, b)
	wantCode(t, "a", ra.ErrorCode, 0)
	wantCode(t, "b", rb.ErrorCode, 0)
	if ra.Generation != 1 || rb.Generation != 1 || ra.LeaderID != ra.MemberID || rb.LeaderID != ra.MemberID {
		t.Fatalf("a %+v b %+v", ra, rb)
	}
	if len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("leader got %d members, follower %d", len(ra.Members), len(rb.Members))
	}
}

// The extension is capped by the rebalance timeout (remaining time).
func TestInitialRebalanceDelayCappedByRebalanceTimeout(t *testing.T) {
	h := newHarness(t)
	opt := withTimeouts(10*time.Second, 5*time.Second) // remaining = 5s-3s = 2s
	a := h.joinAsync(joinReq(3, "g", "", opt))
	h.waitAwaiting("g", 1)
	h.advance(time.Second)
	h.joinAsync(joinReq(3, "g", "", opt))
	h.waitAwaiting("g", 2)
	h.advance(2 * time.Second) // t=3s: extend by min(3s, 2s)
	pending(t, a)
	h.advance(2 * time.Second) // t=5s
	wantCode(t, "a", recv(t, a).ErrorCode, 0)
}

// A group that is not new (generation > 0) gets no extension, and with a
// zero delay the first rebalance completes at once.
func TestZeroInitialDelay(t *testing.T) {
	h := newHarness(t, noDelay)
	a := h.joinAsync(joinReq(3, "g", ""))
	h.waitAwaiting("g", 1)
	h.fire()
	r := recv(t, a)
	wantCode(t, "join", r.ErrorCode, 0)
	if r.Generation != 1 {
		t.Fatalf("generation %d", r.Generation)
	}
}

// Kafka: once Stable, a new member triggers a rebalance; existing members
// learn of it from Heartbeat (REBALANCE_IN_PROGRESS) and rejoin; the
// rebalance completes as soon as all known members have rejoined.
func TestRebalanceCompletesWhenAllRejoin(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	r := h.join(joinReq(9, "g", ""))
	newID := r.MemberID
	c := h.joinAsync(joinReq(9, "g", newID))
	h.waitAwaiting("g", 1)
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
	wantCode(t, "heartbeat during rebalance", h.heartbeat(4, "g", ids[0], gen), kerr.RebalanceInProgress.Code)
	// Commits are still accepted during PreparingRebalance.
	allCodes(t, h.commit(commitReq(8, "g", ids[1], gen, map[string]map[int32]int64{"t": {0: 5}})), 0)
	a := h.joinAsync(joinReq(9, "g", ids[0]))
	h.waitAwaiting("g", 2)
	pending(t, c)
	b := h.joinAsync(joinReq(9, "g", ids[1]))
	ra, rb, rc := recv(t, a), recv(t, b), recv(t, c)
	for _, r := range []*kmsg.JoinGroupResponse{ra, rb, rc} {
		wantCode(t, "rejoin", r.ErrorCode, 0)
		if r.Generation != gen+1 || r.LeaderID != ids[0] {
			t.Fatalf("rejoin %+v", r)
		}
	}
	if len(ra.Members) != 3 {
		t.Fatalf("leader got %d members", len(ra.Members))
	}
	// Followers wait for the leader's SyncGroup.
	fb := h.syncAsync(syncReq(3, "g", ids[1], gen+1, nil))
	h.waitSyncing("g", ids[1])
	pending(t, fb)
	wantCode(t, "heartbeat while completing", h.heartbeat(4, "g", ids[1], gen+1), 0)
	// A commit now gets REBALANCE_IN_PROGRESS (CompletingRebalance).
	allCodes(t, h.commit(commitReq(8, "g", ids[1], gen+1, map[string]map[int32]int64{"t": {0: 6}})), kerr.RebalanceInProgress.Code)
	lr := h.sync(syncReq(3, "g", ids[0], gen+1, map[string][]byte{ids[0]: []byte("x"), ids[1]: []byte("y")}))
	wantCode(t, "leader sync", lr.ErrorCode, 0)
	if string(lr.MemberAssignment) != "x" {
		t.Fatalf("leader assignment %q", lr.MemberAssignment)
	}
	if got := recv(t, fb); got.ErrorCode != 0 || string(got.MemberAssignment) != "y" {
		t.Fatalf("follower sync %+v", got)
	}
	// The member the leader left out gets an empty assignment.
	if got := h.sync(syncReq(3, "g", newID, gen+1, nil)); got.ErrorCode != 0 || len(got.MemberAssignment) != 0 {
		t.Fatalf("new member sync %+v", got)
	}
}

// Kafka: members that do not rejoin within the rebalance timeout are
// removed when the join phase completes.
func TestRebalanceTimeoutRemovesMembersThatDidNotRejoin(t *testing.T) {
	h := newHarness(t)
	opt := withTimeouts(30*time.Second, 5*time.Second)
	ids, gen := h.stableGroup("g", 2, opt)
	// The leader rejoins (forcing a rebalance); the follower stays silent
	// but heartbeats: heartbeats do not replace rejoining.
	a := h.joinAsync(joinReq(9, "g", ids[0], opt))
	h.waitAwaiting("g", 1)
	h.advance(4 * time.Second)
	wantCode(t, "hb", h.heartbeat(4, "g", ids[1], gen), kerr.RebalanceInProgress.Code)
	pending(t, a)
	h.advance(time.Second)
	ra := recv(t, a)
	wantCode(t, "join", ra.ErrorCode, 0)
	if ra.LeaderID != ids[0] || len(ra.Members) != 1 || ra.Generation != gen+1 {
		t.Fatalf("join %+v", ra)
	}
	wantCode(t, "removed member hb", h.heartbeat(4, "g", ids[1], gen), kerr.UnknownMemberID.Code)
}

// Kafka's maybeElectNewJoinedLeader: if the leader does not rejoin, one of
// the members that did becomes leader.
func TestLeaderThatDoesNotRejoinIsReplaced(t *testing.T) {
	h := newHarness(t)
	opt := withTimeouts(30*time.Second, 5*time.Second)
	ids, gen := h.stableGroup("g", 2, opt)
	// The follower changes its subscription (forcing a rebalance); the
	// leader never rejoins.
	b := h.joinAsync(joinReq(9, "g", ids[1], opt, withProtocols(proto("range", consumerMeta("t", "u")))))
	h.waitAwaiting("g", 1)
	h.advance(5 * time.Second)
	rb := recv(t, b)
	wantCode(t, "join", rb.ErrorCode, 0)
	if rb.LeaderID != ids[1] || len(rb.Members) != 1 || rb.Generation != gen+1 {
		t.Fatalf("new leader should be the member that rejoined: %+v", rb)
	}
}

// Kafka's selectProtocol: among protocols all members support, the one
// most members prefer; INCONSISTENT_GROUP_PROTOCOL for a member sharing
// none; protocol type mismatch is inconsistent too.
func TestProtocolSelection(t *testing.T) {
	h := newHarness(t)
	m := consumerMeta("t")
	a := h.joinAsync(joinReq(3, "g", "", withProtocols(proto("range", m), proto("roundrobin", m), proto("sticky", m))))
	h.waitAwaiting("g", 1)
	b := h.joinAsync(joinReq(3, "g", "", withProtocols(proto("roundrobin", m), proto("range", m))))
	h.waitAwaiting("g", 2)
	c := h.joinAsync(joinReq(3, "g", "", withProtocols(proto("roundrobin", m), proto("range", m))))
	h.waitAwaiting("g", 3)

	r := h.join(joinReq(3, "g", "", withProtocols(proto("cooperative-sticky", m))))
	wantCode(t, "no common protocol", r.ErrorCode, kerr.InconsistentGroupProtocol.Code)
	r = h.join(joinReq(3, "g", "", withProtocolType("connect")))
	wantCode(t, "protocol type mismatch", r.ErrorCode, kerr.InconsistentGroupProtocol.Code)
	r = h.join(joinReq(3, "other", "", withProtocolType("")))
	wantCode(t, "empty protocol type", r.ErrorCode, kerr.InconsistentGroupProtocol.Code)
	r = h.join(joinReq(3, "other", "", withProtocols()))
	wantCode(t, "no protocols", r.ErrorCode, kerr.InconsistentGroupProtocol.Code)

	h.advance(3 * time.Second) // extended: members arrived during the delay
	h.advance(3 * time.Second)
	for _, ch := range []<-chan *kmsg.JoinGroupResponse{a, b, c} {
		r := recv(t, ch)
		wantCode(t, "join", r.ErrorCode, 0)
		if r.Protocol == nil || *r.Protocol != "roundrobin" {
			t.Fatalf("selected %v, want roundrobin (2 votes to 1)", r.Protocol)
		}
	}
}

// Kafka's JoinGroup checks the session timeout against
// group.min/max.session.timeout.ms.
func TestInvalidSessionTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MinSessionTimeout = 6 * time.Second; c.MaxSessionTimeout = time.Minute })
	r := h.join(joinReq(9, "g", "", withTimeouts(5999*time.Millisecond, 10*time.Second)))
	wantCode(t, "below min", r.ErrorCode, kerr.InvalidSessionTimeout.Code)
	r = h.join(joinReq(9, "g", "", withTimeouts(time.Minute+time.Millisecond, 10*time.Second)))
	wantCode(t, "above max", r.ErrorCode, kerr.InvalidSessionTimeout.Code)
	r = h.join(joinReq(9, "g", "", withTimeouts(6*time.Second, 10*time.Second)))
	wantCode(t, "at min", r.ErrorCode, kerr.MemberIDRequired.Code)
}

// Group ids: JoinGroup/SyncGroup/Heartbeat/LeaveGroup need a non-empty one.
func TestInvalidGroupID(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "join", h.join(joinReq(9, "", "")).ErrorCode, kerr.InvalidGroupID.Code)
	wantCode(t, "sync", h.sync(syncReq(5, "", "m", 1, nil)).ErrorCode, kerr.InvalidGroupID.Code)
	wantCode(t, "heartbeat", h.heartbeat(4, "", "m", 1), kerr.InvalidGroupID.Code)
	wantCode(t, "leave", h.c.LeaveGroup(context.Background(), leaveReq(5, "", leaving("m"))).ErrorCode, kerr.InvalidGroupID.Code)
}

// Joining with a member id the group does not know: UNKNOWN_MEMBER_ID,
// for an unknown group too (Kafka only creates a group for an empty id).
func TestJoinUnknownMember(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "unknown group", h.join(joinReq(9, "g", "nope")).ErrorCode, kerr.UnknownMemberID.Code)
	if h.state("g") != "Dead" {
		t.Fatal("group created by a join with a member id")
	}
	h.stableGroup("g", 1)
	wantCode(t, "unknown member", h.join(joinReq(9, "g", "nope")).ErrorCode, kerr.UnknownMemberID.Code)
}

// KIP-394: the pending member id expires after the session timeout if the
// member never joins with it; a pending member also holds up the
// completion of a rebalance until then.
func TestPendingMemberExpires(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 1)
	r := h.join(joinReq(9, "g", "", withTimeouts(10*time.Second, 20*time.Second)))
	pendingID := r.MemberID
	// The leader rejoins to force a rebalance; it waits for the pending one.
	a := h.joinAsync(joinReq(9, "g", ids[0]))
	h.waitAwaiting("g", 1)
	h.advance(5 * time.Second)
	wantCode(t, "hb", h.heartbeat(4, "g", ids[0], gen), kerr.RebalanceInProgress.Code)
	pending(t, a)
	h.advance(5 * time.Second) // the pending member's session runs out
	ra := recv(t, a)
	wantCode(t, "join", ra.ErrorCode, 0)
	if len(ra.Members) != 1 {
		t.Fatalf("members %d", len(ra.Members))
	}
	wantCode(t, "late join with the expired id", h.join(joinReq(9, "g", pendingID)).ErrorCode, kerr.UnknownMemberID.Code)
}

// JoinGroup v0-v3 with an empty member id joins at once under a generated
// id; v0 has no rebalance timeout (the session timeout serves) and its
// protocol name is not nullable.
func TestJoinOldVersions(t *testing.T) {
	h := newHarness(t, noDelay)
	req := joinReq(0, "g", "", withTimeouts(time.Second, 0))
	ch := h.joinAsync(req)
	h.waitAwaiting("g", 1)
	h.fire()
	r := recv(t, ch)
	wantCode(t, "v0 join", r.ErrorCode, 0)
	var rebalance time.Duration
	h.inspect("g", func(g *group) { rebalance = g.members[r.MemberID].rebalanceTimeout })
	if rebalance != time.Second {
		t.Fatalf("v0 rebalance timeout %v, want the session timeout", rebalance)
	}
	// An error answer before v7 still carries a non-null protocol name.
	e := h.join(joinReq(6, "g", "nope"))
	if e.Protocol == nil || *e.Protocol != "" || e.Generation != -1 {
		t.Fatalf("v6 error response %+v", e)
	}
	e = h.join(joinReq(7, "g", "nope"))
	if e.Protocol != nil || e.ProtocolType != nil {
		t.Fatalf("v7 error response should have null protocol: %+v", e)
	}
}

// Kafka's doCurrentMemberJoinGroup: a follower rejoining a Stable group
// with unchanged metadata gets the current generation back without a
// rebalance; with changed metadata, or as the leader, it forces one.
func TestRejoinStable(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	r := h.join(joinReq(9, "g", ids[1]))
	wantCode(t, "follower rejoin", r.ErrorCode, 0)
	if r.Generation != gen || r.LeaderID != ids[0] || len(r.Members) != 0 || h.state("g") != "Stable" {
		t.Fatalf("follower rejoin %+v in %s", r, h.state("g"))
	}
	ch := h.joinAsync(joinReq(9, "g", ids[1], withProtocols(proto("range", consumerMeta("t", "u")))))
	h.waitAwaiting("g", 1)
	if h.state("g") != "PreparingRebalance" {
		t.Fatal("changed metadata did not trigger a rebalance")
	}
	l := h.joinAsync(joinReq(9, "g", ids[0]))
	recv(t, ch)
	recv(t, l)
	// The subscription change is visible to OffsetDelete afterwards.
	h.inspect("g", func(g *group) {
		if !g.isSubscribedTo("u") {
			t.Fatal("subscription to u not recorded")
		}
	})
}

// Kafka: during CompletingRebalance a member repeating its JoinGroup with
// the same metadata gets the same answer again (it lost the first).
func TestRejoinCompletingRebalance(t *testing.T) {
	h := newHarness(t, noDelay)
	a := h.joinAsync(joinReq(3, "g", ""))
	h.waitAwaiting("g", 1)
	h.fire()
	ra := recv(t, a)
	again := h.join(joinReq(3, "g", ra.MemberID))
	if again.ErrorCode != 0 || again.Generation != ra.Generation || len(again.Members) != 1 || again.LeaderID != ra.MemberID {
		t.Fatalf("repeated join %+v", again)
	}
}

// group.max.size: new members beyond it get GROUP_MAX_SIZE_REACHED.
func TestMaxGroupSize(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxGroupSize = 2 })
	h.stableGroup("g", 2)
	r := h.join(joinReq(9, "g", ""))
	wantCode(t, "third member", r.ErrorCode, kerr.GroupMaxSizeReached.Code)
}

// Kafka's handleSyncGroup error paths.
func TestSyncErrors(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "unknown group", h.sync(syncReq(5, "g", "m", 1, nil)).ErrorCode, kerr.UnknownMemberID.Code)
	ids, gen := h.stableGroup("g", 2)
	wantCode(t, "unknown member", h.sync(syncReq(5, "g", "nope", gen, nil)).ErrorCode, kerr.UnknownMemberID.Code)
	wantCode(t, "old generation", h.sync(syncReq(5, "g", ids[1], gen-1, nil)).ErrorCode, kerr.IllegalGeneration.Code)
	bad := syncReq(5, "g", ids[1], gen, nil)
	bad.Protocol = nil
	wantCode(t, "v5 without protocol", h.sync(bad).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	bad = syncReq(5, "g", ids[1], gen, nil)
	p := "roundrobin"
	bad.Protocol = &p
	wantCode(t, "wrong protocol", h.sync(bad).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	bad = syncReq(5, "g", ids[1], gen, nil)
	pt := "connect"
	bad.ProtocolType = &pt
	wantCode(t, "wrong protocol type", h.sync(bad).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	// Stable: SyncGroup returns the current assignment again.
	r := h.sync(syncReq(0, "g", ids[1], gen, nil))
	if r.ErrorCode != 0 || string(r.MemberAssignment) != "assignment-of-"+ids[1] {
		t.Fatalf("stable sync %+v", r)
	}
	// PreparingRebalance: REBALANCE_IN_PROGRESS.
	h.joinAsync(joinReq(9, "g", ids[0]))
	h.waitAwaiting("g", 1)
	wantCode(t, "during rebalance", h.sync(syncReq(5, "g", ids[1], gen, nil)).ErrorCode, kerr.RebalanceInProgress.Code)
}

// Kafka's handleHeartbeat: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// REBALANCE_IN_PROGRESS exactly where it returns them.
func TestHeartbeatErrors(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "unknown group", h.heartbeat(0, "g", "m", 1), kerr.UnknownMemberID.Code)
	ids, gen := h.stableGroup("g", 2)
	wantCode(t, "ok", h.heartbeat(0, "g", ids[1], gen), 0)
	wantCode(t, "unknown member", h.heartbeat(4, "g", "nope", gen), kerr.UnknownMemberID.Code)
	wantCode(t, "old generation", h.heartbeat(4, "g", ids[1], gen-1), kerr.IllegalGeneration.Code)
	wantCode(t, "future generation", h.heartbeat(4, "g", ids[1], gen+1), kerr.IllegalGeneration.Code)
	wantCode(t, "unknown instance", h.heartbeat(4, "g", ids[1], gen, "i"), kerr.UnknownMemberID.Code)
}

// Session timeouts: a member that stops heartbeating is removed after its
// session timeout and the group rebalances; heartbeats, SyncGroup and
// commits keep it alive.
func TestSessionTimeout(t *testing.T) {
	h := newHarness(t)
	opt := withTimeouts(10*time.Second, 20*time.Second)
	ids, gen := h.stableGroup("g", 2, opt)
	for i := 0; i < 3; i++ {
		h.advance(6 * time.Second)
		wantCode(t, "leader hb", h.heartbeat(4, "g", ids[0], gen), 0)
		switch i {
		case 0:
			wantCode(t, "follower hb", h.heartbeat(4, "g", ids[1], gen), 0)
		case 1:
			allCodes(t, h.commit(commitReq(8, "g", ids[1], gen, map[string]map[int32]int64{"t": {0: 1}})), 0)
		case 2:
			wantCode(t, "sync", h.sync(syncReq(5, "g", ids[1], gen, nil)).ErrorCode, 0)
		}
	}
	h.advance(6 * time.Second)
	wantCode(t, "leader hb", h.heartbeat(4, "g", ids[0], gen), 0)
	h.advance(4 * time.Second) // 10s since the follower's last sign of life
	wantCode(t, "follower gone", h.heartbeat(4, "g", ids[1], gen), kerr.UnknownMemberID.Code)
	wantCode(t, "leader told to rejoin", h.heartbeat(4, "g", ids[0], gen), kerr.RebalanceInProgress.Code)
	r := h.join(joinReq(9, "g", ids[0], opt))
	if r.ErrorCode != 0 || len(r.Members) != 1 || r.Generation != gen+1 {
		t.Fatalf("rejoin %+v", r)
	}
	// Nobody syncs: after the rebalance timeout the pending-sync members
	// are removed and the group rebalances to Empty.
	h.advance(20 * time.Second)
	if s := h.state("g"); s != "Empty" {
		t.Fatalf("state %s, want Empty after nobody synced", s)
	}
}

// Kafka: when the last member leaves, the rebalance completes at once and
// the group becomes Empty with a new generation written to the log.
func TestLeaveGroup(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	r := h.c.LeaveGroup(context.Background(), leaveReq(0, "g", leaving(ids[1])))
	wantCode(t, "v0 leave", r.ErrorCode, 0)
	wantCode(t, "v0 leave again", h.c.LeaveGroup(context.Background(), leaveReq(2, "g", leaving(ids[1]))).ErrorCode, kerr.UnknownMemberID.Code)
	if h.state("g") != "PreparingRebalance" {
		t.Fatalf("state %s", h.state("g"))
	}
	r = h.c.LeaveGroup(context.Background(), leaveReq(5, "g", leaving(ids[0]), leaving("nope")))
	if r.ErrorCode != 0 || len(r.Members) != 2 || r.Members[0].ErrorCode != 0 || r.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("v5 leave %+v", r)
	}
	if h.state("g") != "Empty" || h.generation("g") != gen+1 {
		t.Fatalf("state %s gen %d", h.state("g"), h.generation("g"))
	}
	// Unknown group: per-member UNKNOWN_MEMBER_ID, no top-level error.
	r = h.c.LeaveGroup(context.Background(), leaveReq(3, "x", leaving("a")))
	if r.ErrorCode != 0 || r.Members[0].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown group leave %+v", r)
	}
}

// A member leaving while others wait in the join phase lets the rebalance
// complete without it.
func TestLeaveDuringRebalance(t *testing.T) {
	h := newHarness(t)
	ids, _ := h.stableGroup("g", 2)
	a := h.joinAsync(joinReq(9, "g", ids[0]))
	h.waitAwaiting("g", 1)
	h.c.LeaveGroup(context.Background(), leaveReq(4, "g", leaving(ids[1])))
	ra := recv(t, a)
	if ra.ErrorCode != 0 || len(ra.Members) != 1 {
		t.Fatalf("join %+v", ra)
	}
}

// A pending member (KIP-394) can leave too.
func TestLeavePendingMember(t *testing.T) {
	h := newHarness(t)
	r := h.join(joinReq(9, "g", ""))
	lr := h.c.LeaveGroup(context.Background(), leaveReq(3, "g", leaving(r.MemberID)))
	if lr.Members[0].ErrorCode != 0 {
		t.Fatalf("leave %+v", lr)
	}
	wantCode(t, "join after leave", h.join(joinReq(9, "g", r.MemberID)).ErrorCode, kerr.UnknownMemberID.Code)
}

// JoinGroup honours ctx; a member whose generated id was never delivered
// (v0-v3) is dropped when its client goes away.
func TestJoinContextCancelled(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.joinAsyncCtx(ctx, joinReq(3, "g", ""))
	h.waitAwaiting("g", 1)
	cancel()
	r := recv(t, ch)
	if r.ErrorCode == 0 {
		t.Fatalf("cancelled join answered %+v", r)
	}
	h.eventually("member dropped", func() bool {
		n := -1
		h.inspect("g", func(g *group) { n = len(g.members) })
		return n == 0
	})
	// A v4+ member knows its id and stays (as in Kafka).
	id := h.join(joinReq(9, "g2", "")).MemberID
	ctx, cancel = context.WithCancel(context.Background())
	ch = h.joinAsyncCtx(ctx, joinReq(9, "g2", id))
	h.waitAwaiting("g2", 1)
	cancel()
	recv(t, ch)
	h.advance(3 * time.Second)
	if h.state("g2") != "CompletingRebalance" {
		t.Fatalf("state %s", h.state("g2"))
	}
}

// Close answers waiting joins with NOT_COORDINATOR (Kafka's
// onGroupUnloaded) and later requests with COORDINATOR_NOT_AVAILABLE.
func TestClose(t *testing.T) {
	h := newHarness(t)
	ch := h.joinAsync(joinReq(3, "g", ""))
	h.waitAwaiting("g", 1)
	h.c.Close()
	wantCode(t, "waiting join", recv(t, ch).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "join after close", h.join(joinReq(3, "g", "")).ErrorCode, kerr.CoordinatorNotAvailable.Code)
	wantCode(t, "heartbeat after close", h.heartbeat(4, "g", "m", 1), kerr.CoordinatorNotAvailable.Code)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, map[string]map[int32]int64{"t": {0: 1}})), kerr.CoordinatorNotAvailable.Code)
}

// SyncGroup honours ctx too: a follower whose client went away stops
// waiting; as in Kafka it still counts as synced.
func TestSyncContextCancelled(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	a := h.joinAsync(joinReq(9, "g", ids[0]))
	h.waitAwaiting("g", 1)
	b := h.joinAsync(joinReq(9, "g", ids[1]))
	recv(t, a)
	recv(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- h.c.SyncGroup(ctx, syncReq(5, "g", ids[1], gen+1, nil)) }()
	h.waitSyncing("g", ids[1])
	cancel()
	if r := recv(t, ch); r.ErrorCode == 0 {
		t.Fatalf("cancelled sync answered %+v", r)
	}
	wantCode(t, "leader sync", h.sync(syncReq(5, "g", ids[0], gen+1, map[string][]byte{ids[0]: []byte("a"), ids[1]: []byte("b")})).ErrorCode, 0)
	if h.state("g") != "Stable" {
		t.Fatal(h.state("g"))
	}
	// Groups summarizes.
	gs := h.c.Groups()
	if len(gs) != 1 || gs[0] != (Summary{Name: "g", State: "Stable", ProtocolType: "consumer", Protocol: "range", Generation: gen + 1, Members: 2}) {
		t.Fatalf("groups %+v", gs)
	}
	// An active consumer group's subscribed offsets do not expire.
	allCodes(t, h.commit(commitReq(8, "g", ids[0], gen+1, offs{"t": {0: 1}})), 0)
	if oi := h.c.Committed("g")["t"][0]; !oi.ExpireTime.IsZero() {
		t.Fatalf("expire time %v for an active subscription", oi.ExpireTime)
	}
}
