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
// kfake's and Rewind's), not by the assignor.

// holdings is what each member owns, from its callbacks.
type holdings struct {
	mu      sync.Mutex
	held    []map[int32]bool
	changed chan struct{} // signalled (not closed) on every change
}

func newHoldings(members int) *holdings {
	h := &holdings{held: make([]map[int32]bool, members), changed: make(chan struct{}, 1)}
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
// settles again with it.
func timeToRejoin(ctx context.Context, t target, topic string, members int, serverSide bool) (time.Duration, error) {
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
				if fs := cl.PollFetches(ctx); fs.IsClientClosed() || ctx.Err() != nil {
					return
				}
			}
		}()
		return nil
	}
	for i := 0; i < members; i++ {
		if err := start(i); err != nil {
			return 0, err
		}
	}
	if err := h.wait(ctx, members, parts, 3*time.Minute); err != nil {
		return 0, fmt.Errorf("before the join: %w", err)
	}
	joined := time.Now()
	if err := start(members); err != nil {
		return 0, err
	}
	if err := h.wait(ctx, members+1, parts, 2*time.Minute); err != nil {
		return 0, fmt.Errorf("after the join: %w", err)
	}
	return time.Since(joined), nil
}
