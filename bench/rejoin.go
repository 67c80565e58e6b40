package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// One more member: how long a settled group of n members takes to settle
// again once member n+1 joins, with the classic protocol (kgo's default
// cooperative-sticky balancer: JoinGroup/SyncGroup, two rounds when a
// partition moves) and with Kafka 4's consumer protocol (KIP-848,
// kgo.ServerSideBalancer: the broker's assignor, incremental
// reconciliation by heartbeats). The topic has n+1 partitions, so settled
// means every partition owned by exactly one member and every member,
// the new one included, owning at least one: at least one partition has
// moved to the newcomer.
//
// The group joined is in a steady state: settled, then left alone for
// rejoinQuiet before the newcomer starts. Kafka 4.4 computes a consumer
// group's target assignment at most once per
// group.consumer.assignment.interval.ms (1 s, as Rewind), on the first
// heartbeat after it, so a member joining within a second of the group's
// previous target waits out the rest of that second first (on every
// broker alike: the group's own formation ends with such a target, and a
// join right after it measured 0.6-0.8 s of that wait on Kafka and on
// Rewind). After the quiet period the join computes its target at once.
// With the classic protocol the quiet period means the members heartbeat
// at kgo's steady 3 s, not at the 500 ms kgo checks once after a
// rebalance, so they hear of the join within 3 s.
//
// The time runs from the newcomer's client start to the settled
// assignment, seen from the members' own assignment callbacks. With the
// consumer protocol a member learns of a change only from the answer to
// one of its own heartbeats, sent every group.consumer.heartbeat.interval.ms
// (Kafka's default 5 s, also kfake's and Rewind's): the newcomer's join
// and the heartbeat kgo sends right after it come before the previous
// owner can have heard of the revocation, so the newcomer receives its
// partition at its next heartbeat, one interval after the join, or one
// more when the previous owner's heartbeat (at a random point of its own
// interval) and its revocation come later than that. One interval is the
// floor on every broker; Config.ConsumerHeartbeat sets the interval on
// every broker of the run.
//
// Records flow meanwhile (rejoinRate a second, round robin), and every
// member counts each record it polls; members autocommit (kgo's default)
// and commit synchronously on revoke, as kgo's default revoke callback
// does (memberOpts). The duplicates are the polls, from the join until a
// second after the group settled again, of records polled before: what
// the previous owner had polled past its last commit when a partition
// moved, polled again by its new owner. (Counting from the group's start
// would add the re-reads of the group's own formation, and without the
// commit on revoke every moved partition is read again from the last
// autocommit: that is what made these counts differ between brokers.)
const rejoinRate = 200

// rejoinQuiet is how long the settled group is left alone before the
// newcomer starts: longer than group.consumer.assignment.interval.ms
// (Kafka 4.4's and Rewind's 1 s).
const rejoinQuiet = 2 * time.Second

// holdings is what each member owns, from its callbacks, and which
// records were polled.
type holdings struct {
	mu       sync.Mutex
	held     []map[int32]bool
	changed  chan struct{} // signalled (not closed) on every change
	polled   map[[2]int64]bool
	counting bool // duplicates are counted
	dups     int
}

func (h *holdings) poll(fs kgo.Fetches) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fs.EachRecord(func(r *kgo.Record) {
		k := [2]int64{int64(r.Partition), r.Offset}
		if h.polled[k] && h.counting {
			h.dups++
		}
		h.polled[k] = true
	})
}

// count starts counting duplicates: from now on, every poll of a record
// polled before is one.
func (h *holdings) count() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counting = true
}

// duplicates is the number of polls, since count, of records polled
// before.
func (h *holdings) duplicates() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dups
}

// memberOpts are member i's assignment callbacks, which keep h up to date
// and commit on revoke.
func (h *holdings) memberOpts(i int) []kgo.Opt {
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { h.change(i, ps, true) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
			// This callback replaces kgo's default one, which commits
			// (synchronously) before the partitions go: without a
			// commit, a moved partition's new owner would read again
			// everything since the last autocommit (5 s) or, early on,
			// since the start. kgo's default commits what was polled
			// before the last poll; the bench's members are done with
			// a record once polled, so they commit all they polled.
			cl.CommitOffsetsSync(ctx, cl.UncommittedOffsets(), nil)
			h.change(i, ps, false)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { h.change(i, ps, false) }),
	}
}

