package offsettool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/offsettool/grouptest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// eachConsumerCluster runs f against Rewind, kfake and, where it can run
// here, Apache Kafka 4.4 (kafkaref; its subtest is skipped otherwise):
// every one serves KIP-848 consumer groups.
func eachConsumerCluster(t *testing.T, f func(t *testing.T, addr string)) {
	for _, cl := range clusters(t) {
		t.Run(cl.name, func(t *testing.T) { f(t, cl.addr) })
	}
	t.Run("kafka", func(t *testing.T) { f(t, kafkaref.Start(t).Addrs()[0]) })
}

// uniq names topics and groups so that one Kafka serves every test.
func uniq(s string) string { return fmt.Sprintf("%s-%x", s, time.Now().UnixNano()) }

// consumeGroup runs n franz-go members of group with the consumer protocol
// (kgo.ServerSideBalancer) on topic until the returned stop is called;
// each commits what it processed (autocommit's marks) and the records it
// saw are counted per partition.
type serverSideGroup struct {
	mu      sync.Mutex
	seen    map[TopicPartition]map[int64]int // offset -> times processed
	clients []*kgo.Client
}

func startServerSideGroup(t *testing.T, addr, group, topic string, n int) *serverSideGroup {
	t.Helper()
	g := &serverSideGroup{seen: map[TopicPartition]map[int64]int{}}
	for i := 0; i < n; i++ {
		g.add(t, addr, group, topic, fmt.Sprintf("member-%d", i))
	}
	t.Cleanup(g.stop)
	return g
}

func (g *serverSideGroup) add(t *testing.T, addr, group, topic, clientID string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(clientID),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.AutoCommitInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.clients = append(g.clients, cl)
	g.mu.Unlock()
	go func() {
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				g.mu.Lock()
				tp := TopicPartition{r.Topic, r.Partition}
				if g.seen[tp] == nil {
					g.seen[tp] = map[int64]int{}
				}
				g.seen[tp][r.Offset]++
				g.mu.Unlock()
			})
		}
	}()
}

func (g *serverSideGroup) stop() {
	g.mu.Lock()
	cls := g.clients
	g.clients = nil
	g.mu.Unlock()
	for _, cl := range cls {
		cl.Close() // commits what was processed and leaves the group
	}
}

func (g *serverSideGroup) records() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, m := range g.seen {
		n += len(m)
	}
	return n
}

