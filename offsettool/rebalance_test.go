package offsettool

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func kmsgConsumerMetadata(topic string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = []string{topic}
	return m.AppendTo(nil)
}

func newJoin(group, memberID string, meta []byte) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group = group
	req.MemberID = memberID
	req.SessionTimeoutMillis = 30000
	req.RebalanceTimeoutMillis = 60000
	req.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	p.Metadata = meta
	req.Protocols = append(req.Protocols, p)
	return req
}

// holdRebalance leaves group in PreparingRebalance until the test ends: a
// first member joins and syncs, then a second member joins, and the first
// never rejoins (it would have 60 s to). Cleanup makes both leave.
func holdRebalance(t *testing.T, c *Client, group, topic string) {
	t.Helper()
	ctx := testCtx(t)
	cl := c.Kgo()
	a, gen, leader, err := joinRaw(ctx, cl, group, topic, "")
	if err != nil {
		t.Fatal(err)
	}
	if !leader {
		t.Fatal("first member is not the leader")
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = group, a, gen
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	asg := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = topic, []int32{0}
	asg.Topics = append(asg.Topics, at)
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = a, asg.AppendTo(nil)
	sync.GroupAssignment = append(sync.GroupAssignment, sa)
	if resp, err := sync.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("sync: %v %+v", err, resp)
	}

	bctx, cancel := context.WithCancel(context.Background())
	joined := make(chan string, 1)
	go func() {
		b, _, _, _ := joinRaw(bctx, cl, group, topic, "")
		joined <- b
	}()
	t.Cleanup(func() {
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Group = group
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = a
		leave.Members = append(leave.Members, m)
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		leave.RequestWith(lctx, cl)
		select {
		case b := <-joined:
			if b != "" {
				leave.Members[0].MemberID = b
				leave.RequestWith(lctx, cl)
			}
		case <-lctx.Done():
		}
		cancel()
	})
	// Wait until the second join has put the group into a rebalance.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := c.Admin().DescribeGroups(ctx, group)
		if err == nil && (d[group].State == "PreparingRebalance" || d[group].State == "CompletingRebalance") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group never started rebalancing: %v %+v", err, d[group].State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
