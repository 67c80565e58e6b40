package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/rewindhq/rewind/rewindtest"
)

// TestConsumerGroupConfigChecked: the group.consumer.* settings are
// checked at start as Kafka 4.4's GroupCoordinatorConfig checks them, with
// its messages, and a start with a bad one fails.
func TestConsumerGroupConfigChecked(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*broker.Config)
		want string // "" starts
	}{
		{"defaults", func(*broker.Config) {}, ""},
		{"short timeouts with their bounds", func(c *broker.Config) {
			c.ConsumerGroupSessionTimeout, c.ConsumerGroupMinSessionTimeout = time.Second, time.Second
			c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupMinHeartbeatInterval = 100*time.Millisecond, 100*time.Millisecond
		}, ""},
		{"max heartbeat below min", func(c *broker.Config) { c.ConsumerGroupMaxHeartbeatInterval = 4 * time.Second },
			"group.consumer.max.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms"},
		{"heartbeat below min", func(c *broker.Config) { c.ConsumerGroupHeartbeatInterval = time.Second },
			"group.consumer.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms"},
		{"heartbeat above max", func(c *broker.Config) { c.ConsumerGroupHeartbeatInterval = 16 * time.Second },
			"group.consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"},
		{"max session below min", func(c *broker.Config) { c.ConsumerGroupMaxSessionTimeout = 30 * time.Second },
			"group.consumer.max.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"},
		{"session below min", func(c *broker.Config) { c.ConsumerGroupSessionTimeout = 30 * time.Second },
			"group.consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"},
		{"session above max", func(c *broker.Config) { c.ConsumerGroupSessionTimeout = 61 * time.Second },
			"group.consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms"},
		{"heartbeat not below session", func(c *broker.Config) {
			c.ConsumerGroupSessionTimeout, c.ConsumerGroupMinSessionTimeout = 2*time.Second, time.Second
			c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupMinHeartbeatInterval = 2*time.Second, time.Second
		}, "group.consumer.heartbeat.interval.ms must be less than group.consumer.session.timeout.ms"},
		{"below 1 ms", func(c *broker.Config) { c.ConsumerGroupMinHeartbeatInterval = time.Microsecond },
			"--group-consumer-min-heartbeat-interval (group.consumer.min.heartbeat.interval.ms) must be between 1ms"},
		{"max size below 1", func(c *broker.Config) { c.ConsumerGroupMaxSize = -1 }, "group.consumer.max.size) must be at least 1"},
		{"unknown assignor", func(c *broker.Config) { c.ConsumerGroupAssignors = []string{"range", "sticky"} }, `unknown assignor "sticky"`},
		{"assignor twice", func(c *broker.Config) {
			c.ConsumerGroupAssignors = []string{"range", "org.apache.kafka.coordinator.group.assignor.RangeAssignor"}
		}, "assignor range is named more than once"},
		{"Kafka's class names", func(c *broker.Config) {
			c.ConsumerGroupAssignors = []string{"org.apache.kafka.coordinator.group.assignor.RangeAssignor", "uniform"}
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := broker.DefaultConfig()
			cfg.Listen, cfg.DataDir, cfg.DiskReserve = "127.0.0.1:0", t.TempDir(), 0
			c.set(&cfg)
			b, err := broker.New(broker.WithConfig(cfg))
			if err == nil {
				b.Close()
			}
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// joinReq is a ConsumerGroupHeartbeat v1 join.
func joinReq(group, member, topic string) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID = group, member
	req.RebalanceTimeoutMillis = 30000
	req.SubscribedTopicNames = []string{topic}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return req
}

func send(t *testing.T, ctx context.Context, cl *kgo.Client, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestConsumerGroupConfigApplied: the heartbeat interval members are told
// is --group-consumer-heartbeat-interval, a join beyond
// --group-consumer-max-size is GROUP_MAX_SIZE_REACHED, an assignor not in
// --group-consumer-assignors is UNSUPPORTED_ASSIGNOR, and the group's
// default assignor is the first of them.
func TestConsumerGroupConfigApplied(t *testing.T) {
	b := rewindtest.Start(t, func(c *broker.Config) {
		c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupMaxHeartbeatInterval = 7*time.Second, 7*time.Second
		c.ConsumerGroupMaxSize = 1
		c.ConsumerGroupAssignors = []string{"range"}
	})
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "cgc", 2)
	resp := send(t, ctx, cl, joinReq("g-cgc", "member-1-0123456789", "cgc"))
	if resp.ErrorCode != 0 || resp.HeartbeatIntervalMillis != 7000 {
		t.Fatalf("join: %v, heartbeat interval %d ms, want 7000", kerr.ErrorForCode(resp.ErrorCode), resp.HeartbeatIntervalMillis)
	}
	resp = send(t, ctx, cl, joinReq("g-cgc", "member-2-0123456789", "cgc"))
	if resp.ErrorCode != kerr.GroupMaxSizeReached.Code || deref(resp.ErrorMessage) != "The consumer group has reached its maximum capacity of 1 members." {
		t.Fatalf("a second member of a group of max size 1: %v %q", kerr.ErrorForCode(resp.ErrorCode), deref(resp.ErrorMessage))
	}
	req := joinReq("g-cgc2", "member-3-0123456789", "cgc")
	req.ServerAssignor = kmsg.StringPtr("uniform")
	resp = send(t, ctx, cl, req)
	if resp.ErrorCode != kerr.UnsupportedAssignor.Code || deref(resp.ErrorMessage) != "ServerAssignor uniform is not supported. Supported assignors: range." {
		t.Fatalf("an assignor not configured: %v %q", kerr.ErrorForCode(resp.ErrorCode), deref(resp.ErrorMessage))
	}
	if g := describeCG(t, ctx, cl, "g-cgc"); g.AssignorName != "range" {
		t.Fatalf("the group's assignor is %q, want range (the first configured)", g.AssignorName)
	}
}

// TestConsumerGroupHeartbeatErrors: each refusal Kafka 4.4 gives a
// ConsumerGroupHeartbeat, through the broker: FENCED_MEMBER_EPOCH,
// UNKNOWN_MEMBER_ID, UNRELEASED_INSTANCE_ID, INVALID_REGULAR_EXPRESSION
// (and GROUP_MAX_SIZE_REACHED and UNSUPPORTED_ASSIGNOR above); none
// changes the group.
func TestConsumerGroupHeartbeatErrors(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "cge", 2)
	static := joinReq("g-cge", "member-s-0123456789", "cge")
	static.InstanceID = kmsg.StringPtr("instance-1")
	first := send(t, ctx, cl, static)
	if first.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(first.ErrorCode))
	}
	before := summarize(describeCG(t, ctx, cl, "g-cge"))

	hb := func(member string, epoch int32) *kmsg.ConsumerGroupHeartbeatRequest {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group, req.MemberID, req.MemberEpoch = "g-cge", member, epoch
		req.InstanceID = kmsg.StringPtr("instance-1")
		return req
	}
	other := joinReq("g-cge", "member-o-0123456789", "cge")
	other.InstanceID = kmsg.StringPtr("instance-1")
	regex := joinReq("g-cge", "member-r-0123456789", "cge")
	regex.SubscribedTopicNames, regex.SubscribedTopicRegex = nil, kmsg.StringPtr("cge(")
	for _, c := range []struct {
		name string
		req  *kmsg.ConsumerGroupHeartbeatRequest
		want *kerr.Error
		msg  string
	}{
		{"an epoch ahead", hb("member-s-0123456789", first.MemberEpoch+1), kerr.FencedMemberEpoch,
			"The consumer group member has a greater member epoch (3) than the one known by the group coordinator (2). The member must abandon all its partitions and rejoin."},
		{"an unknown member", func() *kmsg.ConsumerGroupHeartbeatRequest {
			r := hb("member-x-0123456789", 2)
			r.InstanceID = nil
			return r
		}(), kerr.UnknownMemberID, "Member member-x-0123456789 is not a member of group g-cge."},
		{"the instance id in use", other, kerr.UnreleasedInstanceID,
			"Static member member-o-0123456789 with instance id instance-1 cannot join the group because the instance id is owned by member-s-0123456789 member."},
		{"a bad regex", regex, kerr.InvalidRegularExpression, ""},
	} {
		resp := send(t, ctx, cl, c.req)
		if resp.ErrorCode != c.want.Code || (c.msg != "" && deref(resp.ErrorMessage) != c.msg) {
			t.Errorf("%s: %v %q, want %v %q", c.name, kerr.ErrorForCode(resp.ErrorCode), deref(resp.ErrorMessage), c.want, c.msg)
		}
	}
	if after := summarize(describeCG(t, ctx, cl, "g-cge")); !equalSummary(before, after) {
		t.Fatalf("refused heartbeats changed the group\n got %+v\nwant %+v", after, before)
	}
}

