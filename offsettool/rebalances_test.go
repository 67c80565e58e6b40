package offsettool

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRebalanceTimeline: franz-go members of one group on Rewind and on
// Apache Kafka 4.4 (where it can run here), with each protocol: a and b
// consume, c joins, a leaves. The timeline read from __consumer_offsets
// has c joining in one generation or epoch with partitions moving to it
// from a or b, and a leaving in a later one with its partitions moving to
// the others; each move has the group's committed offset then and the
// records past it, which are none because franz-go commits what it
// processed when it gives a partition up.
func TestRebalanceTimeline(t *testing.T) {
	addrs := map[string]func(t *testing.T) string{
		"rewind": func(t *testing.T) string { return rewindtest.Start(t).Addr() },
		"kafka":  func(t *testing.T) string { return kafkaref.Start(t).Addrs()[0] },
	}
	for _, name := range []string{"rewind", "kafka"} {
		for _, serverSide := range []bool{true, false} {
			proto := map[bool]string{true: TypeConsumer, false: TypeClassic}[serverSide]
			t.Run(name+"/"+proto, func(t *testing.T) {
				addr := addrs[name](t)
				testRebalanceTimeline(t, addr, proto, serverSide)
			})
		}
	}
}

func testRebalanceTimeline(t *testing.T, addr, proto string, serverSide bool) {
	c := dial(t, addr)
	topic, group := uniq("orders"), uniq("svc")
	seed(t, c, topic, 4, 10)
	members := map[string]*kgo.Client{}
	start := func(name string) {
		opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID(name), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}
		if serverSide {
			opts = append(opts, kgo.ServerSideBalancer())
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		members[name] = cl
		t.Cleanup(cl.Close)
		go func() {
			for {
				if fs := cl.PollFetches(context.Background()); fs.IsClientClosed() {
					return
				}
			}
		}()
	}
	settled := func(n int) map[string]string { // client id -> member id
		t.Helper()
		ids := map[string]string{}
		waitSnapshot(t, c, group, func(s GroupSnapshot) bool {
			if s.State != StateStable || len(s.Members) != n {
				return false
			}
			owned := 0
			for _, m := range s.Members {
				if len(m.Assigned) == 0 || len(m.Revoking)+len(m.Awaiting) > 0 {
					return false
				}
				owned += len(m.Assigned)
				ids[m.ClientID] = m.ID
			}
			for _, p := range s.Partitions {
				if lag, ok := p.Lag(); !ok || lag != 0 {
					return false // everything consumed and committed
				}
			}
			return owned == 4
		})
		return ids
	}
	start("a")
	start("b")
	ids := settled(2)
	start("c")
	for k, v := range settled(3) {
		ids[k] = v
	}
	members["a"].Close()
	settled(2)

	rs, err := c.Rebalances(testCtx(t), group, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&dump, "%s %d: joined %v left %v moved %v\n", r.Type, r.Epoch, r.Joined, r.Left, r.Moved)
	}
	cJoined, aLeft := -1, -1
	for i, r := range rs {
		if r.Type != proto {
			t.Errorf("a %s rebalance in a %s group", r.Type, proto)
		}
		for _, j := range r.Joined {
			if j.ID == ids["c"] && j.ClientID == "c" {
				cJoined = i
			}
		}
		for _, l := range r.Left {
			if l.ID == ids["a"] && l.ClientID == "a" {
				aLeft = i
			}
		}
	}
	if cJoined < 0 || aLeft <= cJoined {
		t.Fatalf("c joined in rebalance %d, a left in %d:\n%s", cJoined, aLeft, dump.String())
	}
	toC, fromA := 0, 0
	for _, r := range rs[cJoined:] {
		for _, mv := range r.Moved {
			if mv.To == ids["c"] && (mv.From == ids["a"] || mv.From == ids["b"]) {
				toC++
				if mv.Committed != 10 || mv.LogEndAt != 10 || mv.Redo != 0 {
					t.Errorf("move to c: %+v (committed 10, log end 10, nothing to redo)", mv)
				}
			}
			if mv.From == ids["a"] && (mv.To == ids["b"] || mv.To == ids["c"]) && mv.FromClient == "a" {
				fromA++
			}
		}
	}
	if toC == 0 || fromA == 0 {
		t.Fatalf("%d move(s) to c and %d away from a:\n%s", toC, fromA, dump.String())
	}
}
