package consumer

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/assign"
)

// BenchmarkJoinToStable: a stable group of 100 members on 1000 partitions
// (10 topics), one member joins; each iteration runs the heartbeats (every
// member in turn, revoking at once, as clients do) until the group is
// Stable again, and reports the heartbeats that took. The coordinator's
// CPU cost of a rebalance; the wall time a real group needs is that plus
// the heartbeat intervals (5 s) its members wait between heartbeats.
func BenchmarkJoinToStable(b *testing.B) {
	bg := newBenchGroup(b)
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		b.StopTimer()
		c, ms, now := bg.setup()
		b.StartTimer()
		n := &benchMember{id: "newcomer"}
		bg.heartbeat(c, now, n, true)
		ms = append(ms, n)
		for c.Group("g").State() != StateStable {
			for _, m := range ms {
				bg.heartbeat(c, now, m, false)
				total++
			}
		}
	}
	b.ReportMetric(float64(total)/float64(b.N), "heartbeats/op")
}

// BenchmarkSnapshot: the copy the broker takes of a group before each
// heartbeat, to undo it if its records cannot be appended (a stable group
// of 100 members on 1000 partitions).
func BenchmarkSnapshot(b *testing.B) {
	c, _, _ := newBenchGroup(b).setup()
	b.ReportAllocs()
	for b.Loop() {
		if c.Snapshot("g") == nil {
			b.Fatal("no group")
		}
	}
}

type benchMember struct {
	id    string
	epoch int32
	owned map[assign.TopicID][]int32
}

type benchGroup struct {
	b      *testing.B
	topics *fakeTopics
	names  []string
}

// newBenchGroup is 10 topics of 100 partitions.
func newBenchGroup(b *testing.B) *benchGroup {
	bg := &benchGroup{b: b, topics: &fakeTopics{parts: map[string]int32{}}}
	for i := 0; i < 10; i++ {
		n := fmt.Sprintf("t%d", i)
		bg.topics.parts[n] = 100
		bg.names = append(bg.names, n)
	}
	return bg
}

func (bg *benchGroup) heartbeat(c *Coordinator, now time.Time, m *benchMember, join bool) {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", m.id, m.epoch
	req.RebalanceTimeoutMillis = -1
	if join {
		req.MemberEpoch, req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 0, 60000, bg.names
	}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for t, ps := range m.owned {
		req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t, Partitions: ps})
	}
	resp, _ := c.Heartbeat(now, Client{ID: m.id}, req, bg.topics)
	if resp.ErrorCode != 0 {
		bg.b.Fatalf("error %d", resp.ErrorCode)
	}
	m.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		m.owned = map[assign.TopicID][]int32{}
		for _, t := range resp.Assignment.Topics {
			m.owned[t.TopicID] = t.Partitions
		}
	}
}

// setup is a Stable group of 100 members.
func (bg *benchGroup) setup() (*Coordinator, []*benchMember, time.Time) {
	c := NewCoordinator(Config{AssignmentInterval: -1})
	now := time.Unix(1_700_000_000, 0)
	var ms []*benchMember
	for i := 0; i < 100; i++ {
		m := &benchMember{id: fmt.Sprintf("member-%03d", i)}
		ms = append(ms, m)
		bg.heartbeat(c, now, m, true)
	}
	for c.Group("g").State() != StateStable {
		for _, m := range ms {
			bg.heartbeat(c, now, m, false)
		}
	}
	return c, ms, now
}