// TestConsumerGroupTimersFence: with no request for the group at all, the
// broker's timer fences a member that stopped heartbeating once its
// session timeout passed, and one that keeps heartbeating without
// revoking once its rebalance timeout passed, writing their tombstones
// and the epoch bump to __consumer_offsets; the partitions go to the
// member left, and a restart finds the group as the timer left it.
func TestConsumerGroupTimersFence(t *testing.T) {
	dir := t.TempDir()
	short := func(c *broker.Config) {
		c.ConsumerGroupSessionTimeout, c.ConsumerGroupMinSessionTimeout = time.Second, time.Second
		c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupMinHeartbeatInterval = 100*time.Millisecond, 100*time.Millisecond
	}
	b := rewindtest.Start(t, broker.WithDataDir(dir), short)
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "cgt", 4)

	// Session: a joins and goes silent.
	send(t, ctx, cl, joinReq("g-cgt-session", "member-a-0123456789", "cgt"))
	tombstoned := func(group, member string) bool {
		for _, r := range offsetsRecords(t, ctx, b.Addr(), group) {
			if r.Kind == offsetsfmt.ConsumerGroupMemberMetadata && r.Member == member && r.Consumer == nil {
				return true
			}
		}
		return false
	}
	waitFor(t, 10*time.Second, func() bool { return tombstoned("g-cgt-session", "member-a-0123456789") })

	// Rebalance: a owns all four, b joins; a heartbeats on, never revoking,
	// with a rebalance timeout of 500 ms.
	a := &cgMember{t: t, cl: cl, group: "g-cgt-rebalance", id: "member-a-0123456789", topic: "cgt", rebalanceMs: 500}
	a.mustBeat(ctx)
	bm := &cgMember{t: t, cl: cl, group: "g-cgt-rebalance", id: "member-b-0123456789", topic: "cgt"}
	bm.mustBeat(ctx)
	owned, bepoch := a.owned, bm.epoch
	stop := make(chan struct{})
	done := make(chan int16)
	go func() {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group, req.MemberID = "g-cgt-rebalance", a.id
		for {
			select {
			case <-stop:
				done <- 0
				return
			case <-time.After(100 * time.Millisecond):
			}
			req.MemberEpoch, req.Topics = a.epoch, owned // still owns everything
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				done <- -1
				return
			}
			if resp.ErrorCode != 0 {
				done <- resp.ErrorCode
				return
			}
			a.epoch = resp.MemberEpoch
			// b stays alive (its session is 1 s) and owns nothing yet.
			breq := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			breq.Version = 1
			breq.Group, breq.MemberID, breq.MemberEpoch = "g-cgt-rebalance", bm.id, bepoch
			breq.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			if bresp, err := breq.RequestWith(ctx, cl); err == nil && bresp.ErrorCode == 0 {
				bepoch = bresp.MemberEpoch
			}
		}
	}()
	var code int16
	select {
	case code = <-done:
	case <-time.After(15 * time.Second):
		close(stop)
		<-done
		t.Fatal("a member that never revokes was not fenced")
	}
	if code != kerr.UnknownMemberID.Code {
		t.Fatalf("the member that did not revoke got %v, want UNKNOWN_MEMBER_ID once fenced", kerr.ErrorForCode(code))
	}
	// The timer fences a in memory and then writes its tombstones; a's
	// heartbeat can see it fenced first (so does one on Kafka, whose
	// coordinator applies records as it generates them), so the
	// tombstones are waited for, within a bound.
	waitFor(t, 10*time.Second, func() bool { return tombstoned("g-cgt-rebalance", a.id) })
	bm.epoch = bepoch
	deadline := time.Now().Add(10 * time.Second)
	for len(bm.ownedPartitions()) != 4 {
		bm.mustBeat(ctx)
		if time.Now().After(deadline) {
			t.Fatalf("b owns %v once a is fenced, want all four", bm.ownedPartitions())
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := summarize(describeCG(t, ctx, cl, "g-cgt-rebalance"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Kafka's session timeout after the restart: what is compared is what
	// was written, not a member timed out while the broker starts.
	b2 := rewindtest.Start(t, broker.WithDataDir(dir))
	cl2 := newClient(t, b2.Addr())
	if g := describeCG(t, ctx, cl2, "g-cgt-session"); g.State != "Empty" || len(g.Members) != 0 {
		t.Fatalf("the session-fenced group after a restart: %s with %d members", g.State, len(g.Members))
	}
	if after := summarize(describeCG(t, ctx, cl2, "g-cgt-rebalance")); !equalSummary(before, after) {
		t.Fatalf("after a restart\n got %+v\nwant %+v", after, before)
	}
}

// TestApiVersionsGroupVersion: ApiVersions v3+ advertises group.version as
// Kafka 4.4 does: supported 0 to 1, finalized at 1 (the consumer group
// protocol enabled), beside the ConsumerGroupHeartbeat it serves.
func TestApiVersionsGroupVersion(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, "t", "1"
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	var supported, finalized, heartbeat bool
	for _, f := range resp.SupportedFeatures {
		supported = supported || (f.Name == "group.version" && f.MinVersion == 0 && f.MaxVersion == 1)
	}
	for _, f := range resp.FinalizedFeatures {
		finalized = finalized || (f.Name == "group.version" && f.MinVersionLevel == 1 && f.MaxVersionLevel == 1)
	}
	for _, k := range resp.ApiKeys {
		heartbeat = heartbeat || (k.ApiKey == 68 && k.MaxVersion >= 1)
	}
	if !supported || !finalized || !heartbeat {
		t.Fatalf("group.version supported %v, finalized %v, ConsumerGroupHeartbeat %v: %+v %+v", supported, finalized, heartbeat, resp.SupportedFeatures, resp.FinalizedFeatures)
	}
}

// TestConsumerGroupRegexSkipsInternalTopics: a member subscribing with the
// match-all regex ".*" is assigned every partition of the user topics and
// none of __consumer_offsets or __transaction_state, as Kafka 4.4 leaves
// internal topics out of regex subscriptions; a topic created later that
// matches is added.
func TestConsumerGroupRegexSkipsInternalTopics(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "rx-a", 2)
	createTopic(t, cl, "rx-b", 1)
	req := joinReq("g-rx", "member-r-0123456789", "")
	req.SubscribedTopicNames, req.SubscribedTopicRegex = nil, kmsg.StringPtr(".*")
	ids := func() map[[16]byte]string {
		md := kmsg.NewPtrMetadataRequest()
		resp, err := md.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		out := map[[16]byte]string{}
		for _, tp := range resp.Topics {
			out[tp.TopicID] = deref(tp.Topic)
		}
		return out
	}
	assigned := func(resp *kmsg.ConsumerGroupHeartbeatResponse) map[string]int {
		names := ids()
		out := map[string]int{}
		if resp.Assignment != nil {
			for _, tp := range resp.Assignment.Topics {
				out[names[tp.TopicID]] += len(tp.Partitions)
			}
		}
		return out
	}
	internal := 0
	for _, name := range ids() {
		if strings.HasPrefix(name, "__") {
			internal++
		}
	}
	if internal == 0 {
		t.Fatal("Metadata lists no internal topic: the test would prove nothing")
	}
	resp := send(t, ctx, cl, req)
	if resp.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	got := assigned(resp)
	if len(got) != 2 || got["rx-a"] != 2 || got["rx-b"] != 1 {
		t.Fatalf(`".*" assigned %v, want rx-a's 2 partitions and rx-b's 1 only`, got)
	}
	createTopic(t, cl, "rx-c", 1)
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Version = 1
	hb.Group, hb.MemberID, hb.MemberEpoch = "g-rx", "member-r-0123456789", resp.MemberEpoch
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(200 * time.Millisecond) // past the assignment interval
		r := send(t, ctx, cl, hb)
		if r.ErrorCode != 0 {
			t.Fatalf("heartbeat: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		hb.MemberEpoch = r.MemberEpoch
		if r.Assignment != nil {
			got = assigned(r)
			if got["rx-c"] == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rx-c was never assigned: %v", got)
		}
	}
	for name := range got {
		if strings.HasPrefix(name, "__") {
			t.Fatalf("an internal topic assigned: %v", got)
		}
	}
}
