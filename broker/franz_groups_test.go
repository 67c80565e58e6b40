package broker_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// owned tracks a kgo group member's partitions through its callbacks.
type owned struct {
	mu       sync.Mutex
	parts    map[int32]bool
	assigns  int
	revokes  int
	lost     int
	received map[string]bool
}

func newOwned() *owned { return &owned{parts: map[int32]bool{}, received: map[string]bool{}} }

func (o *owned) opts(topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.assigns++
			for _, p := range m[topic] {
				o.parts[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.revokes++
			for _, p := range m[topic] {
				delete(o.parts, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.lost++
			for _, p := range m[topic] {
				delete(o.parts, p)
			}
		}),
	}
}

func (o *owned) sorted() []int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ps []int32
	for p := range o.parts {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// poll consumes in the background until ctx ends, recording values.
func (o *owned) poll(ctx context.Context, cl *kgo.Client) {
	go func() {
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				o.mu.Lock()
				o.received[string(r.Value)] = true
				o.mu.Unlock()
			})
		}
	}()
}

// TestFranzGoCooperativeSticky: franz-go's default balancer is
// cooperative-sticky (KIP-429). A second member joining takes half the
// partitions, the first keeps the rest without revoking them all, and
// every record is consumed.
func TestFranzGoCooperativeSticky(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	admCl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	createTopic(t, admCl, "coop", 4)
	produceStrings(t, admCl, "coop", seq("x", 40)...)

	a, bb := newOwned(), newOwned()
	opts := func(o *owned) []kgo.Opt {
		return append(o.opts("coop"), kgo.ConsumerGroup("g-coop"), kgo.ConsumeTopics("coop"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.HeartbeatInterval(200*time.Millisecond))
	}
	ca := newClient(t, b.Addr(), opts(a)...)
	a.poll(ctx, ca)
	waitFor(t, 20*time.Second, func() bool { return len(a.sorted()) == 4 })

	cb := newClient(t, b.Addr(), opts(bb)...)
	bb.poll(ctx, cb)
	waitFor(t, 20*time.Second, func() bool { return len(a.sorted()) == 2 && len(bb.sorted()) == 2 })
	all := append(a.sorted(), bb.sorted()...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) != 4 || all[0] != 0 || all[3] != 3 || all[1] == all[2] {
		t.Fatalf("partitions split %v / %v", a.sorted(), bb.sorted())
	}
	a.mu.Lock()
	lost := a.lost
	a.mu.Unlock()
	if lost != 0 {
		t.Fatalf("first member lost its partitions %d times during a cooperative rebalance", lost)
	}

	// The group protocol chosen is the cooperative one.
	dg, err := kadm.NewClient(admCl).DescribeGroups(ctx, "g-coop")
	if err != nil {
		t.Fatal(err)
	}
	if g := dg["g-coop"]; g.Protocol != "cooperative-sticky" || g.State != "Stable" {
		t.Fatalf("group protocol %q state %q", g.Protocol, g.State)
	}
	// Each member's host is its connection's address in Kafka's form.
	if ms := dg["g-coop"].Members; len(ms) != 2 || ms[0].ClientHost != "/127.0.0.1" || ms[1].ClientHost != "/127.0.0.1" {
		t.Fatalf("members %+v: want 2, each with client host /127.0.0.1", ms)
	}
	produceStrings(t, admCl, "coop", seq("y", 40)...)
	waitFor(t, 20*time.Second, func() bool {
		a.mu.Lock()
		bb.mu.Lock()
		defer a.mu.Unlock()
		defer bb.mu.Unlock()
		for _, v := range append(seq("x", 40), seq("y", 40)...) {
			if !a.received[v] && !bb.received[v] {
				return false
			}
		}
		return true
	})
}

// TestFranzGoStaticMembership (KIP-345): a static member that restarts
// within its session timeout gets its partitions back without a rebalance;
// the other member sees no revocation. A second live client with the same
// instance id fences the first (FENCED_INSTANCE_ID).
func TestFranzGoStaticMembership(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	admCl := newClient(t, b.Addr())
	createTopic(t, admCl, "static", 4)

	opts := func(o *owned, id string) []kgo.Opt {
		return append(o.opts("static"), kgo.ConsumerGroup("g-static"), kgo.ConsumeTopics("static"),
			kgo.InstanceID(id), kgo.SessionTimeout(10*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
			kgo.Balancers(kgo.RangeBalancer()))
	}
	a, bb := newOwned(), newOwned()
	ca, err := kgo.NewClient(append(opts(a, "member-a"), kgo.SeedBrokers(b.Addr()))...)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	a.poll(actx, ca)
	cb := newClient(t, b.Addr(), opts(bb, "member-b")...)
	bb.poll(ctx, cb)
	waitFor(t, 20*time.Second, func() bool { return len(a.sorted()) == 2 && len(bb.sorted()) == 2 })
	before := a.sorted()
	bb.mu.Lock()
	bAssigns, bRevokes := bb.assigns, bb.revokes
	bb.mu.Unlock()

	// Restart member a: a static member does not leave the group on close.
	acancel()
	ca.Close()
	a2 := newOwned()
	ca2 := newClient(t, b.Addr(), opts(a2, "member-a")...)
	a2.poll(ctx, ca2)
	waitFor(t, 20*time.Second, func() bool { return len(a2.sorted()) == 2 })
	if got := a2.sorted(); got[0] != before[0] || got[1] != before[1] {
		t.Fatalf("restarted static member got %v, had %v", got, before)
	}
	time.Sleep(500 * time.Millisecond)
	bb.mu.Lock()
	if bb.assigns != bAssigns || bb.revokes != bRevokes {
		t.Fatalf("other member saw a rebalance: assigns %d->%d revokes %d->%d", bAssigns, bb.assigns, bRevokes, bb.revokes)
	}
	bb.mu.Unlock()

	// A raw heartbeat with the old member id for the same instance is fenced.
	dg, err := kadm.NewClient(admCl).DescribeGroups(ctx, "g-static")
	if err != nil {
		t.Fatal(err)
	}
	g := dg["g-static"]
	if len(g.Members) != 2 {
		t.Fatalf("members after static restart: %d", len(g.Members))
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.InstanceID = "g-static", "stale-member-id", kmsg.StringPtr("member-a")
	for _, m := range g.Members {
		if m.InstanceID != nil && *m.InstanceID == "member-a" {
			hb.Generation = 1
		}
	}
	resp, err := hb.RequestWith(ctx, admCl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != kerr.FencedInstanceID {
		t.Fatalf("heartbeat with a stale member id for a static instance: %v, want FENCED_INSTANCE_ID", err)
	}
}

// TestSessionTimeoutExpiresSilentMember: a member that joins and then goes
// silent is removed after its session timeout, and its partitions move to
// the live member.
func TestSessionTimeoutExpiresSilentMember(t *testing.T) {
	b := rewindtest.Start(t, func(c *broker.Config) { c.GroupMinSessionTimeout = 500 * time.Millisecond })
	ctx := testCtx(t, 60*time.Second)
	admCl := newClient(t, b.Addr())
	createTopic(t, admCl, "silent", 4)

	// The silent member joins with raw requests and never heartbeats.
	silent := newClient(t, b.Addr())
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"silent"}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType = "g-silent", "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 1500, 5000
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", meta.AppendTo(nil)
	join.Protocols = []kmsg.JoinGroupRequestProtocol{proto}
	jr, err := join.RequestWith(ctx, silent)
	if err != nil {
		t.Fatal(err)
	}
	if jr.ErrorCode == kerr.MemberIDRequired.Code { // KIP-394
		join.MemberID = jr.MemberID
		if jr, err = join.RequestWith(ctx, silent); err != nil {
			t.Fatal(err)
		}
	}
	if jr.ErrorCode != 0 || jr.LeaderID != jr.MemberID {
		t.Fatalf("silent join: %v leader %q member %q", kerr.ErrorForCode(jr.ErrorCode), jr.LeaderID, jr.MemberID)
	}
	asg := kmsg.NewConsumerMemberAssignment()
	asg.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "silent", Partitions: []int32{0, 1, 2, 3}}}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = "g-silent", jr.Generation, jr.MemberID
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range") // mandatory from v5, as in Kafka
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: asg.AppendTo(nil)}}
	if sr, err := sync.RequestWith(ctx, silent); err != nil || sr.ErrorCode != 0 {
		t.Fatalf("silent sync: %v %v", err, sr)
	}

	// A live kgo member joins; once the silent one expires it owns everything.
	live := newOwned()
	cl := newClient(t, b.Addr(), append(live.opts("silent"), kgo.ConsumerGroup("g-silent"), kgo.ConsumeTopics("silent"),
		kgo.Balancers(kgo.RangeBalancer()), kgo.HeartbeatInterval(200*time.Millisecond))...)
	live.poll(ctx, cl)
	waitFor(t, 30*time.Second, func() bool { return len(live.sorted()) == 4 })
	dg, err := kadm.NewClient(admCl).DescribeGroups(ctx, "g-silent")
	if err != nil {
		t.Fatal(err)
	}
	if g := dg["g-silent"]; len(g.Members) != 1 || g.Members[0].MemberID == jr.MemberID {
		t.Fatalf("after the session timeout: %+v", g.Members)
	}
	// The expired member's generation is fenced.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = "g-silent", jr.Generation, jr.MemberID
	resp, err := hb.RequestWith(ctx, silent)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != kerr.UnknownMemberID {
		t.Fatalf("heartbeat from the expired member: %v, want UNKNOWN_MEMBER_ID", err)
	}
}

