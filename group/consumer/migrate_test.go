package consumer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/offsetsfmt"
)

// subscription is a classic member's ConsumerProtocolSubscription (v1,
// as the Java consumer's cooperative-sticky sends it) for topic t, owning
// parts.
func subscription(t string, parts ...int32) []byte {
	s := kmsg.NewConsumerMemberMetadata()
	s.Version = 1
	s.Topics = []string{t}
	if len(parts) > 0 {
		s.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: t, Partitions: parts}}
	}
	return s.AppendTo(nil)
}

func assignmentBytes(t string, parts ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Version = 1
	a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: t, Partitions: parts}}
	return a.AppendTo(nil)
}

func assigned(t *testing.T, b []byte) []int32 {
	t.Helper()
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	var out []int32
	for _, at := range a.Topics {
		out = append(out, at.Partitions...)
	}
	slices.Sort(out)
	return out
}

// migration is a coordinator with a classic group g of two members, c1
// owning t-0..2 and c2 t-3..5 at generation 5, that a consumer-protocol
// member k joins.
type migration struct {
	t      *testing.T
	c      *Coordinator
	cfg    Config
	topics *fakeTopics
	now    time.Time
	recs   []Record
}

func classicGroup() *ClassicGroup {
	member := func(id string, parts ...int32) ClassicMember {
		return ClassicMember{ID: id, ClientID: "cl-" + id, ClientHost: "/127.0.0.1", RebalanceTimeout: 30 * time.Second, SessionTimeout: 10 * time.Second,
			Protocols: []ClassicProtocol{{Name: "cooperative-sticky", Metadata: subscription("t", parts...)}}, Assignment: assignmentBytes("t", parts...)}
	}
	return &ClassicGroup{ID: "g", Generation: 5, ProtocolType: "consumer", Protocol: "cooperative-sticky", Leader: "c1",
		Members: []ClassicMember{member("c1", 0, 1, 2), member("c2", 3, 4, 5)}}
}

func newMigration(t *testing.T, policy MigrationPolicy) *migration {
	cfg := Config{MigrationPolicy: policy, AssignmentInterval: -1}
	return &migration{t: t, c: NewCoordinator(cfg), cfg: cfg, topics: &fakeTopics{parts: map[string]int32{"t": 6}, version: 1}, now: time.Unix(1_800_000_000, 0)}
}

func (m *migration) join(id string, from *ClassicGroup) *kmsg.ConsumerGroupHeartbeatResponse {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.RebalanceTimeoutMillis = 1, "g", id, 30000
	req.SubscribedTopicNames, req.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp, recs := m.c.HeartbeatFrom(m.now, Client{ID: id, Host: "/127.0.0.1"}, req, m.topics, from)
	m.recs = append(m.recs, recs...)
	return resp
}

func (m *migration) classicJoin(id string, version int16, owned ...int32) *kmsg.JoinGroupResponse {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID, req.ProtocolType = version, "g", id, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 30000
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "cooperative-sticky", Metadata: subscription("t", owned...)}}
	resp, recs := m.c.ClassicJoin(m.now, Client{ID: "cl-" + id, Host: "/127.0.0.1"}, req, m.topics, "new-member")
	m.recs = append(m.recs, recs...)
	return resp
}

func (m *migration) classicSync(id string, gen int32) *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 5, "g", id, gen
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("cooperative-sticky")
	return m.c.ClassicSync(m.now, req, m.topics)
}

func (m *migration) classicHeartbeat(id string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 4, "g", id, gen
	return m.c.ClassicHeartbeat(m.now, req).ErrorCode
}

func (m *migration) owned(id string) []int32 {
	var out []int32
	for _, ps := range m.c.Group("g").Member(id).OwnedPartitions() {
		out = append(out, ps...)
	}
	slices.Sort(out)
	return out
}

