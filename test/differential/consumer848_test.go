package differential

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka 4's consumer group protocol (KIP-848): the same ConsumerGroupHeartbeat
// steps on both brokers, compared answer by answer. From version 1 the
// client makes its member id, so one id serves both brokers; only topic
// ids differ, and each request carries each broker's own.

// cgStep is one heartbeat: build makes the request for broker i (0 Kafka,
// 1 Rewind) from that broker's topic ids.
type cgStep struct {
	name  string
	build func(ids [2]map[string][16]byte, i int) *kmsg.ConsumerGroupHeartbeatRequest
}

func (p *pair) topicIDs(topics ...string) [2]map[string][16]byte {
	p.t.Helper()
	out := [2]map[string][16]byte{{}, {}}
	k, r, _, _ := p.both(metaReq(false, topics...), -1)
	for i, resp := range []kmsg.Response{k, r} {
		for _, t := range resp.(*kmsg.MetadataResponse).Topics {
			if t.Topic != nil {
				out[i][*t.Topic] = t.TopicID
			}
		}
	}
	return out
}

// heartbeatBoth sends step's request to each broker and compares the
// answers.
func (p *pair) heartbeatBoth(scenario string, ids [2]map[string][16]byte, s cgStep) [2]*kmsg.ConsumerGroupHeartbeatResponse {
	p.t.Helper()
	var resps [2]kmsg.Response
	for i, c := range []*conn{p.kafka, p.rewind} {
		req := s.build(ids, i)
		resp, err := c.send(req)
		if err != nil {
			p.t.Fatalf("%s %s: broker %d: %v", scenario, s.name, i, err)
		}
		resps[i] = resp
	}
	normalize(resps[0], p.kafkaNode)
	normalize(resps[1], p.rewindNode)
	p.report(fmt.Sprintf("%s/%s/ConsumerGroupHeartbeat_v1", scenario, s.name), diff(resps[0], resps[1]))
	return [2]*kmsg.ConsumerGroupHeartbeatResponse{resps[0].(*kmsg.ConsumerGroupHeartbeatResponse), resps[1].(*kmsg.ConsumerGroupHeartbeatResponse)}
}

func cgReq(group, member string, epoch int32) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = group, member, epoch
	return req
}

func joinReq(group, member string, topics ...string) *kmsg.ConsumerGroupHeartbeatRequest {
	req := cgReq(group, member, 0)
	req.RebalanceTimeoutMillis = 60000
	req.SubscribedTopicNames = topics
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return req
}

func owned(req *kmsg.ConsumerGroupHeartbeatRequest, id [16]byte, parts ...int32) *kmsg.ConsumerGroupHeartbeatRequest {
	if req.Topics == nil {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	if len(parts) > 0 {
		req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: parts})
	}
	return req
}

func strp(s string) *string { return &s }

