package group

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// eventLog is an Observer that keeps every event, for tests.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) Observe(e Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

// take returns the events so far, one line each (times as offsets from
// t0), and forgets them.
func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.evs {
		out = append(out, eventLine(e))
	}
	l.evs = nil
	return out
}

// waitFor waits (10 s at most) until an event whose line holds sub has
// been observed: a SyncGroup answer reaches its member before the group's
// move to Stable is published, in the same callback.
func (l *eventLog) waitFor(t *testing.T, sub string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		l.mu.Lock()
		for _, e := range l.evs {
			if strings.Contains(eventLine(e), sub) {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no event %q observed in 10s", sub)
		}
		time.Sleep(time.Millisecond)
	}
}

func since(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Sub(t0).String()
}

func eventLine(e Event) string {
	rep := func(r bool) string {
		if r {
			return " replayed"
		}
		return ""
	}
	switch e := e.(type) {
	case CommitApplied:
		txn := ""
		if e.Transactional {
			txn = fmt.Sprintf(" txn pid=%d", e.ProducerID)
		}
		return fmt.Sprintf("commit %s %s/%d offset=%d epoch=%d meta=%q at=%s expire=%s%s%s",
			e.Group, e.Topic, e.Partition, e.Offset, e.LeaderEpoch, e.Metadata, since(e.CommitTime), since(e.ExpireTime), txn, rep(e.Replayed))
	case TxnOffsetPending:
		return fmt.Sprintf("txn-pending %s pid=%d epoch=%d %s/%d offset=%d at=%s%s",
			e.Group, e.ProducerID, e.ProducerEpoch, e.Topic, e.Partition, e.Offset, since(e.CommitTime), rep(e.Replayed))
	case TxnEnded:
		var tps []string
		for _, tp := range e.Applied {
			tps = append(tps, fmt.Sprintf("%s/%d", tp.Topic, tp.Partition))
		}
		return fmt.Sprintf("txn-ended %s pid=%d committed=%v applied=[%s]%s", e.Group, e.ProducerID, e.Committed, strings.Join(tps, ","), rep(e.Replayed))
	case OffsetsDeleted:
		var tps []string
		for _, tp := range e.Partitions {
			tps = append(tps, fmt.Sprintf("%s/%d", tp.Topic, tp.Partition))
		}
		return fmt.Sprintf("deleted %s %s (%s) at=%s%s", e.Group, strings.Join(tps, ","), e.Reason, since(e.Time), rep(e.Replayed))
	case StateChanged:
		return fmt.Sprintf("state %s %s->%s gen=%d type=%q protocol=%q at=%s%s",
			e.Group, e.From, e.To, e.Generation, e.ProtocolType, e.Protocol, since(e.Time), rep(e.Replayed))
	case MemberJoined:
		return fmt.Sprintf("joined %s %s instance=%q client=%q host=%q (%s)", e.Group, e.MemberID, e.InstanceID, e.ClientID, e.ClientHost, e.Reason)
	case MemberLeft:
		return fmt.Sprintf("left %s %s instance=%q client=%q host=%q (%s)", e.Group, e.MemberID, e.InstanceID, e.ClientID, e.ClientHost, e.Reason)
	}
	return fmt.Sprintf("unknown %T", e)
}

