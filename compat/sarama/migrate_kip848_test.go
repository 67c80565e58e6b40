package sarama_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/rewindtest"
)

// TestSaramaRollingMigration: a Sarama consumer group (the classic
// protocol only) rolls to franz-go members on the consumer protocol
// (kgo.ServerSideBalancer) and back to Sarama, one member at a time, as
// Kafka 4's group.consumer.migration.policy=bidirectional allows: the
// Sarama members are served by the consumer group through JoinGroup,
// SyncGroup and Heartbeat while it is one, and the group is classic again
// once its last consumer-protocol member left. Every record produced
// along the way is consumed, and the committed offsets reach the end.
func TestSaramaRollingMigration(t *testing.T) {
	b := rewindtest.Start(t, func(c *broker.Config) {
		c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupMinHeartbeatInterval = time.Second, time.Second
	})
	const topic, group, parts = "sarama-mig", "sarama-mig-g", 4
	cl := proctest.NewClient(t, b.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	proctest.CreateTopic(t, cl, topic, parts)
	var mu sync.Mutex
	seen := map[string]bool{}
	var produced []string
	produce := func(prefix string) {
		vs := proctest.Seq(prefix, 20)
		proctest.ProduceStrings(t, cl, topic, vs...)
		produced = append(produced, vs...)
	}
	allSeen := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range produced {
			if !seen[v] {
				return false
			}
		}
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sar := func() *saramaMember {
		m := startSarama(t, b.Addr(), group, topic, sarama.OffsetOldest, -1)
		go func() {
			for {
				select {
				case msg := <-m.msgs:
					mu.Lock()
					seen[string(msg.Value)] = true
					mu.Unlock()
				case <-m.done:
					return
				}
			}
		}()
		return m
	}
	type kmember struct {
		cl   *kgo.Client
		stop context.CancelFunc
		done chan struct{}
	}
	k := func() *kmember {
		c, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		pctx, stop := context.WithCancel(ctx)
		m := &kmember{cl: c, stop: stop, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			for pctx.Err() == nil {
				c.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)] = true
					mu.Unlock()
				})
			}
		}()
		return m
	}
	kstop := func(m *kmember) { m.stop(); <-m.done; m.cl.Close() }
	groupType := func() string {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = 5
		resp, err := req.RequestWith(ctx, cl)
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
	adm := kadm.NewClient(cl)
	// step produces, waits until everything is consumed, and checks the
	// group's type and, while it is a consumer group, that it holds every
	// member (the Sarama ones as its classic members: one group, not two
	// side by side).
	step := func(what, wantType string, members int) {
		t.Helper()
		produce(what)
		proctest.WaitFor(t, 45*time.Second, allSeen)
		if got := groupType(); got != wantType {
			t.Fatalf("%s: group type %q, want %q", what, got, wantType)
		}
		if wantType != "consumer" {
			return
		}
		proctest.WaitFor(t, 20*time.Second, func() bool {
			dg, err := adm.DescribeConsumerGroups(ctx, group)
			return err == nil && dg[group].Err == nil && len(dg[group].Members) == members
		})
	}

	s1, s2 := sar(), sar()
	step("classic-", "classic", 2)
	k1 := k()
	step("upgraded-", "consumer", 3)
	s1.close()
	k2 := k()
	step("one-sarama-left-", "consumer", 3)
	s2.close()
	step("all-consumer-", "consumer", 2)
	kstop(k1)
	s3 := sar()
	step("sarama-back-", "consumer", 2)
	kstop(k2)
	step("downgraded-", "classic", 1)

	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var lag string
	proctest.WaitFor(t, 20*time.Second, func() bool {
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		lag = ""
		ends.Each(func(e kadm.ListedOffset) {
			if o, ok := offs.Lookup(topic, e.Partition); !ok || o.At != e.Offset {
				lag += fmt.Sprintf(" p%d: %d of %d", e.Partition, o.At, e.Offset)
			}
		})
		return lag == ""
	})
	s3.close()
}
