package differential

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func commitReq(group string, generation int32, member, topic string, partitions int, metadata string) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = group, generation, member
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for i := range partitions {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = int32(i), int64(i+1), -1
		rp.Metadata = kmsg.StringPtr(metadata)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchReq(group string, topic string, partitions ...int32) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = group
	if topic != "" {
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, partitions
		req.Topics = append(req.Topics, rt)
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = topic, partitions
		g.Topics = append(g.Topics, gt)
	}
	req.Groups = append(req.Groups, g)
	return req
}

// join makes a one-member classic group stable on both brokers (JoinGroup
// without member id, again with the id the broker gave, SyncGroup as
// leader) and returns each broker's member id and generation.
func (p *pair) join(group, topic string) (kafkaMember, rewindMember string, kafkaGen, rewindGen int32) {
	p.t.Helper()
	joinReq := func(member string) *kmsg.JoinGroupRequest {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = group, member, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 30000
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{topic}
		pr := kmsg.NewJoinGroupRequestProtocol()
		pr.Name, pr.Metadata = "range", meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, pr)
		return req
	}
	// Member ids are the brokers' own random strings: drop them.
	dropIDs := func(k, r kmsg.Response) {
		for _, resp := range []*kmsg.JoinGroupResponse{k.(*kmsg.JoinGroupResponse), r.(*kmsg.JoinGroupResponse)} {
			resp.MemberID, resp.LeaderID = "", ""
			for i := range resp.Members {
				resp.Members[i].MemberID = ""
			}
		}
	}
	var kMember, rMember string
	p.compare("JoinGroup/without member id", joinReq(""), -1, func(k, r kmsg.Response) {
		kMember, rMember = k.(*kmsg.JoinGroupResponse).MemberID, r.(*kmsg.JoinGroupResponse).MemberID
		dropIDs(k, r)
	})
	_, hi, _ := p.common(kmsg.NewPtrJoinGroupRequest())
	kr, rr := joinReq(kMember), joinReq(rMember)
	kr.SetVersion(hi)
	rr.SetVersion(hi)
	kResp, err := p.kafka.send(kr)
	if err != nil {
		p.t.Fatalf("kafka JoinGroup: %v", err)
	}
	rResp, err := p.rewind.send(rr)
	if err != nil {
		p.t.Fatalf("rewind JoinGroup: %v", err)
	}
	kGen, rGen := kResp.(*kmsg.JoinGroupResponse).Generation, rResp.(*kmsg.JoinGroupResponse).Generation
	normalize(kResp, p.kafkaNode)
	normalize(rResp, p.rewindNode)
	dropIDs(kResp, rResp)
	p.report(fmt.Sprintf("JoinGroup/with member id/JoinGroup_v%d", hi), diff(kResp, rResp))
	for who, c := range map[string]*conn{"kafka": p.kafka, "rewind": p.rewind} {
		member, gen := kMember, kGen
		if who == "rewind" {
			member, gen = rMember, rGen
		}
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.Generation, sync.MemberID = group, gen, member
		sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID = member
		sync.GroupAssignment = append(sync.GroupAssignment, a)
		sync.SetVersion(5)
		resp, err := c.send(sync)
		if err != nil || resp.(*kmsg.SyncGroupResponse).ErrorCode != 0 {
			p.t.Fatalf("%s SyncGroup: %v %+v", who, err, resp)
		}
	}
	return kMember, rMember, kGen, rGen
}