func wantEvents(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func observed(l *eventLog) func(*Config) {
	return func(c *Config) { c.Observers = []Observer{l} }
}

// TestObserversSeeEveryChangeInOrder scripts a group's life (join, sync,
// commit, delete-offsets, leave, expiry) and checks the exact events an
// observer receives, then that a restart replays the offsets history.
func TestObserversSeeEveryChangeInOrder(t *testing.T) {
	log := &eventLog{}
	h := newHarness(t, noDelay, observed(log))
	ctx := WithClient(context.Background(), "app", "/127.0.0.1")

	// Join (KIP-394: the first JoinGroup only hands out a member id).
	req := joinReq(9, "g", "", withProtocols(proto("range", consumerMeta("a"))))
	first := h.c.JoinGroup(ctx, req)
	wantCode(t, "first join", first.ErrorCode, kerr.MemberIDRequired.Code)
	id := first.MemberID
	wantEvents(t, log.take(), nil)
	req.MemberID = id
	jch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { jch <- h.c.JoinGroup(ctx, req) }()
	h.waitAwaiting("g", 1)
	h.fire() // the initial delay (0)
	jr := recv(t, jch)
	wantCode(t, "join", jr.ErrorCode, 0)
	// Sync.
	wantCode(t, "sync", h.sync(syncReq(5, "g", id, jr.Generation, map[string][]byte{id: []byte("a0")})).ErrorCode, 0)
	// Commit two topics, then delete the one the member does not subscribe to.
	allCodes(t, h.commit(commitReq(8, "g", id, jr.Generation, map[string]map[int32]int64{"a": {0: 10}, "b": {0: 20}})), 0)
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g"
	dt := kmsg.NewOffsetDeleteRequestTopic()
	dt.Topic = "b"
	dp := kmsg.NewOffsetDeleteRequestTopicPartition()
	dt.Partitions = append(dt.Partitions, dp)
	del.Topics = append(del.Topics, dt)
	dr := h.c.OffsetDelete(ctx, del)
	wantCode(t, "offset delete", dr.ErrorCode, 0)
	wantCode(t, "offset delete b/0", dr.Topics[0].Partitions[0].ErrorCode, 0)
	// Leave: the group rebalances to Empty.
	h.c.LeaveGroup(ctx, leaveReq(3, "g", leaving(id)))
	// Expiry: offsets.retention.minutes after the group became Empty, at
	// the next retention check.
	h.advance(h.cfg.OffsetsRetention + h.cfg.OffsetsRetentionCheck)
	expiredAt := since(t0.Add(h.cfg.OffsetsRetention + h.cfg.OffsetsRetentionCheck))

	member := fmt.Sprintf(`%s instance="" client="app" host="/127.0.0.1"`, id)
	wantEvents(t, log.take(), []string{
		"joined g " + member + " (JoinGroup)",
		`state g Empty->PreparingRebalance gen=0 type="consumer" protocol="" at=0s`,
		`state g PreparingRebalance->CompletingRebalance gen=1 type="consumer" protocol="range" at=0s`,
		`state g CompletingRebalance->Stable gen=1 type="consumer" protocol="range" at=0s`,
		`commit g a/0 offset=10 epoch=-1 meta="m" at=0s expire=-`,
		`commit g b/0 offset=20 epoch=-1 meta="m" at=0s expire=-`,
		`deleted g b/0 (OffsetDelete) at=0s`,
		"left g " + member + " (LeaveGroup)",
		`state g Stable->PreparingRebalance gen=1 type="consumer" protocol="range" at=0s`,
		`state g PreparingRebalance->Empty gen=2 type="consumer" protocol="" at=0s`,
		`deleted g a/0 (expired) at=` + expiredAt,
		`state g Empty->Dead gen=2 type="consumer" protocol="" at=` + expiredAt,
	})

	// A restart replays the offsets history in log order: every commit and
	// tombstone, and the group tombstone as the group's end.
	h.restart()
	wantEvents(t, log.take(), []string{
		`commit g a/0 offset=10 epoch=-1 meta="m" at=0s expire=- replayed`,
		`commit g b/0 offset=20 epoch=-1 meta="m" at=0s expire=- replayed`,
		`deleted g b/0 (replayed tombstone) at=0s replayed`,
		`deleted g a/0 (replayed tombstone) at=` + expiredAt + ` replayed`,
		`state g ->Dead gen=0 type="" protocol="" at=` + expiredAt + ` replayed`,
	})
}

// TestObserversOfDeletionsAndFencing: DeleteGroups and a topic deletion
// say which offsets went and why; a fenced partition's groups are Dead to
// observers, and a v1 commit's own time and a v2 retention are passed on.
func TestObserversOfDeletionsAndFencing(t *testing.T) {
	log := &eventLog{}
	h := newHarness(t, observed(log))
	v2 := func(r *kmsg.OffsetCommitRequest) { r.RetentionTimeMillis = int64(time.Hour / time.Millisecond) }
	allCodes(t, h.commit(commitReq(2, "solo", "", -1, map[string]map[int32]int64{"t": {0: 1, 1: 2}, "u": {0: 3}}, v2)), 0)
	allCodes(t, h.commit(commitReq(1, "other", "", -1, map[string]map[int32]int64{"t": {0: 5}}, func(r *kmsg.OffsetCommitRequest) {
		r.Topics[0].Partitions[0].Timestamp = t0.Add(-time.Minute).UnixMilli()
	})), 0)
	h.c.TopicDeleted("u")
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"solo"}
	wantCode(t, "delete group", h.c.DeleteGroups(context.Background(), dg).Groups[0].ErrorCode, 0)
	h.c.FencePartition(h.c.PartitionFor("other"), errDisk)
	wantEvents(t, log.take(), []string{
		`commit solo t/0 offset=1 epoch=-1 meta="m" at=0s expire=1h0m0s`,
		`commit solo t/1 offset=2 epoch=-1 meta="m" at=0s expire=1h0m0s`,
		`commit solo u/0 offset=3 epoch=-1 meta="m" at=0s expire=1h0m0s`,
		`commit other t/0 offset=5 epoch=-1 meta="m" at=-1m0s expire=-`,
		`deleted solo u/0 (topic deleted) at=0s`,
		`deleted solo t/0,t/1 (DeleteGroups) at=0s`,
		`state solo Empty->Dead gen=0 type="" protocol="" at=0s`,
		`state other Empty->Dead gen=0 type="" protocol="" at=0s`,
	})
}

