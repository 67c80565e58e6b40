// Package grouptest puts consumer groups into states that well-behaved
// clients never hold on purpose, for tests of the offset tools against any
// Kafka-compatible broker.
package grouptest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// HoldRebalance leaves group in PreparingRebalance until the test ends: a
// first member joins and syncs (taking every partition of topic it is
// told about, here partition 0), then a second member joins, and the first
// never rejoins (it would have a minute to). Cleanup makes both leave.
func HoldRebalance(t testing.TB, addr, group, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, gen, leader, err := join(ctx, cl, group, topic)
	if err != nil {
		cl.Close()
		t.Fatal(err)
	}
	if !leader {
		cl.Close()
		t.Fatal("grouptest: first member is not the leader")
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
		cl.Close()
		t.Fatalf("grouptest: sync: %v %+v", err, resp)
	}

	bctx, bcancel := context.WithCancel(context.Background())
	joined := make(chan string, 1)
	go func() {
		b, _, _, _ := join(bctx, cl, group, topic)
		joined <- b
	}()
	t.Cleanup(func() {
		defer cl.Close()
		defer bcancel()
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
	})
	adm := kadm.NewClient(cl)
	for {
		d, err := adm.DescribeGroups(ctx, group)
		if err == nil && (d[group].State == "PreparingRebalance" || d[group].State == "CompletingRebalance") {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("grouptest: group %s never started rebalancing: %v %q", group, err, d[group].State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func join(ctx context.Context, cl *kgo.Client, group, topic string) (member string, gen int32, leader bool, err error) {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	for range 3 {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = group
		req.MemberID = member
		req.SessionTimeoutMillis = 30000
		req.RebalanceTimeoutMillis = 60000
		req.ProtocolType = "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return "", 0, false, err
		}
		if resp.ErrorCode == 79 { // MEMBER_ID_REQUIRED (KIP-394): rejoin with the given id
			member = resp.MemberID
			continue
		}
		if resp.ErrorCode != 0 {
			return "", 0, false, fmt.Errorf("grouptest: join: error code %d", resp.ErrorCode)
		}
		return resp.MemberID, resp.Generation, resp.LeaderID == resp.MemberID, nil
	}
	return "", 0, false, errors.New("grouptest: join: no member id")
}
