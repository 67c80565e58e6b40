package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/offsettool/grouptest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsoleConsumerGroup: the console lists a consumer group (KIP-848)
// with its type and epoch, shows its epochs and each member's epoch,
// target, and what it revokes or awaits while a partition waits for
// revocation, explains it, and refuses to reset it; the classic group
// beside it stays classic.
func TestConsoleConsumerGroup(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 4)
	e.member(t, "audit", "orders", "audit-consumer")
	r := grouptest.HoldRevocation(t, e.b.Addr(), "cg", "orders", 4)

	var rows []struct {
		Group, Type, State string
		Epoch, Members     int32
	}
	e.get(t, "/api/v1/groups", &rows)
	types := map[string]string{}
	for _, row := range rows {
		types[row.Group] = row.Type
		if row.Group == "cg" && (row.State != "Reconciling" || row.Epoch < 1 || row.Members != 2) {
			t.Errorf("group row %+v", row)
		}
	}
	if types["cg"] != "consumer" || types["audit"] != "classic" || len(rows) != 2 {
		t.Fatalf("groups %+v", rows)
	}

	var g struct {
		Type            string `json:"type"`
		GroupEpoch      int32  `json:"group_epoch"`
		AssignmentEpoch int32  `json:"assignment_epoch"`
		Members         []struct {
			ID          string `json:"member_id"`
			MemberEpoch int32  `json:"member_epoch"`
			Assigned    []any  `json:"assigned"`
			Target      []any  `json:"target"`
			Revoking    []any  `json:"revoking"`
			Awaiting    []any  `json:"awaiting"`
		} `json:"members"`
		Partitions []struct {
			MemberID       string `json:"member_id"`
			TargetMemberID string `json:"target_member_id"`
		} `json:"partitions"`
	}
	e.get(t, "/api/v1/groups/cg", &g)
	if g.Type != "consumer" || len(g.Members) != 2 || g.AssignmentEpoch < 1 || g.GroupEpoch < g.AssignmentEpoch {
		t.Fatalf("group %+v", g)
	}
	for _, m := range g.Members {
		switch m.ID {
		case r.Owner:
			if len(m.Assigned) != 4 || len(m.Revoking) != len(r.Moving) || m.MemberEpoch < 1 {
				t.Errorf("owner %+v", m)
			}
		case r.Newcomer:
			if len(m.Assigned) != 0 || len(m.Awaiting) != len(r.Moving) || len(m.Target) != len(r.Moving) {
				t.Errorf("newcomer %+v", m)
			}
		}
	}
	moving := 0
	for _, p := range g.Partitions {
		if p.MemberID == r.Owner && p.TargetMemberID == r.Newcomer {
			moving++
		}
	}
	if moving != len(r.Moving) {
		t.Errorf("%d partitions moving in the console, %d in the group", moving, len(r.Moving))
	}

	var ex struct {
		Notes []struct{ Kind, Text string } `json:"notes"`
	}
	e.get(t, "/api/v1/groups/cg/explain", &ex)
	waits := false
	for _, n := range ex.Notes {
		waits = waits || (n.Kind == "waiting-for-revocation" && strings.Contains(n.Text, "still owned by member "+r.Owner))
	}
	if !waits {
		t.Errorf("explain notes %+v", ex.Notes)
	}

	var apiErr apiError
	if code := e.post(t, "/api/v1/groups/cg/reset", `{"target":"to-earliest","execute":true}`, &apiErr); code != 409 ||
		len(apiErr.Members) != 2 || !strings.Contains(apiErr.Error, "consumer group") {
		t.Errorf("reset of a reconciling consumer group: %d %+v", code, apiErr)
	}
}

