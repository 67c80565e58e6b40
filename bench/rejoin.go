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
// The time runs from the newcomer's client start to the settled
// assignment, seen from the members' own assignment callbacks. With the
// consumer protocol, members learn of a new target on their next
// heartbeat, so the figure is bounded below by the broker's
// group.consumer.heartbeat.interval.ms (Kafka's default 5 s, also
// kfake's and Rewind's), not by the assignor; Config.ConsumerHeartbeat
// sets it on every broker of the run.
//
// Records flow meanwhile (rejoinRate a second, round robin), and every
// member counts each record it polls (autocommit, as kgo's default), so
// the rebalance's duplicates are exact: the records polled more than
// once, from the group's start until it settled again with the newcomer
// and a second after (what the previous owner had polled past its last
// commit when a partition moved is polled again by its new owner).
const rejoinRate = 200

// holdings is what each member owns, from its callbacks, and how many
// times each record was polled.
type holdings struct {
	mu      sync.Mutex
	held    []map[int32]bool
	changed chan struct{} // signalled (not closed) on every change
	polled  map[[2]int64]int
}

func (h *holdings) poll(fs kgo.Fetches) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fs.EachRecord(func(r *kgo.Record) { h.polled[[2]int64{int64(r.Partition), r.Offset}]++ })
}

// duplicates is the number of polls of records polled before.
func (h *holdings) duplicates() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.polled {
		n += c - 1
	}
	return n
}

func newHoldings(members int) *holdings {
	h := &holdings{held: make([]map[int32]bool, members), changed: make(chan struct{}, 1), polled: map[[2]int64]int{}}
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
// partitions), then starts one more and returns the time until the group
// settles again with it, and the records polled twice.
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
		opts := []kgo.Opt{
			kgo.SeedBrokers(t.addrs()...),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { h.change(i, ps, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { h.change(i, ps, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { h.change(i, ps, false) }),
		}
		if serverSide {
			opts = append(opts, kgo.ServerSideBalancer())
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return err
		}
		clients = append(clients, cl)
		go func() {
			for {
				fs := cl.PollFetches(ctx)
				if fs.IsClientClosed() || ctx.Err() != nil {
					return
				}
				h.poll(fs)
			}
		}()
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