// waitSnapshot takes snapshots until ok holds.
func waitSnapshot(t *testing.T, c *Client, group string, ok func(GroupSnapshot) bool) GroupSnapshot {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := c.Snapshot(testCtx(t), group, SnapshotOptions{})
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never got there: %v %+v", group, err, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConsumerGroupTools: three franz-go members with the consumer
// protocol consume a topic of 6 partitions; describe (the snapshot) says
// the group is a consumer group with its epoch and assignor, every member
// at the group's epoch owning its target, each partition owned once; list
// shows the type and epoch; reset refuses while the members run and works
// once they left, with nothing lost in between.
func TestConsumerGroupTools(t *testing.T) {
	eachConsumerCluster(t, func(t *testing.T, addr string) {
		c := dial(t, addr)
		ctx := testCtx(t)
		topic, group := uniq("orders"), uniq("svc")
		seed(t, c, topic, 6, 20)
		g := startServerSideGroup(t, addr, group, topic, 3)

		s := waitSnapshot(t, c, group, func(s GroupSnapshot) bool {
			if s.State != StateStable || len(s.Members) != 3 {
				return false
			}
			owned := 0
			for _, m := range s.Members {
				if len(m.Revoking)+len(m.Awaiting) > 0 || len(m.Assigned) == 0 {
					return false
				}
				owned += len(m.Assigned)
			}
			return owned == 6
		})
		if s.Type != TypeConsumer || s.ProtocolType != "consumer" || s.GroupEpoch < 1 || s.AssignmentEpoch != s.GroupEpoch || s.Assignor == "" {
			t.Fatalf("snapshot: type %q protocol type %q epoch %d/%d assignor %q", s.Type, s.ProtocolType, s.GroupEpoch, s.AssignmentEpoch, s.Assignor)
		}
		owner := map[TopicPartition]string{}
		for _, m := range s.Members {
			if m.MemberEpoch != s.GroupEpoch {
				t.Errorf("member %s at epoch %d in a Stable group at epoch %d", m.ID, m.MemberEpoch, s.GroupEpoch)
			}
			if !strings.HasPrefix(m.ClientID, "member-") || len(m.Subscribed) != 1 || m.Subscribed[0] != topic {
				t.Errorf("member %+v", m)
			}
			for _, tp := range m.Assigned {
				if o, dup := owner[tp]; dup {
					t.Errorf("%s owned by %s and %s", tp, o, m.ID)
				}
				owner[tp] = m.ID
			}
		}
		for _, p := range s.Partitions {
			if p.MemberID == "" || p.MemberID != owner[p.TP()] || p.TargetMemberID != p.MemberID {
				t.Errorf("partition %s: member %q target %q, owner %q", p.TP(), p.MemberID, p.TargetMemberID, owner[p.TP()])
			}
		}

		gs, err := c.ListGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var listed *GroupSummary
		for i := range gs {
			if gs[i].Group == group {
				listed = &gs[i]
			}
		}
		if listed == nil || listed.Type != TypeConsumer || listed.Members != 3 || listed.GroupEpoch != s.GroupEpoch || listed.Protocol != s.Assignor {
			t.Fatalf("list: %+v", listed)
		}

		plan, err := c.PlanFor(ctx, s, Target{Kind: ToEarliest}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var am *ActiveMembersError
		if err := c.ExecuteReset(ctx, &plan); !errors.As(err, &am) || am.Type != TypeConsumer || len(am.Members) != 3 {
			t.Fatalf("reset with 3 members running: %v", err)
		}

		deadline := time.Now().Add(30 * time.Second)
		for g.records() < 6*20 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		g.stop()
		if n := g.records(); n != 6*20 {
			t.Fatalf("the group processed %d distinct records of %d", n, 6*20)
		}
		s = waitSnapshot(t, c, group, func(s GroupSnapshot) bool { return s.State == StateEmpty })
		if s.Type != TypeConsumer || len(s.Members) != 0 {
			t.Fatalf("after the members left: %+v", s)
		}
		for _, p := range s.Partitions {
			if lag, ok := p.Lag(); !ok || lag != 0 {
				t.Errorf("%s: committed %d, log end %d", p.TP(), p.Committed, p.LogEnd)
			}
		}
		plan, err = c.PlanFor(ctx, s, Target{Kind: ToEarliest}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ExecuteReset(ctx, &plan); err != nil {
			t.Fatalf("reset of the Empty consumer group: %v", err)
		}
		s, err = c.Snapshot(ctx, group, SnapshotOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range s.Partitions {
			if p.Committed != 0 {
				t.Errorf("%s: committed %d after the reset to earliest", p.TP(), p.Committed)
			}
		}
	})
}

// TestExplainWaitingForRevocation: a consumer group whose new member waits
// for partitions their owner has not revoked yet; the snapshot sees them
// moving, explain says who waits for whom and why, and reset refuses.
func TestExplainWaitingForRevocation(t *testing.T) {
	eachConsumerCluster(t, func(t *testing.T, addr string) {
		c := dial(t, addr)
		ctx := testCtx(t)
		topic, group := uniq("orders"), uniq("svc")
		seed(t, c, topic, 4, 3)
		r := grouptest.HoldRevocation(t, addr, group, topic, 4)
		s, err := c.Snapshot(ctx, group, SnapshotOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Type != TypeConsumer || s.State != StateReconciling || len(s.Members) != 2 {
			t.Fatalf("snapshot %+v", s)
		}
		moving := 0
		for _, p := range s.Partitions {
			if p.TargetMemberID == r.Newcomer {
				moving++
				if p.MemberID != r.Owner {
					t.Errorf("%s targeted to the newcomer is owned by %q", p.TP(), p.MemberID)
				}
			}
		}
		if moving != len(r.Moving) || moving == 0 {
			t.Fatalf("%d partitions moving in the snapshot, %d in the group", moving, len(r.Moving))
		}
		ex := Explain(s, Newest)
		var waits, revokes, behind bool
		for _, n := range ex.Notes {
			waits = waits || (n.Kind == GroupNoteRevocation && strings.Contains(n.Text, "member "+r.Newcomer) && strings.Contains(n.Text, "still owned by member "+r.Owner))
			revokes = revokes || (n.Kind == GroupNoteRevocation && strings.Contains(n.Text, "member "+r.Owner) && strings.Contains(n.Text, "must revoke"))
			// The owner never heartbeated since the newcomer joined: its
			// epoch is the one before the target's, and a commit or
			// heartbeat at a stale epoch is what fences it.
			behind = behind || (n.Kind == GroupNoteBehind && strings.Contains(n.Text, "member "+r.Owner) &&
				strings.Contains(n.Text, "STALE_MEMBER_EPOCH") && strings.Contains(n.Text, "FENCED_MEMBER_EPOCH"))
		}
		if !waits || !revokes || !behind || ex.Notes[0].Kind != GroupNoteRebalance {
			t.Fatalf("notes %+v", ex.Notes)
		}
		for _, p := range ex.Partitions {
			if p.TargetMemberID == r.Newcomer && !strings.Contains(p.Why, "is moving") {
				t.Errorf("%s/%d: %s", p.Topic, p.Partition, p.Why)
			}
		}
		plan, err := c.PlanFor(ctx, s, Target{Kind: ToLatest}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ExecuteReset(ctx, &plan); !errors.Is(err, ErrActiveMembers) {
			t.Fatalf("reset of a reconciling group: %v", err)
		}
	})
}
