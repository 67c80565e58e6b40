package group

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeClock is the injected clock: tests move it with harness.advance.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// all returns every record, partition by partition.
func (s *memStore) all() map[int32][]Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int32][]Record)
	for p, rs := range s.parts {
		out[p] = append([]Record(nil), rs...)
	}
	return out
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, rs := range s.parts {
		n += len(rs)
	}
	return n
}

// replayInto feeds every stored record to c, partitions in order.
func (s *memStore) replayInto(t *testing.T, c *Coordinator) {
	t.Helper()
	parts := s.all()
	s.mu.Lock()
	batches := make(map[int32][]Batch)
	for p, bs := range s.batches {
		batches[p] = append([]Batch(nil), bs...)
	}
	s.mu.Unlock()
	var ps []int32
	for p := range parts {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, p := range ps {
		for i, r := range parts[p] {
			if err := c.ReplayBatch(p, int64(i), batches[p][i], r.Key, r.Value, r.Timestamp); err != nil {
				t.Fatalf("replay %d/%d: %v", p, i, err)
			}
		}
	}
}

// settle waits until every write of every group has been applied (the
// callbacks run on the goroutines that waited for durability).
func (h *harness) settle() {
	h.t.Helper()
	for {
		var last *write
		for _, g := range h.c.snapshot() {
			g.mu.Lock()
			if w := g.lastWrite(); w != nil {
				last = w
			}
			g.mu.Unlock()
			if last != nil {
				break
			}
		}
		if last == nil {
			return
		}
		select {
		case <-last.applied:
		case <-time.After(10 * time.Second):
			h.t.Fatal("writes not applied within 10s")
		}
	}
}

type harness struct {
	t     *testing.T
	c     *Coordinator
	clk   *fakeClock
	store *memStore
	cfg   Config
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func testConfig(clk *fakeClock) Config {
	cfg := DefaultConfig()
	cfg.Now = clk.Now
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.MinSessionTimeout = 100 * time.Millisecond
	return cfg
}

// newHarness starts a coordinator on a fake clock and an in-memory store;
// timers run only when the test advances the clock.
func newHarness(t *testing.T, mod ...func(*Config)) *harness {
	t.Helper()
	clk := &fakeClock{t: t0}
	cfg := testConfig(clk)
	for _, f := range mod {
		f(&cfg)
	}
	h := &harness{t: t, clk: clk, store: newMemStore(), cfg: cfg}
	h.c = New(cfg, h.store)
	h.c.start(false)
	t.Cleanup(h.c.Close)
	return h
}

// restart builds a new coordinator from everything the store holds.
func (h *harness) restart() *harness {
	h.t.Helper()
	h.c.Close()
	n := &harness{t: h.t, clk: h.clk, store: h.store, cfg: h.cfg}
	n.c = New(h.cfg, h.store)
	h.store.replayInto(h.t, n.c)
	n.c.start(false)
	h.t.Cleanup(n.c.Close)
	return n
}

func noDelay(cfg *Config) { cfg.InitialRebalanceDelay = 0 }

// advance moves the clock, runs the timers that became due and waits
// until the writes they caused are applied (an expiry deletes offsets
// once its tombstones are durable).
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clk.add(d)
	h.c.sched.fireDue()
	h.settle()
}

// fire runs timers already due (a zero initial delay, say).
func (h *harness) fire() { h.c.sched.fireDue() }

// eventually waits for cond, failing after a deadline; it never sleeps
// longer than a millisecond at a time.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// inspect runs fn under the group's lock; false if the group is gone.
func (h *harness) inspect(name string, fn func(g *group)) bool {
	g := h.c.lockGroup(name, false)
	if g == nil {
		return false
	}
	defer g.mu.Unlock()
	fn(g)
	return true
}

func (h *harness) state(name string) string {
	s := "Dead"
	h.inspect(name, func(g *group) { s = g.state.String() })
	return s
}

func (h *harness) generation(name string) int32 {
	var gen int32 = -1
	h.inspect(name, func(g *group) { gen = g.generation })
	return gen
}

// waitAwaiting waits until n members of the group await a JoinGroup answer.
func (h *harness) waitAwaiting(name string, n int) {
	h.t.Helper()
	h.eventually("members awaiting join", func() bool {
		ok := false
		h.inspect(name, func(g *group) { ok = g.numAwaiting == n })
		return ok
	})
}

// waitSyncing waits until member awaits a SyncGroup answer.
func (h *harness) waitSyncing(name, member string) {
	h.t.Helper()
	h.eventually("member awaiting sync", func() bool {
		ok := false
		h.inspect(name, func(g *group) { ok = g.members[member] != nil && g.members[member].syncCh != nil })
		return ok
	})
}

// ---- requests ----

type joinOpt func(*kmsg.JoinGroupRequest)

func withInstance(id string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.InstanceID = &id }
}

