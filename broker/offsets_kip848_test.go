package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/rewindhq/rewind/rewindtest"
)

// TestFranzGoServerSideBalancerCommitResume: a franz-go consumer of Kafka
// 4's consumer protocol commits what it consumed (OffsetCommit v9 at its
// member epoch), and the next consumer of the group resumes from those
// commits: it sees only the records produced after them.
func TestFranzGoServerSideBalancerCommitResume(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 90*time.Second)
	admCl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	createTopic(t, admCl, "ssbc", 3)
	produceStrings(t, admCl, "ssbc", seq("first", 30)...)

	consume := func(n int) map[string]bool {
		t.Helper()
		cl := newClient(t, b.Addr(), kgo.ConsumerGroup("g-ssbc"), kgo.ConsumeTopics("ssbc"),
			kgo.ServerSideBalancer(), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		got := map[string]bool{}
		for len(got) < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d records", len(got), n)
			}
			fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit of a consumer-protocol member: %v", err)
		}
		return got
	}
	consume(30)

	adm := kadm.NewClient(admCl)
	offs, err := adm.FetchOffsets(ctx, "g-ssbc")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 30 {
		t.Fatalf("committed offsets sum to %d, want 30: %v", total, offs)
	}

	produceStrings(t, admCl, "ssbc", seq("second", 30)...)
	got := consume(30)
	for v := range got {
		if v[:5] == "first" {
			t.Fatalf("the restarted consumer read %s again: it did not resume from the commits", v)
		}
	}
}

// cgJoin joins member to group through ConsumerGroupHeartbeat v1 and
// heartbeats until it owns its whole target; it returns the member epoch.
func cgJoin(t *testing.T, ctx context.Context, cl *kgo.Client, group, member, topic string) int32 {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = group, member, 0
	req.RebalanceTimeoutMillis = 30000
	req.SubscribedTopicNames = []string{topic}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		if a := resp.Assignment; a != nil && len(a.Topics) > 0 {
			return resp.MemberEpoch
		}
		if time.Now().After(deadline) {
			t.Fatal("never assigned")
		}
		req.MemberEpoch = resp.MemberEpoch
		time.Sleep(50 * time.Millisecond)
	}
}

// max9 caps OffsetCommit and OffsetFetch at v9, the last versions that
// name topics (kgo sends the highest version both sides serve).
func max9() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(8, 9)
	v.SetMaxKeyVersion(9, 9)
	return v
}

func commitReq(v int16, group, member string, epoch int32, topic string, parts ...int32) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = v
	req.Group, req.MemberID, req.Generation = group, member, epoch
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, 7
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// TestOffsetCommitConsumerGroupMember: the membership checks of an
// OffsetCommit and OffsetFetch to a consumer-protocol group, as Kafka
// 4.4's ConsumerGroup.validateOffsetCommit and validateOffsetFetch make
// them, and the offsets a valid commit stores.
func TestOffsetCommitConsumerGroupMember(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr(), kgo.MaxVersions(max9())) // by topic name
	createTopic(t, cl, "occ", 2)
	epoch := cgJoin(t, ctx, cl, "g-occ", "m1-occ-0123456789ab", "occ")

	// kgo sends the highest version both sides serve: v8 needs a client
	// capped at it.
	max8 := kversion.Stable()
	max8.SetMaxKeyVersion(8, 8)
	v8 := newClient(t, b.Addr(), kgo.MaxVersions(max8))
	commit := func(req *kmsg.OffsetCommitRequest) []int16 {
		t.Helper()
		c := cl
		if req.Version == 8 {
			c = v8
		}
		resp, err := req.RequestWith(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var codes []int16
		for _, p := range resp.Topics[0].Partitions {
			codes = append(codes, p.ErrorCode)
		}
		return codes
	}
	m := "m1-occ-0123456789ab"
	for _, c := range []struct {
		name string
		req  *kmsg.OffsetCommitRequest
		want int16
	}{
		{"unknown member", commitReq(9, "g-occ", "nobody", epoch, "occ", 0), kerr.UnknownMemberID.Code},
		{"newer epoch", commitReq(9, "g-occ", m, epoch+1, "occ", 0), kerr.StaleMemberEpoch.Code},
		{"older epoch, partition assigned after it", commitReq(9, "g-occ", m, epoch-1, "occ", 0), kerr.StaleMemberEpoch.Code},
		{"v8 from a consumer-protocol member", commitReq(8, "g-occ", m, epoch, "occ", 0), kerr.UnsupportedVersion.Code},
		{"generation -1 while the group has members", commitReq(9, "g-occ", "", -1, "occ", 0), kerr.UnknownMemberID.Code},
		{"unknown group, generation >= 0", commitReq(9, "g-none", m, 3, "occ", 0), kerr.GroupIDNotFound.Code},
		{"unknown group, generation >= 0, v8", commitReq(8, "g-none", m, 3, "occ", 0), kerr.IllegalGeneration.Code},
		{"the member at its epoch", commitReq(9, "g-occ", m, epoch, "occ", 0, 1), 0},
	} {
		for _, got := range commit(c.req) {
			if got != c.want {
				t.Errorf("%s: %v, want %v", c.name, kerr.ErrorForCode(got), kerr.ErrorForCode(c.want))
			}
		}
	}

	fetch := func(member *string, epoch int32) *kmsg.OffsetFetchResponseGroup {
		t.Helper()
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group, g.MemberID, g.MemberEpoch = "g-occ", member, epoch
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = "occ", []int32{0, 1}
		g.Topics = append(g.Topics, rt)
		req.Groups = append(req.Groups, g)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return &resp.Groups[0]
	}
	nobody := "nobody"
	if g := fetch(&nobody, epoch); g.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("fetch by an unknown member: %v", kerr.ErrorForCode(g.ErrorCode))
	}
	if g := fetch(&m, epoch+1); g.ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Errorf("fetch at a newer epoch: %v", kerr.ErrorForCode(g.ErrorCode))
	}
	for _, who := range []*string{&m, nil} {
		e := epoch
		if who == nil {
			e = -1 // an admin client
		}
		g := fetch(who, e)
		if g.ErrorCode != 0 || len(g.Topics) != 1 || len(g.Topics[0].Partitions) != 2 {
			t.Fatalf("fetch (member %v): %+v", who, g)
		}
		for _, p := range g.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.Offset != 7 {
				t.Errorf("fetch (member %v): partition %d at %d (%v), want 7", who, p.Partition, p.Offset, kerr.ErrorForCode(p.ErrorCode))
			}
		}
	}
}

