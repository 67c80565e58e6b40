package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// assignments tracks what every member of a group holds, from the
// members' own callbacks, and signals when the group has settled: every
// partition held by exactly one member and every member holding one (the
// topic has at least as many partitions as members). With kgo's default
// cooperative-sticky balancer a rebalance that moves partitions takes two
// rounds; the first leaves partitions unowned, so it never looks settled.
type assignments struct {
	mu      sync.Mutex
	held    []map[int32]bool
	parts   int
	settled chan struct{}
	once    sync.Once
}

func newAssignments(members, parts int) *assignments {
	a := &assignments{held: make([]map[int32]bool, members), parts: parts, settled: make(chan struct{})}
	for i := range a.held {
		a.held[i] = map[int32]bool{}
	}
	return a
}

func (a *assignments) change(member int, ps map[string][]int32, add bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, list := range ps {
		for _, p := range list {
			if add {
				a.held[member][p] = true
			} else {
				delete(a.held[member], p)
			}
		}
	}
	total := 0
	seen := map[int32]bool{}
	for _, h := range a.held {
		if len(h) == 0 {
			return
		}
		total += len(h)
		for p := range h {
			seen[p] = true
		}
	}
	if total == a.parts && len(seen) == a.parts {
		a.once.Do(func() { close(a.settled) })
	}
}

// timeToStable starts members consumers of one group on a topic with
// partitions (>= members) partitions, all at once, and returns the time
// from the last member's start to the settled assignment.
func timeToStable(ctx context.Context, t target, topic string, partitions, members int) (time.Duration, error) {
	a := newAssignments(members, partitions)
	group := topic + "-g"
	clients := make([]*kgo.Client, members)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				go cl.Close() // leaving 100 members one by one is slow and not measured
			}
		}
	}()
	var last time.Time
	for i := range clients {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(t.addrs()...),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { a.change(i, ps, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { a.change(i, ps, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { a.change(i, ps, false) }),
		)
		if err != nil {
			return 0, err
		}
		clients[i] = cl
		// The group is joined from PollFetches; start polling at once.
		go func() {
			for {
				if fs := cl.PollFetches(ctx); fs.IsClientClosed() || ctx.Err() != nil {
					return
				}
			}
		}()
		last = time.Now()
	}
	select {
	case <-a.settled:
		return time.Since(last), nil
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("group of %d members not stable after 2m", members)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// commitResult is what commitRate measures over its window.
type commitResult struct {
	rate float64       // commits/s
	p99  time.Duration // of the time a commit took, from request to answer
	// The machine's CPU over the window, every process (the clients and
	// the broker, whichever it is) and the kernel: per commit, and as a
	// share of all its cores. A run that keeps the cores busy is bound by
	// CPU, and then the broker that needs less per commit goes faster.
	cpuPerCommit time.Duration
	busy         float64
}

// commitRate runs committers clients, each committing one offset at a
// time (simple commits, generation -1, as admin tools make) to its own
// group, and measures commits per second over the window, the 99th
// percentile of the time a commit took, and the machine's CPU.
func commitRate(ctx context.Context, cfg *Config, t target, topic string, committers int) (commitResult, error) {
	var res commitResult
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done atomic.Int64
	var measuring atomic.Bool
	var wg sync.WaitGroup
	lats := make([][]time.Duration, committers) // each committer's, while measuring
	errs := make(chan error, committers)
	// The window starts once every committer has made its first commit:
	// a broker just (re)started may answer NOT_COORDINATOR while it loads
	// __consumer_offsets (Apache Kafka does for seconds on a loaded
	// machine), and a window spent there would measure the load, not the
	// commits.
	var first sync.WaitGroup
	first.Add(committers)
	defer wg.Wait() // before the clients close
	for i := 0; i < committers; i++ {
		adm, cl, err := admin(t)
		if err != nil {
			return res, err
		}
		defer cl.Close()
		group := fmt.Sprintf("%s-c%d", topic, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var off int64
			started := false
			defer func() {
				if !started {
					first.Done() // failed before its first commit: errs says why
				}
			}()
			for ctx.Err() == nil {
				off++
				os := kadm.Offsets{}
				os.Add(kadm.Offset{Topic: topic, Partition: int32(i % 8), At: off, LeaderEpoch: -1})
				start := time.Now()
				resp, err := adm.CommitOffsets(ctx, group, os)
				if err == nil {
					err = resp.Error()
				}
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("commit: %w", err)
					}
					return
				}
				if measuring.Load() {
					lats[i] = append(lats[i], time.Since(start))
				}
				done.Add(1)
				if !started {
					started = true
					first.Done()
				}
			}
		}()
	}
	wait := func(d time.Duration) error {
		select {
		case err := <-errs:
			return err
		case <-time.After(d):
			return ctx.Err()
		}
	}
	allStarted := make(chan struct{})
	go func() { first.Wait(); close(allStarted) }()
	select {
	case err := <-errs:
		return res, err
	case <-allStarted:
	case <-time.After(2 * time.Minute):
		return res, fmt.Errorf("commits: not every committer made a first commit within 2m")
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if err := wait(cfg.Warmup); err != nil {
		return res, err
	}
	measuring.Store(true)
	n0, cpu0 := done.Load(), sampleCPU()
	if err := wait(cfg.Duration - cfg.Warmup); err != nil {
		return res, err
	}
	n, cpu1 := done.Load()-n0, sampleCPU()
	measuring.Store(false)
	el := cpu1.at.Sub(cpu0.at)
	res.rate = float64(n) / el.Seconds()
	if n > 0 {
		res.cpuPerCommit = time.Duration((cpu1.busy - cpu0.busy) / float64(n) * float64(time.Second))
	}
	res.busy = (cpu1.busy - cpu0.busy) / (el.Seconds() * float64(runtime.NumCPU()))
	cancel()
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	res.p99 = quantile(all, 0.99)
	return res, nil
}

// mean returns the mean of ds, 0 if empty.
func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// quantile returns the q-quantile of ds (sorted in place), 0 if empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}
