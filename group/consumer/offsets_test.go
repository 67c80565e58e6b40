package consumer

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/assign"
)

// TestValidateOffsetCommitOlderEpoch: a member whose epoch moved on
// (another member joined) may still commit at its previous epoch for a
// partition it has had since that epoch, but not for one it gave up, nor
// at an epoch newer than its own, as Kafka 4.4's assignment-epoch check.
func TestValidateOffsetCommitOlderEpoch(t *testing.T) {
	c := NewCoordinator(Config{AssignmentInterval: -1})
	topics := &fakeTopics{parts: map[string]int32{"t": 2}}
	tid, _, _ := topics.Lookup("t")
	now := time.Unix(1_700_000_000, 0)
	type cl struct {
		id    string
		epoch int32
		owned []int32
	}
	hb := func(m *cl) {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", m.id, m.epoch
		if m.epoch == 0 {
			req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{"t"}
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		} else {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: tid, Partitions: m.owned}}
		}
		resp, _ := c.Heartbeat(now, Client{ID: m.id}, req, topics)
		if resp.ErrorCode != 0 {
			t.Fatalf("heartbeat of %s: %v", m.id, kerr.ErrorForCode(resp.ErrorCode))
		}
		m.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			m.owned = nil
			for _, at := range resp.Assignment.Topics {
				m.owned = append(m.owned, at.Partitions...)
			}
		}
	}
	a := &cl{id: "a"}
	hb(a)
	hb(a)
	if len(a.owned) != 2 {
		t.Fatalf("a owns %v", a.owned)
	}
	first := a.epoch
	b := &cl{id: "b"}
	hb(b)
	for i := 0; c.Group("g").State() != StateStable; i++ {
		if i > 20 {
			t.Fatal("the group never became stable")
		}
		hb(a)
		hb(b)
	}
	if a.epoch <= first || len(a.owned) != 1 {
		t.Fatalf("a at epoch %d (was %d) owns %v", a.epoch, first, a.owned)
	}
	kept, gone := a.owned[0], 1-a.owned[0]
	g := c.Group("g")

	code, check := g.ValidateOffsetCommit("a", nil, first, 9, false)
	if code != 0 || check == nil {
		t.Fatalf("older epoch: code %d, check %v", code, check != nil)
	}
	if got := check(assign.TopicID(tid), kept); got != 0 {
		t.Errorf("partition %d kept since epoch %d: %v", kept, first, kerr.ErrorForCode(got))
	}
	if got := check(assign.TopicID(tid), gone); got != kerr.StaleMemberEpoch.Code {
		t.Errorf("partition %d given up: %v, want STALE_MEMBER_EPOCH", gone, kerr.ErrorForCode(got))
	}
	// b was assigned its partition at its own epoch: one before is stale.
	if _, check := g.ValidateOffsetCommit("b", nil, b.epoch-1, 9, false); check == nil || check(assign.TopicID(tid), gone) != kerr.StaleMemberEpoch.Code {
		t.Error("b committing before the epoch it was given its partition is accepted")
	}
	if code, _ := g.ValidateOffsetCommit("a", nil, a.epoch+1, 9, false); code != kerr.StaleMemberEpoch.Code {
		t.Errorf("newer epoch: %v", kerr.ErrorForCode(code))
	}
	if code, check := g.ValidateOffsetCommit("a", nil, a.epoch, 9, false); code != 0 || check != nil {
		t.Errorf("current epoch: code %d, per-partition check %v", code, check != nil)
	}
	if code, _ := g.ValidateOffsetCommit("a", nil, a.epoch, 8, false); code != kerr.UnsupportedVersion.Code {
		t.Errorf("OffsetCommit v8 from a member: %v", kerr.ErrorForCode(code))
	}
	if code, _ := g.ValidateOffsetCommit("a", nil, a.epoch, 3, true); code != 0 {
		t.Errorf("TxnOffsetCommit v3 from a member at its epoch: %v", kerr.ErrorForCode(code))
	}
	if code, check := g.ValidateOffsetCommit("", nil, -1, 3, true); code != 0 || check != nil {
		t.Errorf("TxnOffsetCommit outside group management: %v", kerr.ErrorForCode(code))
	}
	if code := g.ValidateOffsetFetch(&a.id, first); code != kerr.StaleMemberEpoch.Code {
		t.Errorf("fetch at an older epoch: %v", kerr.ErrorForCode(code))
	}
	if code := g.ValidateOffsetFetch(nil, -1); code != 0 {
		t.Errorf("fetch by an admin client: %v", kerr.ErrorForCode(code))
	}
}
