package consumer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/assign"
)

// TestNoPartitionOwnedTwice drives a group with random joins, leaves,
// static restarts, subscription changes and topic growth, every client
// behaving as a consumer does (it owns what its last response assigned,
// revoking at once what a response took away). At every step no partition
// is owned by two clients, nor held by two members in the coordinator; and
// once the churn stops, a few rounds of heartbeats reach a Stable group
// whose members own exactly their target.
func TestNoPartitionOwnedTwice(t *testing.T) {
	for seed := uint64(0); seed < 60; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { churn(t, seed, false) })
	}
}

// TestRefusedWritesUndone is TestNoPartitionOwnedTwice where a fifth of
// the heartbeats of members in the group have their write refused, as
// the broker does when the log refuses a batch: the group is put back as
// Snapshot took it before the heartbeat, its records are dropped, and the
// client sees an error and keeps what it had. The same invariants hold,
// and the records that were written rebuild the live group exactly.
func TestRefusedWritesUndone(t *testing.T) {
	for seed := uint64(0); seed < 30; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { churn(t, seed, true) })
	}
}

type simClient struct {
	id, instance string
	epoch        int32
	owned        map[assign.TopicID][]int32
	// revoking are partitions a response took away that the client is
	// still processing (committing, closing): it still owns them, and
	// reports them, until it finishes, at a random later heartbeat.
	revoking map[assign.TopicID][]int32
	topics   []string
	regex    string
}

