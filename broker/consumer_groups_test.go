package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/rewindhq/rewind/rewindtest"
)

// cgMember drives one consumer-protocol member by hand, with
// ConsumerGroupHeartbeat v1, owning what it was last assigned.
type cgMember struct {
	t      *testing.T
	cl     *kgo.Client
	group  string
	id     string
	topic  string
	epoch  int32
	owned  []kmsg.ConsumerGroupHeartbeatRequestTopic // nil before the first assignment
	joined bool
	// rebalanceMs is the rebalance timeout it joins with (default 30 s).
	rebalanceMs int32
}

// beat sends one heartbeat (a join first) and takes the assignment the
// response carries; it returns the response.
func (m *cgMember) beat(ctx context.Context) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = m.group, m.id, m.epoch
	if !m.joined {
		req.RebalanceTimeoutMillis = 30000
		if m.rebalanceMs > 0 {
			req.RebalanceTimeoutMillis = m.rebalanceMs
		}
		req.SubscribedTopicNames = []string{m.topic}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	} else {
		req.Topics = m.owned
		if req.Topics == nil {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
	}
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		return resp
	}
	m.joined, m.epoch = true, resp.MemberEpoch
	if a := resp.Assignment; a != nil {
		m.owned = nil
		for _, tp := range a.Topics {
			m.owned = append(m.owned, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tp.TopicID, Partitions: slices.Clone(tp.Partitions)})
		}
	}
	return resp
}

// mustBeat is beat that fails the test on an error code.
func (m *cgMember) mustBeat(ctx context.Context) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	resp := m.beat(ctx)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		m.t.Fatalf("%s: heartbeat at epoch %d: %v (%s)", m.id, m.epoch, err, deref(resp.ErrorMessage))
	}
	return resp
}

func (m *cgMember) ownedPartitions() []int32 {
	var out []int32
	for _, t := range m.owned {
		out = append(out, t.Partitions...)
	}
	slices.Sort(out)
	return out
}

// describeCG describes one consumer group.
func describeCG(t *testing.T, ctx context.Context, cl *kgo.Client, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	g := resp.Groups[0]
	slices.SortFunc(g.Members, func(a, b kmsg.ConsumerGroupDescribeResponseGroupMember) int {
		if a.MemberID < b.MemberID {
			return -1
		}
		return 1
	})
	for i := range g.Members {
		for _, a := range []*kmsg.Assignment{&g.Members[i].Assignment, &g.Members[i].TargetAssignment} {
			slices.SortFunc(a.TopicPartitions, func(x, y kmsg.AssignmentTopicPartition) int {
				if x.Topic < y.Topic {
					return -1
				}
				return 1
			})
		}
	}
	return g
}

// cgSummary is what a restart must keep of a described group.
type cgSummary struct {
	State                  string
	Epoch, AssignmentEpoch int32
	Members                []cgMemberSummary
}

type cgMemberSummary struct {
	ID             string
	Epoch          int32
	Owned, Target  []int32
	ClientID, Host string
	Subscribed     []string
}

func summarize(g kmsg.ConsumerGroupDescribeResponseGroup) cgSummary {
	s := cgSummary{State: g.State, Epoch: g.Epoch, AssignmentEpoch: g.AssignmentEpoch}
	parts := func(a kmsg.Assignment) []int32 {
		var out []int32
		for _, tp := range a.TopicPartitions {
			out = append(out, tp.Partitions...)
		}
		slices.Sort(out)
		return out
	}
	for _, m := range g.Members {
		s.Members = append(s.Members, cgMemberSummary{ID: m.MemberID, Epoch: m.MemberEpoch, Owned: parts(m.Assignment),
			Target: parts(m.TargetAssignment), ClientID: m.ClientID, Host: m.ClientHost, Subscribed: m.SubscribedTopics})
	}
	return s
}

