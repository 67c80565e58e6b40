package broker_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
)

// fastConsumerHeartbeats is a 1 s consumer-protocol heartbeat, so that a
// rolling migration settles in seconds.
func fastConsumerHeartbeats(c *broker.Config) {
	c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupMinHeartbeatInterval = time.Second, time.Second
}

// groupType is the group's type as ListGroups v5 tells it.
func groupType(t *testing.T, cl *kgo.Client, group string) string {
	t.Helper()
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range resp.Groups {
		if g.Group == group {
			return g.GroupType
		}
	}
	return ""
}

// TestFranzGoRollingMigration: a live group of three franz-go consumers
// on the classic protocol (cooperative-sticky, autocommit) rolls, one
// member at a time, to the consumer protocol (kgo.ServerSideBalancer) and
// back, with records flowing, as Kafka 4's online migration
// (group.consumer.migration.policy=bidirectional) allows: the first
// consumer-protocol member converts the group, whose classic members keep
// their partitions until the server-side assignment moves them through
// JoinGroup and SyncGroup; after the third the group is a consumer group;
// rolling back, the classic members join the consumer group, and when its
// last consumer-protocol member leaves it is a classic group again. No
// partition is ever owned twice, every record is consumed, and the
// committed offsets survive both conversions.
func TestFranzGoRollingMigration(t *testing.T) {
	b := rewindtest.Start(t, fastConsumerHeartbeats)
	ctx := testCtx(t, 150*time.Second)
	admCl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	adm := kadm.NewClient(admCl)
	const topic, grp = "mig", "g-mig"
	createTopic(t, admCl, topic, 6)
	produced := seq("a", 60)
	produceStrings(t, admCl, topic, produced...)

	po := &partitionOwners{owner: map[int32]string{}, received: map[string]bool{}}
	type member struct {
		cl     *kgo.Client
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(name string, consumerProtocol bool) *member {
		opts := append(po.opts(name, topic), kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(200*time.Millisecond),
			kgo.HeartbeatInterval(300*time.Millisecond), kgo.FetchMaxWait(200*time.Millisecond))
		if consumerProtocol {
			opts = append(opts, kgo.ServerSideBalancer())
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithCancel(ctx)
		m := &member{cl: cl, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			for pctx.Err() == nil {
				fs := cl.PollFetches(pctx)
				fs.EachRecord(func(r *kgo.Record) {
					po.mu.Lock()
					po.received[string(r.Value)] = true
					po.mu.Unlock()
				})
			}
		}()
		return m
	}
	stop := func(m *member) {
		m.cancel()
		<-m.done
		m.cl.Close() // commits what it consumed, then leaves the group
	}
	counts := func(names ...string) bool {
		for _, n := range names {
			if po.count(n) != 6/len(names) {
				return false
			}
		}
		return true
	}
	allReceived := func() bool {
		po.mu.Lock()
		defer po.mu.Unlock()
		for _, v := range produced {
			if !po.received[v] {
				return false
			}
		}
		return true
	}
	// Each step produces ten more records, all of which must be consumed.
	step := 0
	produceMore := func() {
		step++
		more := seq(fmt.Sprintf("s%d-", step), 10)
		produceStrings(t, admCl, topic, more...)
		produced = append(produced, more...)
	}

	members := map[string]*member{"c1": start("c1", false), "c2": start("c2", false), "c3": start("c3", false)}
	waitFor(t, 40*time.Second, func() bool { return counts("c1", "c2", "c3") && allReceived() })
	if typ := groupType(t, admCl, grp); typ != "classic" {
		t.Fatalf("group type %q, want classic", typ)
	}

	// Upgrade: c1, c2, c3 restart one by one on the consumer protocol.
	names := []string{"c1", "c2", "c3"}
	for _, old := range names {
		stop(members[old])
		delete(members, old)
		nu := "k" + old[1:]
		members[nu] = start(nu, true)
		produceMore()
		live := slices.Collect(maps.Keys(members))
		waitFor(t, 40*time.Second, func() bool { return counts(live...) && allReceived() })
		if typ := groupType(t, admCl, grp); typ != "consumer" {
			t.Fatalf("after %s rolled: group type %q, want consumer", old, typ)
		}
	}
	dg, err := adm.DescribeConsumerGroups(ctx, grp)
	if err != nil || dg[grp].Err != nil || len(dg[grp].Members) != 3 {
		t.Fatalf("described %+v, %v", dg[grp], err)
	}

	// Downgrade: k1 and k2 restart on the classic protocol (classic members
	// of the consumer group), then k3: the last consumer-protocol member
	// leaving makes it a classic group again.
	for i, old := range []string{"k1", "k2", "k3"} {
		stop(members[old])
		delete(members, old)
		nu := "d" + old[1:]
		members[nu] = start(nu, false)
		produceMore()
		live := slices.Collect(maps.Keys(members))
		waitFor(t, 40*time.Second, func() bool { return counts(live...) && allReceived() })
		want := "consumer"
		if i == 2 {
			want = "classic"
		}
		if typ := groupType(t, admCl, grp); typ != want {
			t.Fatalf("after %s rolled: group type %q, want %s", old, typ, want)
		}
	}

	// Every record was consumed and is committed: the group's offsets
	// reach the end of every partition, through both conversions.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var lag string
	waitFor(t, 20*time.Second, func() bool {
		committed, err := adm.FetchOffsets(ctx, grp)
		if err != nil {
			t.Fatal(err)
		}
		lag = ""
		ends.Each(func(e kadm.ListedOffset) {
			if c, ok := committed.Lookup(topic, e.Partition); !ok || c.At != e.Offset {
				lag += fmt.Sprintf(" p%d: committed %d, end %d", e.Partition, c.At, e.Offset)
			}
		})
		return lag == ""
	})
	for _, m := range members {
		stop(m)
	}
	po.mu.Lock()
	defer po.mu.Unlock()
	if len(po.violations) > 0 {
		t.Fatalf("partitions owned twice: %v", po.violations)
	}
}
