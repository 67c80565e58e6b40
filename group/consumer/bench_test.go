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
	topics := &fakeTopics{parts: map[string]int32{}}
	var names []string
	for i := 0; i < 10; i++ {
		n := fmt.Sprintf("t%d", i)
		topics.parts[n] = 100
		names = append(names, n)
	}
	type cl struct {
		id    string
		epoch int32
		owned map[assign.TopicID][]int32
	}
	heartbeat := func(c *Coordinator, now time.Time, m *cl, join bool) {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", m.id, m.epoch
		req.RebalanceTimeoutMillis = -1
		if join {
			req.MemberEpoch, req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 0, 60000, names
		}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for t, ps := range m.owned {
			req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t, Partitions: ps})
		}
		resp, _ := c.Heartbeat(now, Client{ID: m.id}, req, topics)
		if resp.ErrorCode != 0 {
			b.Fatalf("error %d", resp.ErrorCode)
		}
		m.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			m.owned = map[assign.TopicID][]int32{}
			for _, t := range resp.Assignment.Topics {
				m.owned[t.TopicID] = t.Partitions
			}
		}
	}
	setup := func() (*Coordinator, []*cl, time.Time) {
		c := NewCoordinator(Config{AssignmentInterval: -1})
		now := time.Unix(1_700_000_000, 0)
		var ms []*cl
		for i := 0; i < 100; i++ {
			m := &cl{id: fmt.Sprintf("member-%03d", i)}
			ms = append(ms, m)
			heartbeat(c, now, m, true)
		}
		for c.Group("g").State() != StateStable {
			for _, m := range ms {
				heartbeat(c, now, m, false)
			}
		}
		return c, ms, now
	}
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		b.StopTimer()
		c, ms, now := setup()
		b.StartTimer()
		n := &cl{id: "newcomer"}
		heartbeat(c, now, n, true)
		ms = append(ms, n)
		for c.Group("g").State() != StateStable {
			for _, m := range ms {
				heartbeat(c, now, m, false)
				total++
			}
		}
	}
	b.ReportMetric(float64(total)/float64(b.N), "heartbeats/op")
}
