package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTxnOffsetCommitConsumerGroupMember: a TxnOffsetCommit from a member
// of a consumer-protocol group is checked by member id and member epoch
// (not as a classic generation): accepted at its epoch at any version, a
// newer epoch STALE_MEMBER_EPOCH from v6 and ILLEGAL_GENERATION before,
// as Kafka 4.4's validateTransactionalOffsetCommit.
func TestTxnOffsetCommitConsumerGroupMember(t *testing.T) {
	_, cl := startTxnBroker(t, t.TempDir())
	id := createTopic(t, cl, "tin", 1)
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID = 1, "tg", "m-tg-0123456789abcdef"
	hb.RebalanceTimeoutMillis, hb.SubscribedTopicNames = 30000, []string{"tin"}
	hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp, err := hb.RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("join: %v %+v", err, resp)
	}
	epoch := resp.MemberEpoch
	commit := func(v int16, member string, gen int32) int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version, req.TransactionalID, req.Group, req.ProducerID = v, "tx", "tg", 1
		req.Generation, req.MemberID = gen, member
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = "tin", id
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset = 4
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	m := hb.MemberID
	want(t, "unknown member", commit(5, "nobody", epoch), kerr.UnknownMemberID.Code)
	want(t, "newer epoch v5", commit(5, m, epoch+1), kerr.IllegalGeneration.Code)
	want(t, "newer epoch v6", commit(6, m, epoch+1), kerr.StaleMemberEpoch.Code)
	want(t, "at its epoch v4", commit(4, m, epoch), 0)
	want(t, "at its epoch v6", commit(6, m, epoch), 0)
	want(t, "a producer outside group management", commit(5, "", -1), 0)
}
