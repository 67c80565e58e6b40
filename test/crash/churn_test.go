package crash

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"os"
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
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestGroupChurn runs one consumer group through constant churn for
// REWIND_CHURN_DURATION (default 20s; minutes in the long run): franz-go
// members and hand-driven protocol members (JoinGroup, SyncGroup,
// Heartbeat, OffsetCommit as raw requests) join, leave cleanly, or are
// killed (their connections cut, no LeaveGroup, so only the session timeout
// removes them). It checks the coordinator's two safety properties:
//
//   - no partition is ever assigned to two members of one generation
//     (every member records the assignment it got in SyncGroup with its
//     generation);
//   - no commit from a stale generation is accepted: raw members commit
//     with a generation older than one already seen (deliberately, with a
//     marker offset, after every rebalance, and as it happens when their
//     heartbeat is late), and every such commit must be refused; at the end
//     no marker offset is committed.
func TestGroupChurn(t *testing.T) {
	dur := 20 * time.Second
	if d, err := time.ParseDuration(os.Getenv("REWIND_CHURN_DURATION")); err == nil && d > 0 {
		dur = d
	}
	b := rewindtest.Start(t, func(c *broker.Config) { c.GroupMinSessionTimeout = 500 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*time.Minute)
	defer cancel()
	const topic, group, parts = "churn", "churners", 12
	adm, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 600; i++ {
		adm.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := adm.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	obs := &observer{t: t, assigned: map[int32]map[int32]string{}, members: map[int32]map[string]bool{}}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var live []member
	var wg sync.WaitGroup
	spawn := func(raw bool) {
		id := fmt.Sprintf("m%03d", obs.spawned())
		var m member
		if raw {
			m = startRaw(ctx, t, b.Addr(), group, topic, parts, id, obs, &wg)
		} else {
			m = startFranz(ctx, t, b.Addr(), group, topic, id, obs, &wg)
		}
		live = append(live, m)
	}
	for i := 0; i < 4; i++ {
		spawn(i%2 == 0)
	}
	deadline := time.Now().Add(dur)
	actions := map[string]int{}
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(200+rng.Intn(600)) * time.Millisecond)
		switch a := rng.Intn(10); {
		case len(live) < 2 || a < 4 && len(live) < 8:
			raw := rng.Intn(2) == 0
			spawn(raw)
			actions["join"]++
		case a < 7:
			i := rng.Intn(len(live))
			live[i].leave()
			live = append(live[:i], live[i+1:]...)
			actions["leave"]++
		default:
			i := rng.Intn(len(live))
			live[i].kill()
			live = append(live[:i], live[i+1:]...)
			actions["kill"]++
		}
	}
	for _, m := range live {
		m.leave()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("members did not stop within a minute")
	}

	// No marker offset of a stale commit is committed.
	offs, err := kadm.NewClient(adm).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.At >= staleMarker {
			t.Errorf("partition %d: a stale generation's commit (marker offset %d) was accepted", o.Partition, o.At)
		}
	})
	obs.report(actions)
}

// staleMarker is the offset stale commits carry, far past any real one.
const staleMarker = 1 << 40

// observer collects what members saw.
type observer struct {
	t  *testing.T
	mu sync.Mutex
	n  int
	// assigned: generation -> partition -> member holding it.
	assigned map[int32]map[int32]string
	members  map[int32]map[string]bool // generation -> members that got an assignment
	maxGen   int32
	stale    struct{ sent, refused int }
	commits  struct{ sent, accepted int }
	overlaps int
}

func (o *observer) spawned() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	return o.n
}

// sawGeneration records a generation from a JoinGroup or SyncGroup answer.
func (o *observer) sawGeneration(g int32) {
	o.mu.Lock()
	o.maxGen = max(o.maxGen, g)
	o.mu.Unlock()
}

func (o *observer) generation() int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.maxGen
}

// assignment records what member got in generation gen.
func (o *observer) assignment(gen int32, member string, partitions []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.maxGen = max(o.maxGen, gen)
	if o.assigned[gen] == nil {
		o.assigned[gen] = map[int32]string{}
		o.members[gen] = map[string]bool{}
	}
	if o.members[gen][member] {
		o.t.Errorf("generation %d: %s got two assignments", gen, member)
	}
	o.members[gen][member] = true
	for _, p := range partitions {
		if other, ok := o.assigned[gen][p]; ok && other != member {
			o.overlaps++
			o.t.Errorf("generation %d: partition %d assigned to both %s and %s", gen, p, other, member)
		}
		o.assigned[gen][p] = member
	}
}