// TestOffsetCommitFetch: commits of a group without members (generation
// -1), of a stable group's member, with a stale or future generation, an
// unknown member, an unknown topic; fetches of what was committed, of an
// unknown group and of partitions never committed.
func TestOffsetCommitFetch(t *testing.T) {
	p := newPair(t)
	tp := name("oc")
	p.mustCreate(tp, 3)
	simple := name("simple")
	p.compare("OffsetCommit/simple group generation -1", commitReq(simple, -1, "", tp, 3, "meta"), -1, nil)
	p.compare("OffsetFetch/simple group", fetchReq(simple, tp, 0, 1, 2, 5), -1, nil)
	p.compare("OffsetFetch/simple group all topics", fetchReq(simple, ""), -1, nil)
	p.compare("OffsetFetch/unknown group", fetchReq(name("nogroup"), tp, 0), -1, nil)
	p.compare("OffsetCommit/unknown topic", commitReq(simple, -1, "", name("nope"), 1, ""), -1, nil)
	p.compare("OffsetCommit/simple group with generation 3", commitReq(name("simple2"), 3, "m", tp, 1, ""), -1, nil)

	group := name("stable")
	kMember, rMember, kGen, rGen := p.join(group, tp)
	if kGen != rGen {
		p.report("JoinGroup/generation", []difference{{"Generation", fmt.Sprint(kGen), fmt.Sprint(rGen)}})
	}
	// The same request but for the member id and generation each broker gave.
	each := func(scenario string, build func(member string, gen int32) kmsg.Request) {
		kr, rr := build(kMember, kGen), build(rMember, rGen)
		_, hi, _ := p.common(kr)
		kr.SetVersion(hi)
		rr.SetVersion(hi)
		kResp, err := p.kafka.send(kr)
		if err != nil {
			t.Fatalf("kafka: %v", err)
		}
		rResp, err := p.rewind.send(rr)
		if err != nil {
			t.Fatalf("rewind: %v", err)
		}
		normalize(kResp, p.kafkaNode)
		normalize(rResp, p.rewindNode)
		p.report(fmt.Sprintf("%s/%s_v%d", scenario, kmsg.NameForKey(kr.Key()), hi), diff(kResp, rResp))
	}
	each("OffsetCommit/stable member", func(m string, g int32) kmsg.Request { return commitReq(group, g, m, tp, 3, "x") })
	each("OffsetCommit/stale generation", func(m string, g int32) kmsg.Request { return commitReq(group, g-1, m, tp, 3, "") })
	each("OffsetCommit/future generation", func(m string, g int32) kmsg.Request { return commitReq(group, g+1, m, tp, 3, "") })
	each("OffsetCommit/unknown member", func(m string, g int32) kmsg.Request { return commitReq(group, g, "bogus", tp, 3, "") })
	each("OffsetCommit/generation -1 on a stable group", func(m string, g int32) kmsg.Request { return commitReq(group, -1, "", tp, 3, "") })
	p.compare("OffsetFetch/stable group", fetchReq(group, tp, 0, 1, 2), -1, nil)
}

// TestOversizedOffsetCommit: one commit of 400 partitions with 4000 bytes
// of metadata each (1.6 MB, each under offset.metadata.max.bytes of 4096,
// together above the 1 MiB record batch limit of __consumer_offsets), then
// one metadata over the per-offset limit.
func TestOversizedOffsetCommit(t *testing.T) {
	p := newPair(t)
	tp := name("big")
	p.mustCreate(tp, 400)
	meta := string(bytes.Repeat([]byte("m"), 4000))
	k, r := p.compare("OffsetCommit/400 partitions x 4000 bytes", commitReq(name("big"), -1, "", tp, 400, meta), -1, nil)
	for who, resp := range map[string]kmsg.Response{"kafka": k, "rewind": r} {
		if resp == nil {
			continue
		}
		codes := map[int16]int{}
		for _, tt := range resp.(*kmsg.OffsetCommitResponse).Topics {
			for _, pp := range tt.Partitions {
				codes[pp.ErrorCode]++
			}
		}
		t.Logf("%s answers 400 partitions x 4000 bytes of metadata with error codes %v", who, codes)
	}
	p.compare("OffsetFetch/after the oversized commit", fetchReq(name("big"), tp, 0, 399), -1, nil)
	over := string(bytes.Repeat([]byte("m"), 4097))
	p.compare("OffsetCommit/metadata of 4097 bytes", commitReq(name("big2"), -1, "", tp, 2, over), -1, nil)
}

func findCoordinatorReq(keyType int8, keys ...string) *kmsg.FindCoordinatorRequest {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType, req.CoordinatorKeys = keyType, keys
	if len(keys) > 0 {
		req.CoordinatorKey = keys[0]
	}
	return req
}

// TestFindCoordinator: a group (also the empty group id), several groups
// in one request, and a transactional id, at every version both serve.
func TestFindCoordinator(t *testing.T) {
	p := newPair(t)
	// From v4 the answer is in Coordinators and the top-level fields are
	// unused (zero); Rewind's node id is 0, which normalize would take for
	// "self" there.
	v4 := func(k, r kmsg.Response) {
		for _, resp := range []*kmsg.FindCoordinatorResponse{k.(*kmsg.FindCoordinatorResponse), r.(*kmsg.FindCoordinatorResponse)} {
			if resp.Version >= 4 {
				resp.NodeID = 0
			}
		}
	}
	lo, hi, _ := p.common(kmsg.NewPtrFindCoordinatorRequest())
	for v := lo; v <= hi; v++ {
		p.compare("FindCoordinator/group", findCoordinatorReq(0, name("fc")), v, v4)
		p.compare("FindCoordinator/empty group id", findCoordinatorReq(0, ""), v, v4)
		if v >= 1 {
			p.compare("FindCoordinator/transactional id", findCoordinatorReq(1, name("txn")), v, v4)
		}
	}
	p.compare("FindCoordinator/two groups", findCoordinatorReq(0, name("fc1"), name("fc2")), hi, v4)
	p.compare("FindCoordinator/unknown key type", findCoordinatorReq(7, name("fc")), hi, v4)
}