// TestUpgradeAndClassicMembers: the first consumer-protocol member of a
// classic group converts it (the classic members at their generation,
// owning their partitions), the classic members learn from
// REBALANCE_IN_PROGRESS that they must rejoin, give up partitions by
// rejoining without them, and the new member gets each partition only
// once it was given up; the records replay to the same group.
func TestUpgradeAndClassicMembers(t *testing.T) {
	m := newMigration(t, Bidirectional)
	resp := m.join("k", classicGroup())
	if resp.ErrorCode != 0 {
		t.Fatalf("join: %v %s", kerr.ErrorForCode(resp.ErrorCode), *resp.ErrorMessage)
	}
	g := m.c.Group("g")
	if g.Epoch != 6 || g.AssignmentEpoch != 6 {
		t.Fatalf("epochs %d/%d, want 6/6", g.Epoch, g.AssignmentEpoch)
	}
	if got := m.owned("c1"); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Fatalf("c1 owns %v after the upgrade", got)
	}
	if mem := g.Member("c1"); mem.Epoch != 5 || mem.Classic == nil || mem.Classic.SessionTimeout != 10*time.Second {
		t.Fatalf("c1 %+v", mem)
	}
	if resp.Assignment == nil || len(resp.Assignment.Topics) != 0 {
		t.Fatalf("k was given %+v while every partition is owned", resp.Assignment)
	}
	// The first records end the classic group's members' story: the
	// conversion writes each member, the epoch 5, targets, current
	// assignments, then the join bumps to 6.
	k, err := offsetsfmt.DecodeKey(m.recs[0].Key)
	if err != nil || k.Kind != offsetsfmt.ConsumerGroupMemberMetadata {
		t.Fatalf("first record %v %v", k, err)
	}
	v, err := offsetsfmt.Decode(m.recs[0].Key, m.recs[0].Value)
	if err != nil || v.Consumer.(*offsetsfmt.ConsumerGroupMemberMetadataValue).ClassicMemberMetadata == nil {
		t.Fatalf("first record %+v %v: no classic member metadata", v, err)
	}

	// Classic members behind the group epoch must rejoin.
	if code := m.classicHeartbeat("c1", 5); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("c1 heartbeat: %v", kerr.ErrorForCode(code))
	}
	if code := m.classicHeartbeat("c1", 4); code != kerr.IllegalGeneration.Code {
		t.Fatalf("c1 heartbeat at generation 4: %v", kerr.ErrorForCode(code))
	}
	if code := m.classicHeartbeat("k", 6); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of a consumer-protocol member: %v", kerr.ErrorForCode(code))
	}
	if s := m.classicSync("c1", 5); s.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("c1 sync before rejoining: %v", kerr.ErrorForCode(s.ErrorCode))
	}
	// c1 rejoins still owning 0..2: it keeps what its target has and must
	// revoke the rest, at its epoch.
	j := m.classicJoin("c1", 9, 0, 1, 2)
	if j.ErrorCode != 0 || j.Generation != 5 || *j.ProtocolType != "consumer" || *j.Protocol != "cooperative-sticky" || j.LeaderID != "" || len(j.Members) != 0 {
		t.Fatalf("c1 join: %+v", j)
	}
	target := g.Target("c1").Count()
	if target != 2 {
		t.Fatalf("c1's target has %d partitions, want 2", target)
	}
	s := m.classicSync("c1", 5)
	if s.ErrorCode != 0 || len(assigned(t, s.MemberAssignment)) != 2 {
		t.Fatalf("c1 sync: %v %v", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
	}
	kept := assigned(t, s.MemberAssignment)
	// Until c1 rejoins without the revoked partition, k does not get it.
	m.join("k", nil) // not a join any more: a heartbeat with the epoch
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "k", 6
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	hb := func() *kmsg.ConsumerGroupHeartbeatResponse {
		resp, recs := m.c.Heartbeat(m.now, Client{ID: "k"}, req, m.topics)
		m.recs = append(m.recs, recs...)
		if resp.ErrorCode != 0 {
			t.Fatalf("k heartbeat: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp
	}
	hb()
	for _, p := range m.owned("k") {
		if slices.Contains([]int32{0, 1, 2}, p) {
			t.Fatalf("k owns %d while c1 has not revoked it", p)
		}
	}
	j = m.classicJoin("c1", 9, kept...)
	if j.ErrorCode != 0 || j.Generation != 6 {
		t.Fatalf("c1 rejoin: %+v", j)
	}
	if s := m.classicSync("c1", 6); s.ErrorCode != 0 || !slices.Equal(assigned(t, s.MemberAssignment), kept) {
		t.Fatalf("c1 sync at 6: %+v", s)
	}
	if code := m.classicHeartbeat("c1", 6); code != 0 {
		t.Fatalf("c1 heartbeat at 6: %v", kerr.ErrorForCode(code))
	}
	hb()
	if got := m.owned("k"); len(got) == 0 {
		t.Fatal("k got nothing once c1 revoked")
	}
	checkReplay(t, m.c, m.cfg, m.recs)
}

// TestClassicJoinErrors: the refusals of a classic member's requests to a
// consumer group, with Kafka's codes.
func TestClassicJoinErrors(t *testing.T) {
	m := newMigration(t, Bidirectional)
	m.join("k", classicGroup())
	if j := m.classicJoin("", 9); j.ErrorCode != kerr.MemberIDRequired.Code || j.MemberID != "new-member" {
		t.Fatalf("v9 join without an id: %+v", j)
	}
	if j := m.classicJoin("", 3); j.ErrorCode != 0 || j.MemberID != "new-member" {
		t.Fatalf("v3 join without an id: %+v", j)
	}
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID, req.ProtocolType, req.SessionTimeoutMillis = 9, "g", "x", "consumer", 10000
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: subscription("t")}}
	if resp, _ := m.c.ClassicJoin(m.now, Client{}, req, m.topics, "n"); resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("a protocol no classic member supports: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	req.ProtocolType = "connect"
	if resp, _ := m.c.ClassicJoin(m.now, Client{}, req, m.topics, "n"); resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("protocol type connect: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if j := m.classicJoin("k", 9); j.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("a consumer-protocol member's id in a JoinGroup: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version, s.Group, s.MemberID, s.Generation, s.Protocol = 5, "g", "c2", 5, kmsg.StringPtr("range")
	if r := m.c.ClassicSync(m.now, s, m.topics); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("sync naming another protocol: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	l := kmsg.NewPtrLeaveGroupRequest()
	l.Version, l.Group = 5, "g"
	l.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "c2"}, {MemberID: "k"}, {MemberID: "nobody"}}
	resp, recs := m.c.ClassicLeave(l)
	var codes []int16
	for _, r := range resp.Members {
		codes = append(codes, r.ErrorCode)
	}
	if !slices.Equal(codes, []int16{0, kerr.UnknownMemberID.Code, kerr.UnknownMemberID.Code}) || len(recs) == 0 {
		t.Fatalf("leave codes %v, %d records", codes, len(recs))
	}
	if m.c.Group("g").Member("c2") != nil {
		t.Fatal("c2 still a member after leaving")
	}
}

// TestUpgradeRefused: with upgrades disabled by the policy, or a classic
// group that is not a consumer group, or a heartbeat that is not a join,
// the answer is GROUP_ID_NOT_FOUND and the classic group stays.
func TestUpgradeRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		policy MigrationPolicy
		change func(*ClassicGroup)
	}{
		{"disabled", Disabled, nil},
		{"downgrade only", DowngradeOnly, nil},
		{"connect group", Bidirectional, func(g *ClassicGroup) { g.ProtocolType = "connect" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMigration(t, c.policy)
			from := classicGroup()
			if c.change != nil {
				c.change(from)
			}
			resp := m.join("k", from)
			if resp.ErrorCode != kerr.GroupIDNotFound.Code || *resp.ErrorMessage != "Group g is not a consumer group" || m.c.Group("g") != nil || len(m.recs) != 0 {
				t.Fatalf("%v %v, group %v, %d records", kerr.ErrorForCode(resp.ErrorCode), resp.ErrorMessage, m.c.Group("g"), len(m.recs))
			}
		})
	}
}

