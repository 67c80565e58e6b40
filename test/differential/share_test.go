package differential

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Share groups (KIP-932): the same ShareGroupHeartbeat, ShareFetch and
// ShareAcknowledge requests on both brokers, compared answer by answer.
// Member ids are the client's, so one serves both brokers; topic ids
// differ, and each request carries each broker's own. Record bytes are
// not compared (each broker stamps its own batches); what was acquired,
// with its delivery count, is.

// sendBoth sends build(i)'s request to broker i (0 Kafka, 1 Rewind),
// normalizes both answers, lets fix even out what may differ, and
// reports the differences.
func (p *pair) sendBoth(scenario string, build func(i int) kmsg.Request, fix func(kmsg.Response)) [2]kmsg.Response {
	p.t.Helper()
	var resps [2]kmsg.Response
	var req kmsg.Request
	for i, c := range []*conn{p.kafka, p.rewind} {
		req = build(i)
		resp, err := c.send(req)
		if err != nil {
			p.t.Fatalf("%s: broker %d: %v", scenario, i, err)
		}
		resps[i] = resp
	}
	normalize(resps[0], p.kafkaNode)
	normalize(resps[1], p.rewindNode)
	if fix != nil {
		fix(resps[0])
		fix(resps[1])
	}
	p.report(fmt.Sprintf("%s/%s_v%d", scenario, kmsg.NameForKey(req.Key()), req.GetVersion()), diff(resps[0], resps[1]))
	return resps
}

func shareHB(group, member string, epoch int32, topics ...string) *kmsg.ShareGroupHeartbeatRequest {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.Version = 1
	req.GroupID, req.MemberID, req.MemberEpoch = group, member, epoch
	if topics != nil {
		req.SubscribedTopicNames = topics
	}
	return req
}

type shareAck struct {
	first, last int64
	types       []int8
}

func shareFetchReq(group, member string, epoch, wait int32, id [16]byte, acks ...shareAck) *kmsg.ShareFetchRequest {
	req := kmsg.NewPtrShareFetchRequest()
	req.Version = 2
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &group, &member, epoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords, req.BatchSize = wait, 1, 1<<20, 100, 100
	ft := kmsg.NewShareFetchRequestTopic()
	ft.TopicID = id
	fp := kmsg.NewShareFetchRequestTopicPartition()
	for _, a := range acks {
		ab := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
		ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = a.first, a.last, a.types
		fp.AcknowledgementBatches = append(fp.AcknowledgementBatches, ab)
	}
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	return req
}

func shareAckReq(group, member string, epoch int32, renew bool, id [16]byte, a shareAck) *kmsg.ShareAcknowledgeRequest {
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.Version = 2
	req.GroupID, req.MemberID, req.ShareSessionEpoch, req.IsRenewAck = &group, &member, epoch, renew
	at := kmsg.NewShareAcknowledgeRequestTopic()
	at.TopicID = id
	ap := kmsg.NewShareAcknowledgeRequestTopicPartition()
	ab := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
	ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = a.first, a.last, a.types
	ap.AcknowledgementBatches = append(ap.AcknowledgementBatches, ab)
	at.Partitions = append(at.Partitions, ap)
	req.Topics = append(req.Topics, at)
	return req
}

// noRecords drops the record bytes of a ShareFetch answer, and evens out
// CurrentLeader: Kafka fills it only beside NOT_LEADER_OR_FOLLOWER and
// sends its zero value otherwise, which the node mapping reads as
// Rewind's node 0.
func noRecords(resp kmsg.Response) {
	switch r := resp.(type) {
	case *kmsg.ShareFetchResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				r.Topics[i].Partitions[j].Records = nil
				r.Topics[i].Partitions[j].CurrentLeader.LeaderID = 0
			}
		}
	case *kmsg.ShareAcknowledgeResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				r.Topics[i].Partitions[j].CurrentLeader.LeaderID = 0
			}
		}
	}
}