// startMember starts member i of group on topic (the consumer protocol
// when serverSide), polling into h until ctx ends or it is closed.
func (h *holdings) startMember(ctx context.Context, i int, addrs []string, group, topic string, serverSide bool, more ...kgo.Opt) (*kgo.Client, error) {
	opts := append(h.memberOpts(i), kgo.SeedBrokers(addrs...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic))
	if serverSide {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	cl, err := kgo.NewClient(append(opts, more...)...)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			h.poll(fs)
		}
	}()
	return cl, nil
}

func newHoldings(members int) *holdings {
	h := &holdings{held: make([]map[int32]bool, members), changed: make(chan struct{}, 1), polled: map[[2]int64]bool{}}
	for i := range h.held {
		h.held[i] = map[int32]bool{}
	}
	return h
}

func (h *holdings) change(member int, ps map[string][]int32, add bool) {
	h.mu.Lock()
	for _, list := range ps {
		for _, p := range list {
			if add {
				h.held[member][p] = true
			} else {
				delete(h.held[member], p)
			}
		}
	}
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// settled reports whether the first n members own the parts partitions,
// each once, each member at least one.
func (h *holdings) settled(n, parts int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[int32]bool{}
	for _, held := range h.held[:n] {
		if len(held) == 0 {
			return false
		}
		for p := range held {
			if seen[p] {
				return false
			}
			seen[p] = true
		}
	}
	return len(seen) == parts
}

func (h *holdings) wait(ctx context.Context, n, parts int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for !h.settled(n, parts) {
		select {
		case <-h.changed:
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			return fmt.Errorf("group of %d members not settled on %d partitions after %v", n, parts, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// timeToRejoin settles a group of members members on topic (members+1
// partitions), leaves it alone for rejoinQuiet, then starts one more and
// returns the time until the group settles again with it, and the records
// polled again across that join.
func timeToRejoin(ctx context.Context, t target, topic string, members int, serverSide bool) (time.Duration, int, error) {
	parts := members + 1
	h := newHoldings(members + 1)
	group := topic + "-g"
	var clients []*kgo.Client
	defer func() {
		for _, cl := range clients {
			go cl.Close() // leaving one by one is slow and not measured
		}
	}()
	start := func(i int) error {
		cl, err := h.startMember(ctx, i, t.addrs(), group, topic, serverSide)
		if err != nil {
			return err
		}
		clients = append(clients, cl)
		return nil
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(t.addrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return 0, 0, err
	}
	defer prod.Close()
	pctx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	go func() {
		tick := time.NewTicker(time.Second / rejoinRate)
		defer tick.Stop()
		for pctx.Err() == nil {
			select {
			case <-tick.C:
				prod.Produce(pctx, &kgo.Record{Value: []byte("r")}, nil)
			case <-pctx.Done():
			}
		}
	}()
	for i := 0; i < members; i++ {
		if err := start(i); err != nil {
			return 0, 0, err
		}
	}
	if err := h.wait(ctx, members, parts, 3*time.Minute); err != nil {
		return 0, 0, fmt.Errorf("before the join: %w", err)
	}
	select {
	case <-time.After(rejoinQuiet):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	if err := h.wait(ctx, members, parts, time.Minute); err != nil {
		return 0, 0, fmt.Errorf("before the join, left alone: %w", err)
	}
	h.count()
	joined := time.Now()
	if err := start(members); err != nil {
		return 0, 0, err
	}
	if err := h.wait(ctx, members+1, parts, 2*time.Minute); err != nil {
		return 0, 0, fmt.Errorf("after the join: %w", err)
	}
	took := time.Since(joined)
	// A record the previous owner polled past its commit is polled again
	// by the new owner once it fetches from the commit: give it a second.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	return took, h.duplicates(), nil
}
