package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rewindhq/rewind/rewindtest"
)

// partitionOwners records which client owns each partition, through the
// clients' callbacks, and every moment two clients owned one at once.
type partitionOwners struct {
	mu         sync.Mutex
	owner      map[int32]string
	violations []string
	received   map[string]bool
}

func (po *partitionOwners) opts(name, topic string) []kgo.Opt {
	release := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		po.mu.Lock()
		defer po.mu.Unlock()
		for _, p := range m[topic] {
			if po.owner[p] == name {
				delete(po.owner, p)
			}
		}
	}
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			po.mu.Lock()
			defer po.mu.Unlock()
			for _, p := range m[topic] {
				if o, ok := po.owner[p]; ok && o != name {
					po.violations = append(po.violations, fmt.Sprintf("partition %d given to %s while %s owns it", p, name, o))
				}
				po.owner[p] = name
			}
		}),
		kgo.OnPartitionsRevoked(release),
		kgo.OnPartitionsLost(release),
	}
}

func (po *partitionOwners) count(name string) int {
	po.mu.Lock()
	defer po.mu.Unlock()
	n := 0
	for _, o := range po.owner {
		if o == name {
			n++
		}
	}
	return n
}

// TestFranzGoServerSideBalancer: franz-go consumers speaking Kafka 4's
// consumer protocol (kgo.ServerSideBalancer: ConsumerGroupHeartbeat v1,
// the broker assigns) share a topic: three members split six partitions
// two each (with the range assignor the clients name), a member that
// leaves hands its partitions to the others, no partition is ever owned
// by two members at once, every record is consumed, and
// ConsumerGroupDescribe shows the group as it stands.
func TestFranzGoServerSideBalancer(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 90*time.Second)
	admCl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	createTopic(t, admCl, "ssb", 6)
	produceStrings(t, admCl, "ssb", seq("x", 60)...)

	po := &partitionOwners{owner: map[int32]string{}, received: map[string]bool{}}
	start := func(name string, extra ...kgo.Opt) (*kgo.Client, context.CancelFunc) {
		opts := append(po.opts(name, "ssb"), kgo.ConsumerGroup("g-ssb"), kgo.ConsumeTopics("ssb"),
			kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		cl, err := kgo.NewClient(append(append(opts, kgo.SeedBrokers(b.Addr())), extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithCancel(ctx)
		go func() {
			for pctx.Err() == nil {
				fs := cl.PollFetches(pctx)
				fs.EachRecord(func(r *kgo.Record) {
					po.mu.Lock()
					po.received[string(r.Value)] = true
					po.mu.Unlock()
				})
			}
		}()
		return cl, cancel
	}
	a, stopA := start("a")
	defer stopA()
	defer a.Close()
	waitFor(t, 30*time.Second, func() bool { return po.count("a") == 6 })
	bcl, stopB := start("b", kgo.InstanceID("static-b"))
	c, stopC := start("c")
	waitFor(t, 30*time.Second, func() bool { return po.count("a") == 2 && po.count("b") == 2 && po.count("c") == 2 })

	adm := kadm.NewClient(admCl)
	dg, err := adm.DescribeConsumerGroups(ctx, "g-ssb")
	if err != nil {
		t.Fatal(err)
	}
	g := dg["g-ssb"]
	if g.Err != nil || g.State != "Stable" || len(g.Members) != 3 || g.AssignorName != "range" {
		t.Fatalf("described %+v", g)
	}
	// franz-go's static leave (epoch -2) carries no instance id, which
	// Kafka 4.4 refuses ("InstanceId can't be null."), and so does Rewind:
	// a static restart is covered by group/consumer's golden scripts.
	defer stopB()
	defer bcl.Close()

	// c leaves: a and b take three partitions each.
	stopC()
	c.Close()
	waitFor(t, 30*time.Second, func() bool { return po.count("a") == 3 && po.count("b") == 3 })
	produceStrings(t, admCl, "ssb", seq("y", 60)...)
	waitFor(t, 30*time.Second, func() bool {
		po.mu.Lock()
		defer po.mu.Unlock()
		for _, v := range append(seq("x", 60), seq("y", 60)...) {
			if !po.received[v] {
				return false
			}
		}
		return true
	})
	po.mu.Lock()
	defer po.mu.Unlock()
	if len(po.violations) > 0 {
		t.Fatalf("partitions owned twice: %v", po.violations)
	}
}