// TestGroupAPIsSeeConsumerGroups: ListGroups v5 lists a consumer-protocol
// group once, with type and protocol type "consumer" (not the
// offsets-only group that holds its commits), beside a classic group of
// type "classic", and both filters apply; DescribeGroups answers it as
// Kafka 4.4 does (not a classic group: Dead, GROUP_ID_NOT_FOUND from v6);
// DeleteGroups refuses it while it has a member and deletes it, offsets
// included, once Empty.
func TestGroupAPIsSeeConsumerGroups(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr(), kgo.MaxVersions(max9())) // by topic name
	createTopic(t, cl, "gac", 1)
	m := "m1-gac-0123456789ab"
	epoch := cgJoin(t, ctx, cl, "g-gac-consumer", m, "gac")
	if resp, err := commitReq(9, "g-gac-consumer", m, epoch, "gac", 0).RequestWith(ctx, cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v %+v", err, resp)
	}
	// A classic offsets-only group.
	if resp, err := commitReq(9, "g-gac-classic", "", -1, "gac", 0).RequestWith(ctx, cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("classic commit: %v %+v", err, resp)
	}

	list := func(types, states []string) map[string]kmsg.ListGroupsResponseGroup {
		t.Helper()
		req := kmsg.NewPtrListGroupsRequest()
		req.TypesFilter, req.StatesFilter = types, states
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("ListGroups: %v %+v", err, resp)
		}
		out := map[string]kmsg.ListGroupsResponseGroup{}
		for _, g := range resp.Groups {
			if _, dup := out[g.Group]; dup {
				t.Fatalf("ListGroups lists %s twice", g.Group)
			}
			out[g.Group] = g
		}
		return out
	}
	all := list(nil, nil)
	cg, ok := all["g-gac-consumer"]
	if !ok || cg.GroupType != "consumer" || cg.ProtocolType != "consumer" || cg.GroupState == "" {
		t.Fatalf("consumer group listed as %+v (present %v)", cg, ok)
	}
	if c := all["g-gac-classic"]; c.GroupType != "classic" || c.GroupState != "Empty" {
		t.Fatalf("classic group listed as %+v", c)
	}
	if got := list([]string{"Consumer"}, nil); len(got) != 1 || got["g-gac-consumer"].Group == "" {
		t.Errorf("types filter consumer: %v", got)
	}
	if got := list([]string{"classic"}, nil); got["g-gac-consumer"].Group != "" || got["g-gac-classic"].Group == "" {
		t.Errorf("types filter classic: %v", got)
	}
	if got := list(nil, []string{cg.GroupState}); got["g-gac-consumer"].Group == "" || got["g-gac-classic"].Group != "" {
		t.Errorf("states filter %s: %v", cg.GroupState, got)
	}

	for _, v := range []int16{5, 6} {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{"g-gac-consumer"}
		c := cl
		if v == 5 {
			max5 := kversion.Stable()
			max5.SetMaxKeyVersion(15, 5)
			c = newClient(t, b.Addr(), kgo.MaxVersions(max5))
		}
		resp, err := req.RequestWith(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		g := resp.Groups[0]
		want := int16(0)
		if v >= 6 {
			want = kerr.GroupIDNotFound.Code
		}
		if g.State != "Dead" || g.ErrorCode != want || len(g.Members) != 0 {
			t.Errorf("DescribeGroups v%d of a consumer group: %+v", v, g)
		}
	}

	del := func() int16 {
		t.Helper()
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = []string{"g-gac-consumer"}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Groups[0].ErrorCode
	}
	if code := del(); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete with a member: %v", kerr.ErrorForCode(code))
	}
	leave := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	leave.Version, leave.Group, leave.MemberID, leave.MemberEpoch = 1, "g-gac-consumer", m, -1
	if resp, err := leave.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("leave: %v %+v", err, resp)
	}
	if code := del(); code != 0 {
		t.Fatalf("delete of the Empty group: %v", kerr.ErrorForCode(code))
	}
	if _, ok := list(nil, nil)["g-gac-consumer"]; ok {
		t.Error("the deleted consumer group is still listed")
	}
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "g-gac-consumer")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("gac", 0); ok && o.At >= 0 {
		t.Errorf("the deleted group's offset is still %d", o.At)
	}
	if code := del(); code != kerr.GroupIDNotFound.Code {
		t.Errorf("second delete: %v", kerr.ErrorForCode(code))
	}
}