// TestConsumerGroupSurvivesRestart: a consumer-protocol group stopped in
// the middle of a reconciliation (a member told to revoke half its
// partitions, the new member waiting for them) comes back after a
// restart exactly as it was (epochs, target and current assignments,
// member metadata), and the reconciliation completes from there: the
// members carry on at their epochs, nothing is fenced, and no partition
// is given to the new member before the old one has revoked it.
func TestConsumerGroupSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t, 60*time.Second)
	b := rewindtest.Start(t, broker.WithDataDir(dir))
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "cgr", 4)

	a := &cgMember{t: t, cl: cl, group: "g-cgr", id: "member-a-0123456789", topic: "cgr"}
	a.mustBeat(ctx)
	if got := a.ownedPartitions(); !slices.Equal(got, []int32{0, 1, 2, 3}) {
		t.Fatalf("a alone owns %v", got)
	}
	bm := &cgMember{t: t, cl: cl, group: "g-cgr", id: "member-b-0123456789", topic: "cgr"}
	bm.mustBeat(ctx)
	// a learns it must give up two partitions; b waits for them.
	deadline := time.Now().Add(10 * time.Second)
	for len(a.ownedPartitions()) != 2 {
		a.mustBeat(ctx)
		if time.Now().After(deadline) {
			t.Fatal("a was never asked to revoke")
		}
		time.Sleep(100 * time.Millisecond) // the assignment interval (1 s)
	}
	// a has not acknowledged yet: the broker still holds it as revoking.
	before := describeCG(t, ctx, cl, "g-cgr")
	if before.State != "Reconciling" {
		t.Fatalf("before the restart the group is %s, want Reconciling", before.State)
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := rewindtest.Start(t, broker.WithDataDir(dir))
	cl2 := newClient(t, b2.Addr())
	after := describeCG(t, ctx, cl2, "g-cgr")
	if err := kerr.ErrorForCode(after.ErrorCode); err != nil {
		t.Fatalf("the group after the restart: %v", err)
	}
	if want, got := summarize(before), summarize(after); !equalSummary(want, got) {
		t.Fatalf("the group after the restart\n got %+v\nwant %+v", got, want)
	}

	// The reconciliation goes on from where it was.
	a.cl, bm.cl = cl2, cl2
	aEpoch := a.epoch
	a.mustBeat(ctx) // acknowledges the revocation
	if a.epoch < aEpoch {
		t.Fatalf("a went back from epoch %d to %d", aEpoch, a.epoch)
	}
	deadline = time.Now().Add(10 * time.Second)
	for len(bm.ownedPartitions()) != 2 {
		bm.mustBeat(ctx)
		if time.Now().After(deadline) {
			t.Fatalf("b never got its partitions (owns %v)", bm.ownedPartitions())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ov := slices.DeleteFunc(slices.Clone(bm.ownedPartitions()), func(p int32) bool { return !slices.Contains(a.ownedPartitions(), p) }); len(ov) > 0 {
		t.Fatalf("partitions %v owned by both members", ov)
	}
	a.mustBeat(ctx)
	final := describeCG(t, ctx, cl2, "g-cgr")
	if final.State != "Stable" || final.Epoch != before.Epoch {
		t.Fatalf("after the reconciliation: %s at epoch %d, want Stable at %d", final.State, final.Epoch, before.Epoch)
	}
}

func equalSummary(a, b cgSummary) bool {
	if a.State != b.State || a.Epoch != b.Epoch || a.AssignmentEpoch != b.AssignmentEpoch || len(a.Members) != len(b.Members) {
		return false
	}
	for i := range a.Members {
		x, y := a.Members[i], b.Members[i]
		if x.ID != y.ID || x.Epoch != y.Epoch || !slices.Equal(x.Owned, y.Owned) || !slices.Equal(x.Target, y.Target) ||
			x.ClientID != y.ClientID || x.Host != y.Host || !slices.Equal(x.Subscribed, y.Subscribed) {
			return false
		}
	}
	return true
}

// offsetsRecords reads the consumer-group records of group from
// __consumer_offsets (its partition, from the start): each key's kind and
// the decoded record (nil value for a tombstone).
func offsetsRecords(t *testing.T, ctx context.Context, addr, group string) []offsetsfmt.Record {
	t.Helper()
	p := offsetsfmt.PartitionFor(group, 50)
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{broker.OffsetsTopic: {p: kgo.NewOffset().AtStart()}}))
	adm := newClient(t, addr)
	_, end := proctest.ListEnd(t, ctx, adm, broker.OffsetsTopic, p)
	var out []offsetsfmt.Record
	var next int64
	for next < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s-%d: at %d of %d", broker.OffsetsTopic, p, next, end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			rec, err := offsetsfmt.Decode(r.Key, r.Value)
			if err != nil {
				t.Fatalf("record %d: %v", r.Offset, err)
			}
			if rec.Group == group && rec.Kind.IsConsumerGroup() {
				out = append(out, rec)
			}
		})
	}
	return out
}