// TestConsoleRebalanceTimeline: franz-go members x, then y joining, of a
// consumer group; the console's timeline has y joining at a group epoch
// and a partition moving from x to y with the committed offset then.
func TestConsoleRebalanceTimeline(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 2)
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	e.produce(t, cl, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte("a")}, &kgo.Record{Topic: "orders", Partition: 1, Value: []byte("b")})
	start := func(name string) {
		m := e.client(t, kgo.ClientID(name), kgo.ConsumerGroup("cg"), kgo.ConsumeTopics("orders"), kgo.ServerSideBalancer(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond), kgo.AutoCommitInterval(100*time.Millisecond))
		go func() {
			for !m.PollFetches(context.Background()).IsClientClosed() {
			}
		}()
	}
	settled := func(n int) map[string]string {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var g struct {
				State   string `json:"state"`
				Members []struct {
					ID       string `json:"member_id"`
					ClientID string `json:"client_id"`
					Assigned []any  `json:"assigned"`
				} `json:"members"`
				Lag int64 `json:"lag"`
			}
			e.get(t, "/api/v1/groups/cg", &g)
			ids := map[string]string{}
			owned := 0
			for _, m := range g.Members {
				ids[m.ClientID] = m.ID
				if len(m.Assigned) > 0 {
					owned++
				}
			}
			committed := e.b.Coordinator().Committed("cg")
			if g.State == "Stable" && len(ids) == n && owned == n && len(committed["orders"]) == 2 && g.Lag == 0 {
				return ids
			}
			if time.Now().After(deadline) {
				t.Fatalf("group never settled with %d members: %+v", n, g)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	start("x")
	settled(1)
	start("y")
	ids := settled(2)

	type timeline struct {
		Rebalances []struct {
			Type   string `json:"type"`
			Joined []struct {
				ID string `json:"member_id"`
			} `json:"joined"`
			Moved []struct {
				From, To  string
				Committed int64 `json:"committed"`
				Redo      int64 `json:"redo_at_most"`
			} `json:"moved"`
		} `json:"rebalances"`
	}
	// The timeline is read from the group's __consumer_offsets records,
	// which the group's state shown above can be ahead of until their
	// write is durable: read it again until the move is there.
	var tl timeline
	var joined, moved bool
	for deadline := time.Now().Add(10 * time.Second); ; {
		tl = timeline{}
		e.get(t, "/api/v1/groups/cg/rebalances", &tl)
		joined, moved = false, false
		for _, r := range tl.Rebalances {
			for _, j := range r.Joined {
				joined = joined || (j.ID == ids["y"] && r.Type == "consumer")
			}
			for _, m := range r.Moved {
				if m.From == ids["x"] && m.To == ids["y"] {
					moved = true
					if m.Committed != 1 || m.Redo != 0 {
						t.Errorf("move x -> y: committed %d, redo %d (want 1 and 0)", m.Committed, m.Redo)
					}
				}
			}
		}
		if (joined && moved) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !joined || !moved {
		t.Fatalf("timeline: y joined %v, a partition moved from x to y %v: %+v", joined, moved, tl)
	}
}

// TestConsoleTimelineBound: past maxTimelineRecords records of the group's
// __consumer_offsets partition the timeline stops and says truncated.
func TestConsoleTimelineBound(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 1)
	for i := int64(1); i <= 5; i++ {
		e.commitNow(t, "many", "orders", map[int32]int64{0: i})
	}
	var tl struct {
		Truncated bool `json:"truncated"`
	}
	e.get(t, "/api/v1/groups/many/rebalances", &tl)
	if tl.Truncated {
		t.Fatal("5 records truncated at the default bound")
	}
	old := maxTimelineRecords
	t.Cleanup(func() { maxTimelineRecords = old })
	maxTimelineRecords = 5
	e.get(t, "/api/v1/groups/many/rebalances", &tl)
	if tl.Truncated {
		t.Fatal("the 5 records truncated at a bound of 5")
	}
	maxTimelineRecords = 3
	e.get(t, "/api/v1/groups/many/rebalances", &tl)
	if !tl.Truncated {
		t.Fatal("5 commits read whole with a bound of 3 records")
	}
}