// TestDowngrade: the last consumer-protocol member leaving a group of
// classic members converts it back at the group epoch (not bumped by the
// leave), each member with
// its current assignment in its protocol's version, and tombstones every
// record of the consumer group (the replay has no group left); with the
// policy "upgrade" it stays a consumer group.
func TestDowngrade(t *testing.T) {
	for _, policy := range []MigrationPolicy{Bidirectional, UpgradeOnly} {
		t.Run(string(policy), func(t *testing.T) {
			m := newMigration(t, policy)
			m.join("k", classicGroup())
			if m.c.DowngradeDue("g") {
				t.Fatal("downgrade due while a consumer-protocol member is in")
			}
			due := m.c.DowngradeDue("g", "k")
			if due != (policy == Bidirectional) {
				t.Fatalf("downgrade due with k gone: %v", due)
			}
			cg, drecs, ok := m.c.Downgrade("g", []string{"k"}, 0, m.topics)
			if ok != due {
				t.Fatalf("downgrade %v, due %v", ok, due)
			}
			if !ok {
				return
			}
			m.recs = append(m.recs, drecs...)
			// At the group epoch (5, then the upgrade's join 6): k leaving
			// converts the group instead of bumping it.
			epoch := int32(6)
			if cg.Generation != epoch || cg.Protocol != "cooperative-sticky" || cg.Leader != "c1" || len(cg.Members) != 2 {
				t.Fatalf("classic group %+v", cg)
			}
			if got := assigned(t, cg.Members[0].Assignment); !slices.Equal(got, []int32{0, 1, 2}) {
				t.Fatalf("c1's assignment %v", got)
			}
			if m.c.Group("g") != nil {
				t.Fatal("consumer group still there")
			}
			last, _ := offsetsfmt.DecodeKey(drecs[len(drecs)-1].Key)
			if last.Kind != offsetsfmt.ConsumerGroupMetadata || drecs[len(drecs)-1].Value != nil {
				t.Fatalf("last record %v is not the group's tombstone", last)
			}
			if got := replayed(t, m.cfg, m.recs); len(got.GroupIDs()) != 0 {
				t.Fatalf("replay has groups %v", got.GroupIDs())
			}
		})
	}
}