func withTimeouts(session, rebalance time.Duration) joinOpt {
	return func(r *kmsg.JoinGroupRequest) {
		r.SessionTimeoutMillis = int32(session / time.Millisecond)
		r.RebalanceTimeoutMillis = int32(rebalance / time.Millisecond)
	}
}

func withProtocols(ps ...kmsg.JoinGroupRequestProtocol) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.Protocols = ps }
}

func withProtocolType(pt string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.ProtocolType = pt }
}

// consumerMeta encodes a ConsumerMemberMetadata subscribing to topics.
func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 1
	m.Topics = topics
	return m.AppendTo(nil)
}

func proto(name string, meta []byte) kmsg.JoinGroupRequestProtocol {
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = name
	p.Metadata = meta
	return p
}

func joinReq(v int16, group, member string, opts ...joinOpt) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = v
	r.Group = group
	r.MemberID = member
	r.SessionTimeoutMillis = 10000
	r.RebalanceTimeoutMillis = 20000
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{proto("range", consumerMeta("t"))}
	for _, o := range opts {
		o(r)
	}
	return r
}

func (h *harness) joinAsync(req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	return h.joinAsyncCtx(context.Background(), req)
}

func (h *harness) joinAsyncCtx(ctx context.Context, req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- h.c.JoinGroup(ctx, req) }()
	return ch
}

func (h *harness) join(req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	h.t.Helper()
	return recv(h.t, h.joinAsync(req))
}

// recv waits for a blocking handler's answer.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a response")
		panic("unreachable")
	}
}

// pending asserts a blocking handler has not answered yet.
func pending[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("expected no answer yet, got %+v", v)
	case <-time.After(5 * time.Millisecond):
	}
}

func syncReq(v int16, group, member string, gen int32, assign map[string][]byte) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = v
	r.Group = group
	r.MemberID = member
	r.Generation = gen
	if v >= 5 {
		pt, p := "consumer", "range"
		r.ProtocolType, r.Protocol = &pt, &p
	}
	var ids []string
	for id := range assign {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID = id
		a.MemberAssignment = assign[id]
		r.GroupAssignment = append(r.GroupAssignment, a)
	}
	return r
}

func (h *harness) syncAsync(req *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- h.c.SyncGroup(context.Background(), req) }()
	return ch
}

func (h *harness) sync(req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	h.t.Helper()
	return recv(h.t, h.syncAsync(req))
}

func (h *harness) heartbeat(v int16, group, member string, gen int32, instance ...string) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = v
	r.Group = group
	r.MemberID = member
	r.Generation = gen
	if len(instance) > 0 {
		r.InstanceID = &instance[0]
	}
	return h.c.Heartbeat(context.Background(), r).ErrorCode
}

func leaveReq(v int16, group string, members ...kmsg.LeaveGroupRequestMember) *kmsg.LeaveGroupRequest {
	r := kmsg.NewPtrLeaveGroupRequest()
	r.Version = v
	r.Group = group
	if v < 3 {
		r.MemberID = members[0].MemberID
	} else {
		r.Members = members
	}
	return r
}

func leaving(member string, instance ...string) kmsg.LeaveGroupRequestMember {
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = member
	if len(instance) > 0 {
		m.InstanceID = &instance[0]
	}
	return m
}

type commitOpt func(*kmsg.OffsetCommitRequest)