// TestConsumerGroupRecordsAsKafka: the records a join, a leave and a
// DeleteGroups write to __consumer_offsets are Kafka 4.4's, in Kafka's
// order (offsetsfmt/testdata's capture of Kafka 4.4.0 has the same
// sequences), and a deleted group stays deleted after a restart.
func TestConsumerGroupRecordsAsKafka(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t, 60*time.Second)
	b := rewindtest.Start(t, broker.WithDataDir(dir))
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "cgk", 2)
	m := &cgMember{t: t, cl: cl, group: "g-cgk", id: "member-k-0123456789", topic: "cgk"}
	m.mustBeat(ctx)
	// Leave (epoch -1).
	m.epoch = -1
	m.mustBeat(ctx)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = 2
	del.Groups = []string{"g-cgk"}
	dresp, err := del.RequestWith(ctx, cl)
	if err != nil || dresp.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %v %v", err, dresp)
	}

	type kv struct {
		kind      offsetsfmt.Kind
		tombstone bool
	}
	var got []kv
	for _, r := range offsetsRecords(t, ctx, b.Addr(), "g-cgk") {
		got = append(got, kv{r.Kind, r.Consumer == nil})
	}
	const (
		meta    = offsetsfmt.ConsumerGroupMetadata
		member  = offsetsfmt.ConsumerGroupMemberMetadata
		target  = offsetsfmt.ConsumerGroupTargetAssignmentMember
		tmeta   = offsetsfmt.ConsumerGroupTargetAssignmentMetadata
		current = offsetsfmt.ConsumerGroupCurrentMemberAssignment
		pmeta   = offsetsfmt.ConsumerGroupPartitionMetadata
	)
	want := []kv{
		// The join: subscription, epoch 2, target, target epoch, current.
		{member, false}, {meta, false}, {target, false}, {tmeta, false}, {current, false},
		// The leave: the member's tombstones, then epoch 3.
		{current, true}, {target, true}, {member, true}, {meta, false},
		// DeleteGroups of the Empty group.
		{tmeta, true}, {pmeta, true}, {meta, true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("records of g-cgk\n got %v\nwant %v", got, want)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := rewindtest.Start(t, broker.WithDataDir(dir))
	cl2 := newClient(t, b2.Addr())
	if g := describeCG(t, ctx, cl2, "g-cgk"); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("the deleted group after a restart: %v, %s", kerr.ErrorForCode(g.ErrorCode), g.State)
	}
}

// TestConsumerGroupWriteRefusedIsUndone: a heartbeat whose records the
// log refuses (a subscription of over 1 MiB of topic names: its member
// record exceeds __consumer_offsets' max.message.bytes) is answered with
// Kafka's error for a write that can never fit, UNKNOWN_SERVER_ERROR,
// and changes nothing: the group it would have created does not exist,
// and the same member joining with a usual subscription starts the group
// at epoch 2, as if the refused join had never happened.
func TestConsumerGroupWriteRefusedIsUndone(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "cgu", 2)
	join := func(topics []string) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group, req.MemberID = "g-cgu", "member-u-0123456789"
		req.RebalanceTimeoutMillis = 30000
		req.SubscribedTopicNames = topics
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	huge := []string{"cgu"}
	for i := 0; i < 11000; i++ {
		huge = append(huge, fmt.Sprintf("%0100d", i))
	}
	if resp := join(huge); resp.ErrorCode != kerr.UnknownServerError.Code {
		t.Fatalf("a join whose records do not fit: %v, want UNKNOWN_SERVER_ERROR", kerr.ErrorForCode(resp.ErrorCode))
	}
	if g := describeCG(t, ctx, cl, "g-cgu"); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("after the refused join the group is %s (%v), want none", g.State, kerr.ErrorForCode(g.ErrorCode))
	}
	resp := join([]string{"cgu"})
	if resp.ErrorCode != 0 || resp.MemberEpoch != 2 {
		t.Fatalf("the join with a usual subscription: epoch %d (%v), want 2", resp.MemberEpoch, kerr.ErrorForCode(resp.ErrorCode))
	}
}