// TestCommittedOffsetsSurviveRestartAndDecode: commits survive a clean
// restart, and __consumer_offsets can be consumed by an ordinary client and
// decoded with Kafka's own schemas (what Burrow does).
func TestCommittedOffsetsSurviveRestartAndDecode(t *testing.T) {
	dir := t.TempDir()
	b := rewindtest.Start(t, broker.WithDataDir(dir))
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "kept", 3)
	produceStrings(t, cl, "kept", seq("k", 9)...)
	adm := kadm.NewClient(cl)
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: "kept", Partition: 0, At: 5, Metadata: "checkpoint-5"})
	commit.Add(kadm.Offset{Topic: "kept", Partition: 2, At: 0})
	if r, err := adm.CommitOffsets(ctx, "g-kept", commit); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := rewindtest.Start(t, broker.WithDataDir(dir))
	cl2 := newClient(t, b2.Addr())
	adm2 := kadm.NewClient(cl2)
	offs, err := adm2.FetchOffsets(ctx, "g-kept")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("kept", 0); !ok || o.At != 5 || o.Metadata != "checkpoint-5" {
		t.Fatalf("partition 0 after restart: %+v", o)
	}
	if o, ok := offs.Lookup("kept", 2); !ok || o.At != 0 {
		t.Fatalf("partition 2 after restart: %+v", o)
	}
	if _, ok := offs.Lookup("kept", 1); ok {
		t.Fatal("partition 1 was never committed")
	}
	groups, err := adm2.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := groups["g-kept"]; !ok || g.State != "Empty" {
		t.Fatalf("listed groups after restart: %+v", groups)
	}

	// Read __consumer_offsets like Burrow does and decode with Kafka's schemas.
	raw := newClient(t, b2.Addr(), kgo.ConsumeTopics(broker.OffsetsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	found := map[int32]int64{}
	for len(found) < 2 {
		fs := raw.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("decoded only %v from %s", found, broker.OffsetsTopic)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var k kmsg.OffsetCommitKey
			if err := k.ReadFrom(r.Key); err != nil || k.Version > 1 {
				return // a group metadata record (key version 2)
			}
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(r.Value); err != nil {
				t.Fatalf("offset commit value at %d does not decode: %v", r.Offset, err)
			}
			if k.Group == "g-kept" && k.Topic == "kept" {
				found[k.Partition] = v.Offset
				if k.Partition == 0 && v.Metadata != "checkpoint-5" {
					t.Errorf("metadata %q", v.Metadata)
				}
				if v.CommitTimestamp <= 0 {
					t.Errorf("commit timestamp %d", v.CommitTimestamp)
				}
			}
		})
	}
	if found[0] != 5 || found[2] != 0 {
		t.Fatalf("decoded commits %v", found)
	}
}
