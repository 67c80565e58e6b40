package differential

import (
	"fmt"
	"slices"
	"strings"
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

// waitGroupsSee waits until Kafka's group coordinator knows topic: it
// sees a new topic a moment after the broker lists it (its metadata
// image), and until then a join subscribes to nothing and a later
// heartbeat bumps the group epoch once more. A probe group joins until it
// is assigned the topic, then leaves.
func (p *pair) waitGroupsSee(topic string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		member := fmt.Sprintf("probe-%d", i)
		resp, err := p.kafka.send(joinReq("cgh-probe"+suffix, member, topic))
		if err != nil {
			p.t.Fatal(err)
		}
		r := resp.(*kmsg.ConsumerGroupHeartbeatResponse)
		if _, err := p.kafka.send(cgReq("cgh-probe"+suffix, member, -1)); err != nil {
			p.t.Fatal(err)
		}
		if r.ErrorCode == 0 && r.Assignment != nil && len(r.Assignment.Topics) > 0 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("Kafka's group coordinator never saw topic %s", topic)
		}
		time.Sleep(200 * time.Millisecond)
	}
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
	p.waitGroupsSee(topic)
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

	// Dynamic members with the default (uniform) assignor: which member
	// gets which partitions follows Kafka's member order.
	gu := "cgh-u" + suffix
	topic4 := "cgh4" + suffix
	p.mustCreate(topic4, 4)
	ids = p.topicIDs(topic4)
	p.waitGroupsSee(topic4)
	hb := func(member string, epoch int32, parts ...int32) func([2]map[string][16]byte, int) *kmsg.ConsumerGroupHeartbeatRequest {
		return func(ids [2]map[string][16]byte, i int) *kmsg.ConsumerGroupHeartbeatRequest {
			return owned(cgReq(gu, member, epoch), ids[i][topic4], parts...)
		}
	}
	for _, s := range []cgStep{
		{"first join", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			return joinReq(gu, "member-1", topic4)
		}},
		{"second join", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			return joinReq(gu, "member-2", topic4)
		}},
		{"third join", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
			return joinReq(gu, "member-3", topic4)
		}},
		{"wait", nil},
		{"first owns all", hb("member-1", 2, 0, 1, 2, 3)},
		{"second waits", hb("member-2", 2)},
		{"third waits", hb("member-3", 2)},
	} {
		if s.build == nil {
			time.Sleep(1100 * time.Millisecond)
			continue
		}
		p.heartbeatBoth("ConsumerGroupHeartbeat uniform", ids, s)
	}
	// What member-1 keeps decides the rest: ask both brokers for their
	// descriptions.
	dreq := kmsg.NewPtrConsumerGroupDescribeRequest()
	dreq.Groups = []string{gu}
	p.compare("ConsumerGroupDescribe uniform", dreq, -1, sortDescribedMembers)

	// ConsumerGroupDescribe of the group and of one that does not exist.
	if _, _, ok := p.common(kmsg.NewPtrConsumerGroupDescribeRequest()); ok {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{g, "cgh-none" + suffix}
		p.compare("ConsumerGroupDescribe", req, -1, sortDescribedMembers)
	}
}

// sortDescribedMembers orders each described group's members by id: the
// list has no order (Kafka's follows its hash table), so only its contents
// are compared.
func sortDescribedMembers(k, r kmsg.Response) {
	for _, resp := range []kmsg.Response{k, r} {
		for i := range resp.(*kmsg.ConsumerGroupDescribeResponse).Groups {
			g := &resp.(*kmsg.ConsumerGroupDescribeResponse).Groups[i]
			slices.SortFunc(g.Members, func(a, b kmsg.ConsumerGroupDescribeResponseGroupMember) int {
				return strings.Compare(a.MemberID, b.MemberID)
			})
		}
	}
}
