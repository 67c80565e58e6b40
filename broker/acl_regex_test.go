package broker

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRegexSubscriptionFilteredByACLs: a consumer-protocol member
// subscribed by regex is assigned only the matched topics its principal
// may DESCRIBE, as Kafka's filterTopicDescribeAuthorizedTopics resolves
// them; once DESCRIBE is granted on the other, the next heartbeat
// resolves the regex again and assigns it too.
func TestRegexSubscriptionFilteredByACLs(t *testing.T) {
	b := startACL(t, t.TempDir())
	adm := kadm.NewClient(aclClient(t, b, "admin"))
	for _, topic := range []string{"re-open", "re-hidden", "other"} {
		if _, err := adm.CreateTopic(secCtx(t), 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[[16]byte]string{}
	for _, tp := range b.reg.list() {
		ids[tp.ID] = tp.Name
	}
	mustCreateACLs(t, b,
		creation(rtGroup, "rg", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow),
		creation(rtTopic, "re-open", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow),
		creation(rtTopic, "other", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow))
	alice := aclClient(t, b, "alice")

	epoch := int32(0)
	assigned := func() []string {
		t.Helper()
		hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		hb.Version = 1
		hb.Group, hb.MemberID, hb.MemberEpoch, hb.RebalanceTimeoutMillis = "rg", "regex-member-0000000", epoch, 10000
		hb.SubscribedTopicRegex = kmsg.StringPtr("re-.*")
		hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := alice.Broker(0).Request(secCtx(t), pinnedReq{hb})
		if err != nil {
			t.Fatal(err)
		}
		hr := resp.(*kmsg.ConsumerGroupHeartbeatResponse)
		if hr.ErrorCode != 0 {
			t.Fatalf("heartbeat: %v", kerr.ErrorForCode(hr.ErrorCode))
		}
		epoch = hr.MemberEpoch
		var names []string
		if hr.Assignment != nil {
			for _, tp := range hr.Assignment.Topics {
				names = append(names, ids[tp.TopicID])
			}
		}
		slices.Sort(names)
		return names
	}
	wait := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		var got []string
		for time.Now().Before(deadline) {
			if got = assigned(); slices.Equal(got, want) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("assigned %v, want %v", got, want)
	}
	wait([]string{"re-open"})

	mustCreateACLs(t, b, creation(rtTopic, "re-hidden", ptLit, "User:alice", kmsg.ACLOperationDescribe, permAllow))
	wait([]string{"re-hidden", "re-open"})
}