// TestObserverSeesStaticReplacement: a static member rejoining under a new
// id is the old id leaving and the new one joining.
func TestObserverSeesStaticReplacement(t *testing.T) {
	log := &eventLog{}
	h := newHarness(t, observed(log))
	ids, _ := h.staticGroup("s")
	log.waitFor(t, "CompletingRebalance->Stable")
	log.take()
	r := h.c.JoinGroup(WithClient(context.Background(), "app-2", "/10.0.0.2"), joinReq(9, "s", "", withInstance("i1")))
	wantCode(t, "rejoin", r.ErrorCode, 0)
	wantEvents(t, log.take(), []string{
		fmt.Sprintf(`left s %s instance="i1" client="" host="" (replaced by a static member with the same instance id)`, ids[1]),
		fmt.Sprintf(`joined s %s instance="i1" client="app-2" host="/10.0.0.2" (static member rejoined under a new member id)`, r.MemberID),
	})
}

// TestObserversOfAPartitionFencedWhileReplaying: what was replayed of a
// partition that turns out damaged is taken back (the group is Dead to
// observers), and LoadPartition replays it again after the repair.
func TestObserversOfAPartitionFencedWhileReplaying(t *testing.T) {
	h := newHarness(t)
	allCodes(t, h.commit(commitReq(2, "g", "", -1, map[string]map[int32]int64{"t": {0: 7}})), 0)
	log := &eventLog{}
	cfg := h.cfg
	cfg.Observers = []Observer{log}
	c := New(cfg, h.store)
	t.Cleanup(c.Close)
	p := c.PartitionFor("g")
	recs := h.store.all()[p]
	for i, r := range recs {
		if err := c.Replay(p, int64(i), r.Key, r.Value, r.Timestamp); err != nil {
			t.Fatal(err)
		}
	}
	c.FencePartition(p, errDisk)
	c.start(false)
	wantEvents(t, log.take(), []string{
		`commit g t/0 offset=7 epoch=-1 meta="m" at=0s expire=- replayed`,
		`state g ->Dead gen=0 type="" protocol="" at=0s`,
	})
	err := c.LoadPartition(p, func(replay ReplayFunc) error {
		for i, r := range recs {
			if err := replay(int64(i), plainBatch, r.Key, r.Value, r.Timestamp); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantEvents(t, log.take(), []string{`commit g t/0 offset=7 epoch=-1 meta="m" at=0s expire=- replayed`})
}