func commitReq(v int16, group, member string, gen int32, offsets map[string]map[int32]int64, opts ...commitOpt) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = v
	r.Group = group
	r.MemberID = member
	r.Generation = gen
	var topics []string
	for t := range offsets {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = t
		var ps []int32
		for p := range offsets[t] {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		for _, p := range ps {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition = p
			rp.Offset = offsets[t][p]
			meta := "m"
			rp.Metadata = &meta
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// commitCodes returns "topic/partition" -> error code.
func (h *harness) commit(req *kmsg.OffsetCommitRequest) map[string]int16 {
	resp := h.c.OffsetCommit(context.Background(), req)
	out := make(map[string]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[tpName(t.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

func tpName(t string, p int32) string { return t + "/" + strconv.Itoa(int(p)) }

// allCodes asserts every partition got code.
func allCodes(t *testing.T, codes map[string]int16, want int16) {
	t.Helper()
	if len(codes) == 0 {
		t.Fatal("no partitions in response")
	}
	for k, c := range codes {
		if c != want {
			t.Errorf("%s: got %v, want %v", k, kerr.ErrorForCode(c), kerr.ErrorForCode(want))
		}
	}
}

// fetch returns topic/partition -> offset for a v(<8) fetch.
func (h *harness) fetch(v int16, group string, topics map[string][]int32) (int16, map[string]int64) {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = v
	r.Group = group
	if topics != nil {
		r.Topics = []kmsg.OffsetFetchRequestTopic{}
		for t, ps := range topics {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic = t
			rt.Partitions = ps
			r.Topics = append(r.Topics, rt)
		}
	}
	resp := h.c.OffsetFetch(context.Background(), r)
	out := make(map[string]int64)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[tpName(t.Topic, p.Partition)] = p.Offset
		}
	}
	return resp.ErrorCode, out
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return ke.Message
	}
	return kerr.ErrorForCode(code).Error()
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %s, want %s", what, errName(got), errName(want))
	}
}

// stableGroup brings a group of n v9 dynamic members to Stable with the
// "range" protocol and returns the member ids (leader first) and the
// generation. Every member subscribes to topic "t".
func (h *harness) stableGroup(name string, n int, opts ...joinOpt) ([]string, int32) {
	h.t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		r := h.join(joinReq(9, name, "", opts...))
		wantCode(h.t, "first join", r.ErrorCode, kerr.MemberIDRequired.Code)
		ids = append(ids, r.MemberID)
	}
	var chs []<-chan *kmsg.JoinGroupResponse
	for i, id := range ids {
		chs = append(chs, h.joinAsync(joinReq(9, name, id, opts...)))
		h.waitAwaiting(name, i+1)
	}
	// Let the initial delay run out (extended once per new member).
	for i := 0; i <= n && h.state(name) == "PreparingRebalance"; i++ {
		h.advance(h.cfg.InitialRebalanceDelay)
	}
	var leader string
	var gen int32
	resps := make(map[string]*kmsg.JoinGroupResponse)
	for i, ch := range chs {
		r := recv(h.t, ch)
		wantCode(h.t, "join", r.ErrorCode, 0)
		resps[ids[i]] = r
		leader, gen = r.LeaderID, r.Generation
	}
	assign := make(map[string][]byte)
	for _, id := range ids {
		assign[id] = []byte("assignment-of-" + id)
	}
	var syncs []<-chan *kmsg.SyncGroupResponse
	for _, id := range ids {
		if id == leader {
			continue
		}
		freq := syncReq(5, name, id, gen, nil)
		freq.ProtocolType, freq.Protocol = resps[id].ProtocolType, resps[id].Protocol
		syncs = append(syncs, h.syncAsync(freq))
		h.waitSyncing(name, id)
	}
	lreq := syncReq(5, name, leader, gen, assign)
	lreq.ProtocolType, lreq.Protocol = resps[leader].ProtocolType, resps[leader].Protocol
	lr := h.sync(lreq)
	wantCode(h.t, "leader sync", lr.ErrorCode, 0)
	for _, ch := range syncs {
		wantCode(h.t, "follower sync", recv(h.t, ch).ErrorCode, 0)
	}
	out := []string{leader}
	for _, id := range ids {
		if id != leader {
			out = append(out, id)
		}
	}
	if s := h.state(name); s != "Stable" {
		h.t.Fatalf("group state %s, want Stable", s)
	}
	return out, gen
}

var errDisk = errors.New("disk on fire")