// TestClassicMemberTimeouts: a classic member told to rejoin that does not
// within its rebalance timeout is fenced (join timeout), as is one that
// joined and does not sync; the session is the member's own.
func TestClassicMemberTimeouts(t *testing.T) {
	m := newMigration(t, UpgradeOnly)
	m.join("k", classicGroup())
	if code := m.classicHeartbeat("c1", 5); code != kerr.RebalanceInProgress.Code {
		t.Fatal(kerr.ErrorForCode(code))
	}
	m.classicJoin("c2", 9) // eager: it gave up everything before joining
	keepK := func() {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "k", m.c.Group("g").Member("k").Epoch
		if resp, _ := m.c.Heartbeat(m.now, Client{}, req, m.topics); resp.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	// 9 s later: within c1's and c2's 10 s sessions; c2 keeps its session by
	// a heartbeat; nothing is fenced.
	m.now = m.now.Add(9 * time.Second)
	keepK()
	if code := m.classicHeartbeat("c2", m.c.Group("g").Member("c2").Epoch); code != kerr.RebalanceInProgress.Code && code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	if f, _ := m.c.Tick(m.now); len(f) != 0 {
		t.Fatalf("fenced %v", f)
	}
	// 11 s: c1 (no heartbeat since) is past its 10 s session.
	m.now = m.now.Add(2 * time.Second)
	keepK()
	f, _ := m.c.Tick(m.now)
	if got := fmt.Sprint(f["g"]); !strings.Contains(got, "c1 session timeout") {
		t.Fatalf("fenced %v, want c1 by its session", got)
	}
	// c2 joined and never synced: fenced once its 30 s rebalance timeout
	// (the time it has to sync) passed.
	for m.now = m.now.Add(5 * time.Second); ; m.now = m.now.Add(5 * time.Second) {
		keepK()
		m.classicHeartbeat("c2", m.c.Group("g").Member("c2").Epoch)
		f, _ := m.c.Tick(m.now)
		if len(f["g"]) > 0 {
			if got := fmt.Sprint(f["g"]); !strings.Contains(got, "c2 sync timeout") {
				t.Fatalf("fenced %v, want c2 by its sync timeout", got)
			}
			break
		}
		if m.now.Sub(time.Unix(1_800_000_000, 0)) > time.Minute {
			t.Fatal("c2 never fenced")
		}
	}
}