func (o *observer) report(actions map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	gens := make([]int, 0, len(o.assigned))
	assignments := 0
	for g := range o.assigned {
		gens = append(gens, int(g))
		assignments += len(o.members[g])
	}
	sort.Ints(gens)
	o.t.Logf("group churn: %d members started (%d joins later, %d left, %d killed); %d generations with assignments observed (up to %d), %d member assignments, 0 partitions assigned twice in a generation; commits: %d sent, %d accepted; stale-generation commits: %d sent, %d refused, 0 accepted",
		o.n, actions["join"], actions["leave"], actions["kill"], len(gens), o.maxGen, assignments, o.commits.sent, o.commits.accepted, o.stale.sent, o.stale.refused)
	if o.stale.sent == 0 {
		o.t.Error("no stale commit was tried: the churn was too short")
	}
	if len(gens) < 5 {
		o.t.Errorf("only %d generations observed: the churn was too gentle", len(gens))
	}
}

type member interface {
	leave() // leave the group cleanly
	kill()  // cut the connections, no LeaveGroup
}

// killable is a dialer whose connections can all be cut at once, after
// which it refuses to dial: a process that died.
type killable struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killable) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// franzMember is a franz-go group consumer with the eager range balancer,
// so that each generation's assignment arrives whole in OnPartitionsAssigned.
type franzMember struct {
	cl     *kgo.Client
	k      *killable
	cancel context.CancelFunc
	wg     *sync.WaitGroup
}

func startFranz(ctx context.Context, t *testing.T, addr, group, topic, id string, obs *observer, wg *sync.WaitGroup) member {
	k := &killable{}
	var cl *kgo.Client
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.Dialer(k.dial), kgo.ClientID(id),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(200*time.Millisecond), kgo.RebalanceTimeout(3*time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(300*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.OnPartitionsAssigned(func(_ context.Context, c *kgo.Client, a map[string][]int32) {
			mem, gen := c.GroupMetadata()
			obs.assignment(gen, id+"/"+mem, a[topic])
		}))
	if err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	m := &franzMember{cl: cl, k: k, cancel: cancel, wg: wg}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for mctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(mctx, 300*time.Millisecond)
			cl.PollFetches(pctx)
			pcancel()
		}
	}()
	return m
}

func (m *franzMember) leave() {
	m.cancel()
	m.wg.Add(1)
	go func() { defer m.wg.Done(); m.cl.Close() }() // LeaveGroup
}

func (m *franzMember) kill() {
	m.k.kill()
	m.cancel()
	m.wg.Add(1)
	go func() { defer m.wg.Done(); m.cl.Close() }() // its LeaveGroup cannot get out
}

// rawMember speaks the group protocol itself: JoinGroup (with the KIP-394
// member id round), SyncGroup (as leader it computes a range assignment),
// Heartbeat every 200 ms with an OffsetCommit of its partitions, and after
// each rebalance an OffsetCommit with the previous generation and a marker
// offset, which must be refused.
type rawMember struct {
	id, group, topic string
	parts            int32
	cl               *kgo.Client
	k                *killable
	obs              *observer
	t                *testing.T
	stop             chan struct{}
	killed           chan struct{}
	memberID         string
	gen              int32
	assigned         []int32
}

func startRaw(ctx context.Context, t *testing.T, addr, group, topic string, parts int32, id string, obs *observer, wg *sync.WaitGroup) member {
	k := &killable{}
	// Its OffsetCommits name topics, as OffsetCommit v9 does (v10 names
	// them by id).
	v9 := kversion.Stable()
	v9.SetMaxKeyVersion(8, 9)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.Dialer(k.dial), kgo.ClientID(id), kgo.MaxVersions(v9),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }), kgo.RequestRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	m := &rawMember{id: id, group: group, topic: topic, parts: parts, cl: cl, k: k, obs: obs, t: t,
		stop: make(chan struct{}), killed: make(chan struct{})}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cl.Close()
		m.run(ctx)
	}()
	return m
}

func (m *rawMember) leave() { close(m.stop) }

func (m *rawMember) kill() {
	m.k.kill()
	close(m.killed)
}

func (m *rawMember) done() bool {
	select {
	case <-m.stop:
		return true
	case <-m.killed:
		return true
	default:
		return false
	}
}

func (m *rawMember) run(ctx context.Context) {
	for !m.done() && ctx.Err() == nil {
		if !m.join(ctx) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		m.session(ctx)
	}
	select {
	case <-m.killed:
		return // gone without a word
	default:
	}
	if m.memberID != "" {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group, req.MemberID = m.group, m.memberID
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m.memberID
		req.Members = append(req.Members, lm)
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		req.RequestWith(lctx, m.cl)
		cancel()
	}
}