// TestConsumerGroupHeartbeat: joining, the errors Kafka checks before and
// after it looks at the group (invalid requests, unknown assignors and
// regexes, unknown groups and members, fenced epochs, static instance
// ids), a second member through the range assignor (static members, whose
// order both brokers agree on), revocation and release of partitions, a
// static member's temporary leave and its replacement, and a leave.
func TestConsumerGroupHeartbeat(t *testing.T) {
	p := newPair(t)
	if _, _, ok := p.common(kmsg.NewPtrConsumerGroupHeartbeatRequest()); !ok {
		t.Fatal("ConsumerGroupHeartbeat is not served by both brokers")
	}
	topic := "cgh" + suffix
	p.mustCreate(topic, 2)
	ids := p.topicIDs(topic)
	g := "cgh-g" + suffix
	sc := "ConsumerGroupHeartbeat"

	steps := []cgStep{
		// Refused before any group is looked at.
		{"empty member id", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			return joinReq(g, "", topic)
		}},
		{"no rebalance timeout", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := joinReq(g, "a", topic)
			r.RebalanceTimeoutMillis = -1
			return r
		}},
		{"owned partitions when joining", func(ids [2]map[string][16]byte, i int) *kmsg.ConsumerGroupHeartbeatRequest {
			return owned(joinReq(g, "a", topic), ids[i][topic], 0)
		}},
		{"no subscription", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			return joinReq(g, "a")
		}},
		{"epoch -3", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := joinReq(g, "a", topic)
			r.MemberEpoch = -3
			return r
		}},
		{"static leave without instance id", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			return cgReq(g, "a", -2)
		}},
		{"unknown assignor", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := joinReq(g, "a", topic)
			r.ServerAssignor = strp("sticky")
			return r
		}},
		{"unknown group", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			return cgReq("cgh-none"+suffix, "a", 3)
		}},
		{"invalid regex", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := joinReq(g, "a")
			r.SubscribedTopicRegex = strp("(")
			return r
		}},
		// A static member joins with the range assignor and gets both partitions.
		{"first join", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := joinReq(g, "a", topic)
			r.InstanceID, r.ServerAssignor = strp("ia"), strp("range")
			return r
		}},
		{"unknown member", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			return cgReq(g, "nobody", 1)
		}},
		{"greater epoch", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgReq(g, "a", 5)
			r.InstanceID = strp("ia")
			return r
		}},
		{"instance id in use", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := joinReq(g, "a2", topic)
			r.InstanceID = strp("ia")
			return r
		}},
		{"instance id of another member", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgReq(g, "a2", 2)
			r.InstanceID = strp("ia")
			return r
		}},
		{"unknown instance id", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgReq(g, "z", 1)
			r.InstanceID = strp("iz")
			return r
		}},
		// A second static member sorts after the first (range: by instance
		// id): it is assigned partition 1, which a must revoke first.
		{"second join", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := joinReq(g, "b", topic)
			r.InstanceID, r.ServerAssignor = strp("ib"), strp("range")
			return r
		}},
		{"wait for the assignment interval", nil},
		{"first still owns both", func(ids [2]map[string][16]byte, i int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := owned(cgReq(g, "a", 2), ids[i][topic], 0, 1)
			r.InstanceID = strp("ia")
			return r
		}},
		{"second waits", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := owned(cgReq(g, "b", 3), [16]byte{})
			r.InstanceID = strp("ib")
			return r
		}},
		{"static member rejoins while active", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := joinReq(g, "a", topic)
			r.InstanceID, r.ServerAssignor = strp("ia"), strp("range")
			return r
		}},
		{"smaller epoch owning more than assigned", func(ids [2]map[string][16]byte, i int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := owned(cgReq(g, "b", 1), ids[i][topic], 1)
			r.InstanceID = strp("ib")
			return r
		}},
		{"first revokes", func(ids [2]map[string][16]byte, i int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := owned(cgReq(g, "a", 2), ids[i][topic], 0)
			r.InstanceID = strp("ia")
			return r
		}},
		{"second gets it", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := owned(cgReq(g, "b", 3), [16]byte{})
			r.InstanceID = strp("ib")
			return r
		}},
		// b leaves for a restart and comes back under a new member id.
		{"static leave", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgReq(g, "b", -2)
			r.InstanceID = strp("ib")
			return r
		}},
		{"static rejoin", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := joinReq(g, "b2", topic)
			r.InstanceID, r.ServerAssignor = strp("ib"), strp("range")
			return r
		}},
		{"old member id of the instance", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgReq(g, "b", 3)
			r.InstanceID = strp("ib")
			return r
		}},
		{"leave", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgReq(g, "b2", -1)
			r.InstanceID = strp("ib")
			return r
		}},
		{"wait for the assignment interval", nil},
		{"after the leave", func(ids [2]map[string][16]byte, i int) *kmsg.ConsumerGroupHeartbeatRequest {
			r := owned(cgReq(g, "a", 3), ids[i][topic], 0)
			r.InstanceID = strp("ia")
			return r
		}},
		{"left member", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			return cgReq(g, "b2", 4)
		}},
	}
	for _, s := range steps {
		if s.build == nil {
			// group.consumer.assignment.interval.ms: Kafka 4.4 computes a
			// group's target at most once a second.
			time.Sleep(1100 * time.Millisecond)
			continue
		}
		p.heartbeatBoth(sc, ids, s)
	}

	// ConsumerGroupDescribe of the group and of one that does not exist.
	if _, _, ok := p.common(kmsg.NewPtrConsumerGroupDescribeRequest()); ok {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{g, "cgh-none" + suffix}
		p.compare("ConsumerGroupDescribe", req, -1, nil)
	}
}