func churn(t *testing.T, seed uint64, refuse bool) {
	r := rand.New(rand.NewPCG(seed, 848))
	topics := &fakeTopics{parts: map[string]int32{"a": 3, "b": 4, "c": 2}}
	names := []string{"a", "b", "c"}
	cfg := Config{SessionTimeout: time.Minute}
	if seed%3 == 1 {
		cfg.Assignors = []assign.Assignor{assign.Range{}, assign.Uniform{}}
	}
	c := NewCoordinator(cfg)
	now := time.Unix(1_700_000_000, 0)
	clients := map[string]*simClient{}
	next := 0
	var written []Record

	hb := func(cl *simClient, epoch int32, join bool) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", cl.id, epoch
		if cl.instance != "" {
			req.InstanceID = kmsg.StringPtr(cl.instance)
		}
		req.RebalanceTimeoutMillis = -1
		if join {
			req.RebalanceTimeoutMillis = 30000
		}
		if join || r.IntN(4) == 0 {
			req.SubscribedTopicNames = cl.topics
			req.SubscribedTopicRegex = kmsg.StringPtr(cl.regex)
		}
		if len(cl.revoking) > 0 && r.IntN(2) == 0 {
			cl.revoking = nil // revocation done before this heartbeat
		}
		report := map[assign.TopicID][]int32{}
		for _, e := range []map[assign.TopicID][]int32{cl.owned, cl.revoking} {
			for tid, ps := range e {
				report[tid] = append(report[tid], ps...)
			}
		}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for _, tid := range slices.SortedFunc(keys(report), assign.TopicID.Compare) {
			req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tid, Partitions: report[tid]})
		}
		if refuse && !join && epoch >= 0 && r.IntN(5) == 0 {
			snap := c.Snapshot("g")
			c.Heartbeat(now, Client{ID: cl.id}, req, topics)
			c.Restore("g", snap)
			resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
			resp.ErrorCode = kerr.NotCoordinator.Code
			return resp
		}
		resp, recs := c.Heartbeat(now, Client{ID: cl.id}, req, topics)
		written = append(written, recs...)
		if resp.ErrorCode != 0 && epoch >= 0 {
			t.Fatalf("heartbeat of %s at epoch %d: error %d %v", cl.id, epoch, resp.ErrorCode, *resp.ErrorMessage)
		}
		if resp.ErrorCode == 0 && epoch >= 0 {
			cl.epoch = resp.MemberEpoch
			if resp.Assignment != nil {
				now := map[assign.TopicID][]int32{}
				for _, at := range resp.Assignment.Topics {
					now[at.TopicID] = at.Partitions
				}
				if cl.revoking == nil {
					cl.revoking = map[assign.TopicID][]int32{}
				}
				for tid, ps := range cl.owned {
					for _, p := range ps {
						if !slices.Contains(now[tid], p) {
							cl.revoking[tid] = append(cl.revoking[tid], p)
						}
					}
				}
				cl.owned = now
			}
		}
		return resp
	}
	check := func(step int) {
		seen := map[tp]string{}
		for id, cl := range clients {
			for _, e := range []map[assign.TopicID][]int32{cl.owned, cl.revoking} {
				for tid, ps := range e {
					for _, p := range ps {
						if o, dup := seen[tp{tid, p}]; dup {
							t.Fatalf("step %d: partition %x/%d owned by clients %s and %s", step, tid[:2], p, o, id)
						}
						seen[tp{tid, p}] = id
					}
				}
			}
		}
		g := c.Group("g")
		if g == nil {
			return
		}
		held := map[tp]string{}
		for _, mid := range g.MemberIDs() {
			m := g.Member(mid)
			for _, e := range []Epochs{m.Assigned, m.PendingRevocation} {
				for tid, ps := range e {
					for p := range ps {
						if o, dup := held[tp{tid, p}]; dup {
							t.Fatalf("step %d: partition %x/%d held by members %s and %s", step, tid[:2], p, o, mid)
						}
						held[tp{tid, p}] = mid
					}
				}
			}
		}
	}
	randomSub := func(cl *simClient) {
		cl.topics, cl.regex = nil, ""
		if r.IntN(4) == 0 {
			cl.regex = []string{"a|b", "c", ".*"}[r.IntN(3)]
			cl.topics = []string{}
			return
		}
		for _, n := range names {
			if r.IntN(2) == 0 {
				cl.topics = append(cl.topics, n)
			}
		}
		if len(cl.topics) == 0 {
			cl.topics = []string{names[r.IntN(len(names))]}
		}
	}
	for step := 0; step < 300; step++ {
		now = now.Add(time.Duration(r.IntN(2000)) * time.Millisecond)
		switch op := r.IntN(20); {
		case op == 0 && len(clients) < 8: // join
			next++
			cl := &simClient{id: fmt.Sprintf("m%d", next), owned: map[assign.TopicID][]int32{}}
			if r.IntN(3) == 0 {
				cl.instance = fmt.Sprintf("i%d", next)
			}
			randomSub(cl)
			clients[cl.id] = cl
			hb(cl, 0, true)
		case op == 1 && len(clients) > 0: // leave (a static member may leave for a restart)
			cl := clients[pick(r, clients)]
			epoch := int32(LeaveEpoch)
			if cl.instance != "" && r.IntN(2) == 0 {
				epoch = StaticLeaveEpoch
			}
			hb(cl, epoch, false)
			delete(clients, cl.id)
			if epoch == StaticLeaveEpoch {
				// It restarts under a new member id, owning nothing.
				next++
				back := &simClient{id: fmt.Sprintf("m%d", next), instance: cl.instance, topics: cl.topics, regex: cl.regex, owned: map[assign.TopicID][]int32{}}
				clients[back.id] = back
				hb(back, 0, true)
			}
		case op == 2 && len(clients) > 0: // new subscription
			cl := clients[pick(r, clients)]
			randomSub(cl)
			hb(cl, cl.epoch, true)
		case op == 3: // a topic grows or appears
			n := []string{"a", "b", "c", "d"}[r.IntN(4)]
			topics.parts[n] += int32(1 + r.IntN(2))
			topics.version++
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		default: // everybody heartbeats, in random order
			for _, id := range shuffled(r, clients) {
				hb(clients[id], clients[id].epoch, false)
			}
		}
		check(step)
	}
	// Quiet: heartbeats alone must reach a stable group.
	for round := 0; round < 10; round++ {
		now = now.Add(time.Second) // past the assignment interval
		for _, id := range shuffled(r, clients) {
			hb(clients[id], clients[id].epoch, false)
			check(1000 + round)
		}
	}
	// The records written rebuild the group exactly (a restart).
	checkReplay(t, c, cfg, written)
	g := c.Group("g")
	if g == nil || len(clients) == 0 {
		return
	}
	if st := g.State(); st != StateStable {
		t.Fatalf("not stable after the churn: %s", st)
	}
	for id, cl := range clients {
		if !equalPartitions(assign.Partitions(cl.owned), g.Target(id)) {
			t.Fatalf("%s owns %v, its target is %v", id, cl.owned, g.Target(id))
		}
	}
}

func keys[V any](m map[assign.TopicID]V) func(func(assign.TopicID) bool) {
	return func(yield func(assign.TopicID) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func pick(r *rand.Rand, m map[string]*simClient) string {
	ids := shuffled(r, m)
	return ids[0]
}

func shuffled(r *rand.Rand, m map[string]*simClient) []string {
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}