// TestShareGroups: the heartbeat's refusals, a member joining and
// leaving, and a share session through its errors: acknowledgements
// opening a session, a replayed or skipped epoch, ShareAcknowledge at
// epoch 0 and without a session, a release and the redelivery it causes,
// accepting a record not held, malformed batches, renewals with and
// without IsRenewAck, closing with an acknowledgement, a session after
// the close, and a group described and deleted.
func TestShareGroups(t *testing.T) {
	p := newPair(t)
	if _, _, ok := p.common(kmsg.NewPtrShareFetchRequest()); !ok {
		t.Fatal("ShareFetch is not served by both brokers")
	}
	topic := "share" + suffix
	p.mustCreate(topic, 1)
	ids := p.topicIDs(topic)
	g := "share-g" + suffix
	sc := "ShareGroup"
	same := func(req kmsg.Request) func(int) kmsg.Request { return func(int) kmsg.Request { return req } }

	p.sendBoth(sc+"/empty member id", same(shareHB(g, "", 0, topic)), nil)
	p.sendBoth(sc+"/no topics at join", same(shareHB(g, "m", 0)), nil)
	p.sendBoth(sc+"/epoch -2", same(shareHB(g, "m", -2)), nil)
	p.sendBoth(sc+"/unknown member", same(shareHB(g, "x", 1)), nil)
	p.sendBoth(sc+"/unknown member leaves", same(shareHB(g, "x", -1)), nil)
	classic := "share-classic" + suffix
	p.join(classic, topic)
	p.sendBoth(sc+"/a classic group's id", same(shareHB(classic, "m", 0, topic)), nil)

	// m joins; Kafka assigns the partition once it has initialized its
	// share state (a moment), Rewind at once. Epochs differ: not compared.
	var epochs [2]int32
	for i, c := range []*conn{p.kafka, p.rewind} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := c.send(shareHB(g, "m", epochs[i], topic))
			if err != nil {
				t.Fatal(err)
			}
			r := resp.(*kmsg.ShareGroupHeartbeatResponse)
			if r.ErrorCode != 0 {
				t.Fatalf("broker %d: join: error %d", i, r.ErrorCode)
			}
			epochs[i] = r.MemberEpoch
			if r.Assignment != nil && len(r.Assignment.TopicPartitions) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker %d never assigned the partition", i)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	p.sendBoth(sc+"/greater epoch", func(i int) kmsg.Request { return shareHB(g, "m", epochs[i]+5) }, nil)

	fetch := func(name, member string, epoch, wait int32, acks ...shareAck) {
		p.sendBoth(sc+"/"+name, func(i int) kmsg.Request { return shareFetchReq(g, member, epoch, wait, ids[i][topic], acks...) }, noRecords)
	}
	ack := func(name, member string, epoch int32, renew bool, a shareAck) {
		p.sendBoth(sc+"/"+name, func(i int) kmsg.Request { return shareAckReq(g, member, epoch, renew, ids[i][topic], a) }, noRecords)
	}
	fetch("acknowledgements opening a session", "m", 0, 0, shareAck{0, 0, []int8{1}})
	// The share partition starts where the log ends when it is first
	// fetched (share.auto.offset.reset=latest): a record produced before
	// is never delivered, and acknowledging it is no error.
	p.mustProduce(topic, 0, 500)
	fetch("open", "m", 0, 200)
	ack("accept a record before the start", "m", 1, false, shareAck{0, 0, []int8{1}})
	p.mustProduce(topic, 0, 1000, 1000, 1000)
	fetch("first records", "m", 2, 5000)
	fetch("epoch 3", "m", 3, 0)
	fetch("epoch 3 again", "m", 3, 0)
	fetch("epoch skipped", "m", 7, 0)
	ack("ShareAcknowledge at epoch 0", "m", 0, false, shareAck{1, 1, []int8{1}})
	ack("ShareAcknowledge without a session", "nobody", 1, false, shareAck{1, 1, []int8{1}})
	ack("release", "m", 4, false, shareAck{1, 3, []int8{2}})
	ack("accept a released record", "m", 5, false, shareAck{2, 2, []int8{1}})
	fetch("redelivery", "m", 6, 5000)
	ack("two types for three records", "m", 7, false, shareAck{1, 3, []int8{1, 1}})
	ack("unknown type", "m", 8, false, shareAck{1, 1, []int8{9}})
	ack("last before first", "m", 9, false, shareAck{3, 2, []int8{1}})
	ack("renew without IsRenewAck", "m", 10, false, shareAck{1, 3, []int8{4}})
	ack("renew", "m", 11, true, shareAck{1, 3, []int8{4}})
	ack("accept one", "m", 12, false, shareAck{1, 1, []int8{1}})
	ack("accept it again", "m", 13, false, shareAck{1, 1, []int8{1}})
	ack("beyond the acquired records", "m", 14, false, shareAck{4, 9, []int8{1}})
	fetch("close with an accept", "m", -1, 0, shareAck{2, 3, []int8{1}})
	fetch("after the close", "m", 15, 0)
	fetch("a new session with nothing left", "m2", 0, 200)

	p.sendBoth(sc+"/describe", same(func() kmsg.Request {
		r := kmsg.NewPtrShareGroupDescribeRequest()
		r.Version = 1
		r.GroupIDs = []string{g, "share-none" + suffix, classic}
		return r
	}()), func(resp kmsg.Response) {
		// Kafka answers in no particular order.
		gs := resp.(*kmsg.ShareGroupDescribeResponse).Groups
		sort.Slice(gs, func(i, j int) bool { return gs[i].GroupID < gs[j].GroupID })
		for i := range resp.(*kmsg.ShareGroupDescribeResponse).Groups {
			dg := &resp.(*kmsg.ShareGroupDescribeResponse).Groups[i]
			dg.GroupEpoch, dg.AssignmentEpoch = 0, 0
			for j := range dg.Members {
				dg.Members[j].MemberEpoch, dg.Members[j].ClientID, dg.Members[j].ClientHost = 0, "", ""
			}
		}
	})
	p.sendBoth(sc+"/leave", func(i int) kmsg.Request { return shareHB(g, "m", -1) }, nil)
	p.sendBoth(sc+"/delete", same(func() kmsg.Request {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups = []string{g}
		return r
	}()), nil)
}