// join runs JoinGroup and SyncGroup; it reports whether the member now
// holds an assignment.
func (m *rawMember) join(ctx context.Context) bool {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{m.topic}
	jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var resp *kmsg.JoinGroupResponse
	for try := 0; try < 2; try++ {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = m.group, m.memberID, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 1000, 3000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		var err error
		resp, err = req.RequestWith(jctx, m.cl)
		if err != nil {
			return false
		}
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			m.memberID = resp.MemberID
			continue
		}
		break
	}
	if resp.ErrorCode != 0 {
		if resp.ErrorCode == kerr.UnknownMemberID.Code {
			m.memberID = ""
		}
		return false
	}
	m.memberID, m.gen = resp.MemberID, resp.Generation
	m.obs.sawGeneration(resp.Generation)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = m.group, resp.Generation, resp.MemberID
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	if resp.LeaderID == resp.MemberID {
		sync.GroupAssignment = m.assign(resp.Members)
	}
	sresp, err := sync.RequestWith(jctx, m.cl)
	if err != nil || sresp.ErrorCode != 0 {
		return false
	}
	var a kmsg.ConsumerMemberAssignment
	if len(sresp.MemberAssignment) > 0 {
		if err := a.ReadFrom(sresp.MemberAssignment); err != nil {
			m.t.Errorf("%s: undecodable assignment: %v", m.id, err)
			return false
		}
	}
	m.assigned = nil
	for _, tp := range a.Topics {
		if tp.Topic == m.topic {
			m.assigned = append(m.assigned, tp.Partitions...)
		}
	}
	m.obs.assignment(m.gen, m.id+"/"+m.memberID, m.assigned)
	return true
}

// assign is the range assignor over the members subscribed to the topic.
func (m *rawMember) assign(members []kmsg.JoinGroupResponseMember) []kmsg.SyncGroupRequestGroupAssignment {
	var subs []string
	for _, mem := range members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(mem.ProtocolMetadata); err != nil {
			m.t.Errorf("%s: undecodable metadata of %s: %v", m.id, mem.MemberID, err)
			continue
		}
		for _, tp := range meta.Topics {
			if tp == m.topic {
				subs = append(subs, mem.MemberID)
			}
		}
	}
	sort.Strings(subs)
	var out []kmsg.SyncGroupRequestGroupAssignment
	per, extra := int(m.parts)/max(len(subs), 1), int(m.parts)%max(len(subs), 1)
	next := int32(0)
	for i, id := range subs {
		n := per
		if i < extra {
			n++
		}
		a := kmsg.NewConsumerMemberAssignment()
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic = m.topic
		for j := 0; j < n; j++ {
			at.Partitions = append(at.Partitions, next)
			next++
		}
		a.Topics = append(a.Topics, at)
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, a.AppendTo(nil)
		out = append(out, ga)
	}
	for _, mem := range members { // members not subscribed get nothing
		found := false
		for _, s := range subs {
			found = found || s == mem.MemberID
		}
		if !found {
			ga := kmsg.NewSyncGroupRequestGroupAssignment()
			ga.MemberID = mem.MemberID
			out = append(out, ga)
		}
	}
	return out
}

// session heartbeats and commits until a rebalance, an error, or the end.
func (m *rawMember) session(ctx context.Context) {
	staleDone := false
	for !m.done() && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.Generation, hb.MemberID = m.group, m.gen, m.memberID
		hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err := hb.RequestWith(hctx, m.cl)
		cancel()
		if err != nil {
			return
		}
		switch resp.ErrorCode {
		case 0:
		case kerr.UnknownMemberID.Code:
			m.memberID = ""
			return
		default: // REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION...
			return
		}
		m.commit(ctx, m.gen, 1+int64(m.gen), false)
		if !staleDone && m.gen > 1 {
			staleDone = true
			m.commit(ctx, m.gen-1, staleMarker+int64(m.gen), true)
		}
	}
}

// commit sends an OffsetCommit for the member's partitions with generation
// gen. A commit with a generation older than one already seen must be
// refused, whatever its offset; a deliberate stale commit (marker offset)
// must be refused too.
func (m *rawMember) commit(ctx context.Context, gen int32, offset int64, stale bool) {
	if len(m.assigned) == 0 {
		return
	}
	seen := m.obs.generation() // before sending: the broker's is at least this
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = m.group, gen, m.memberID
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = m.topic
	for _, p := range m.assigned {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, offset
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	resp, err := req.RequestWith(cctx, m.cl)
	cancel()
	if err != nil {
		return
	}
	accepted := false
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			accepted = accepted || p.ErrorCode == 0
		}
	}
	m.obs.mu.Lock()
	defer m.obs.mu.Unlock()
	if stale {
		m.obs.stale.sent++
		if !accepted {
			m.obs.stale.refused++
		}
	} else {
		m.obs.commits.sent++
		if accepted {
			m.obs.commits.accepted++
		}
	}
	if accepted && (stale || gen < seen) {
		m.t.Errorf("%s: a commit with generation %d was accepted after generation %d had been seen", m.id, gen, seen)
	}
}
