package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/group/consumer"
	"github.com/rewindhq/rewind/offsetsfmt"
)

// The consumer-protocol (KIP-848) groups and their records in
// __consumer_offsets. package group/consumer is pure: it changes its groups
// in memory and returns the records of each change, in Kafka 4.4's
// consumer-group record types. Here, under one lock, a change is applied
// and its records appended, as one batch to the group's partition, so the
// log holds every group's changes in the order they were made; the reply
// waits for them to be durable outside the lock (as an OffsetCommit's),
// and a reply whose change wrote nothing waits for whatever was appended
// to the partition before it, since it may depend on it (Kafka's runtime
// defers such a write until the high watermark reaches the last written
// offset). So no member is told an epoch or an assignment that a crash
// could take back.
//
// A change whose append fails is undone (the group is put back as it was
// before, as Kafka reverts to its last committed state) and answered with
// the error Kafka gives for it (offsetsfmt.AppendError). A write whose
// wait fails has fenced the log (storage never moves the high watermark
// past a failed fsync): the groups of that partition hold changes that
// may not be on disk, so they are unloaded, and their heartbeats answer
// NOT_COORDINATOR until `rewind repair` reloads the partition.
//
// At start the groups are rebuilt from the log (consumer.Replay, beside
// the classic coordinator's replay of the same records), and a timer
// fences the members whose session or rebalance timeout passed, writing
// their tombstones as a heartbeat's records are written.

// consumerGroups holds the broker's consumer-protocol groups. Every call
// of the coordinator holds mu; nothing waits on I/O under it.
type consumerGroups struct {
	b *Broker
	// migrate keeps the routing of group ids between the classic and
	// the consumer-protocol coordinator still while a group may be
	// converted (consumer_groups_classic.go); taken before mu.
	migrate sync.RWMutex
	mu      sync.Mutex
	c       *consumer.Coordinator
	// next is when the timer fires (zero: not armed); a change that
	// brings a deadline before it kicks the timer.
	next time.Time
	kick chan struct{}
}

// init makes the coordinator, before the replay.
func (cg *consumerGroups) init(b *Broker, cfg consumer.Config) {
	cg.b = b
	cg.c = consumer.NewCoordinator(cfg)
	cg.kick = make(chan struct{}, 1)
}

// coordinator returns the coordinator; mu is held.
func (cg *consumerGroups) coordinator() *consumer.Coordinator {
	if cg.c == nil {
		cg.c = consumer.NewCoordinator(consumer.Config{})
	}
	return cg.c
}

// partition is the __consumer_offsets partition of group id.
func (cg *consumerGroups) partition(id string) int32 {
	return offsetsfmt.PartitionFor(id, cg.b.grp.Partitions())
}

// unavailable tells whether the groups of partition p cannot be served:
// the partition is fenced (damaged at start, failed a write, or under
// repair).
func (cg *consumerGroups) unavailable(p int32) bool {
	if cg.b.grp.PartitionErr(p) != nil {
		return true
	}
	l := cg.b.partition(OffsetsTopic, p)
	return l == nil || l.Err() != nil
}

// change applies fn to group id and appends the records it returns (mu
// held). fn reports whether it refused the change (failed): the group is
// then put back as it was, in case fn changed it before refusing, and
// nothing is written. On a failed append the group is put back too and
// err is the append's error. pend is what the reply waits for, nil if
// nothing.
func (cg *consumerGroups) change(id string, fn func() (recs []consumer.Record, failed bool)) (pend group.Pending, err error) {
	snap := cg.c.Snapshot(id)
	recs, failed := fn()
	if failed {
		cg.c.Restore(id, snap)
		return nil, nil
	}
	if pend, err = cg.append(id, recs); err != nil {
		cg.c.Restore(id, snap)
		cg.b.log.Warn("consumer group change not written: undone", "group", id, "err", err)
		return nil, err
	}
	cg.rearm(id)
	return pend, nil
}

// append writes recs of group id as one batch (mu held). With no
// records it returns a wait for what the partition holds already.
func (cg *consumerGroups) append(id string, recs []consumer.Record) (group.Pending, error) {
	p := cg.partition(id)
	if len(recs) == 0 {
		l := cg.b.partition(OffsetsTopic, p)
		if l == nil {
			return nil, fmt.Errorf("broker: %s-%d does not exist: %w", OffsetsTopic, p, kerr.UnknownTopicOrPartition)
		}
		return &offsetsPending{l: l, end: l.LogEndOffset()}, nil
	}
	ts := time.Now().UnixMilli()
	grecs := make([]group.Record, len(recs))
	for i, r := range recs {
		grecs[i] = group.Record{Key: r.Key, Value: r.Value, Timestamp: ts}
	}
	return offsetsStore{cg.b}.Append(p, grecs)
}

// wait waits for pend without mu; a failure other than the caller giving
// up unloads the partition's groups (see above).
func (cg *consumerGroups) wait(ctx context.Context, id string, pend group.Pending) error {
	if pend == nil {
		return nil
	}
	err := pend.Wait(ctx)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		cg.writeFailed(cg.partition(id), err)
	}
	return err
}

// writeFailed unloads the groups of partition p after a failed write.
func (cg *consumerGroups) writeFailed(p int32, err error) {
	cg.mu.Lock()
	ids := cg.unloadLocked(p)
	cg.mu.Unlock()
	if len(ids) > 0 {
		cg.b.log.Error("consumer groups unloaded: a write to their __consumer_offsets partition failed; they answer NOT_COORDINATOR until it is repaired",
			"partition", fmt.Sprintf("%s-%d", OffsetsTopic, p), "groups", ids, "err", err)
	}
}

// unloadLocked forgets the groups of partition p, returning their ids.
func (cg *consumerGroups) unloadLocked(p int32) []string {
	var ids []string
	for _, id := range cg.c.GroupIDs() {
		if cg.partition(id) == p {
			cg.c.Unload(id)
			ids = append(ids, id)
		}
	}
	return ids
}

// unloadPartition forgets the groups of a fenced partition.
func (cg *consumerGroups) unloadPartition(p int32) {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	cg.unloadLocked(p)
}

// isRecord tells whether a __consumer_offsets record is a consumer group's.
func isConsumerGroupRecord(bt group.Batch, key []byte) bool {
	if bt.Control {
		return false
	}
	k, err := offsetsfmt.DecodeKey(key)
	return err == nil && k.Kind.IsConsumerGroup()
}

// reload replays the consumer groups of partition p from the log again
// (after a repair made it readable).
func (cg *consumerGroups) reload(p int32) error {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	cg.unloadLocked(p)
	err := cg.b.replayOffsets(p, func(_ int32, _ int64, bt group.Batch, k, v []byte, _ int64) error {
		if !isConsumerGroupRecord(bt, k) {
			return nil
		}
		return cg.c.Replay(k, v)
	})
	if err != nil {
		cg.unloadLocked(p)
		return err
	}
	var ids []string
	for _, id := range cg.c.GroupIDs() {
		if cg.partition(id) == p {
			ids = append(ids, id)
		}
	}
	cg.c.LoadedGroups(time.Now(), ids)
	cg.kickTimer()
	return nil
}

// tickLocked fences the members of group id whose session or rebalance
// timeout passed, writing their tombstones (not waited for: nobody is
// answered; a failed write undoes it and the timer tries again). It
// reports whether a write failed.
func (cg *consumerGroups) tickLocked(id string, now time.Time) bool {
	g := cg.c.Group(id)
	if g == nil {
		return false
	}
	if d := g.NextDeadline(); d.IsZero() || now.Before(d) {
		return false
	}
	if due := cg.c.DueFences(id, now); cg.c.DowngradeDue(id, due...) {
		// Fencing these converts the group back to the classic protocol:
		// the timer does it, holding the routing still (migrate).
		cg.kickTimer()
		return false
	}
	var fenced []consumer.Fenced
	pend, err := cg.change(id, func() ([]consumer.Record, bool) {
		var recs []consumer.Record
		fenced, recs = g.Tick(now)
		return recs, len(recs) == 0
	})
	if err != nil {
		return true
	}
	for _, f := range fenced {
		cg.b.log.Info("consumer group member fenced", "group", id, "member", f.Member, "reason", string(f.Reason))
	}

	if pend != nil {
		go cg.wait(cg.b.ctx, id, pend) //nolint:errcheck // a failure unloads the partition's groups
	}
	return false
}

// rearm kicks the timer if group id now has a deadline before the one it
// is armed for (mu held).
func (cg *consumerGroups) rearm(id string) {
	g := cg.c.Group(id)
	if g == nil {
		return
	}
	if d := g.NextDeadline(); !d.IsZero() && (cg.next.IsZero() || d.Before(cg.next)) {
		cg.kickTimer()
	}
}

func (cg *consumerGroups) kickTimer() {
	select {
	case cg.kick <- struct{}{}:
	default:
	}
}

// run is the timer: it fences expired members of every group, then
// sleeps until the next deadline or a kick, until ctx is done.
func (cg *consumerGroups) run(ctx context.Context) {
	defer cg.b.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		cg.migrate.Lock()
		cg.mu.Lock()
		failed := false
		var topics consumer.Topics
		var downgraded []*consumer.ClassicGroup
		for _, id := range cg.c.GroupIDs() {
			// A group whose last consumer-protocol member is fenced, and
			// that keeps classic members, goes back to the classic protocol
			// instead (Kafka's consumerGroupFenceMember); so does one left
			// with classic members only.
			due := cg.c.DueFences(id, now)
			if cg.c.DowngradeDue(id, due...) && !cg.unavailable(cg.partition(id)) {
				if topics == nil {
					topics = newConsumerTopics(cg.b.reg.list())
				}
				if to, pend := cg.downgradeLocked(id, due, topics); to != nil {
					downgraded = append(downgraded, to)
					go cg.wait(cg.b.ctx, id, pend) //nolint:errcheck // a failure unloads the partition's groups
					continue
				}
			}
			failed = cg.tickLocked(id, now) || failed
		}
		next := cg.c.NextDeadline()
		d := time.Hour
		if !next.IsZero() {
			d = max(time.Until(next), time.Millisecond)
		}
		if failed {
			d = max(d, time.Second) // the disk refused: do not spin on it
		}
		cg.next = now.Add(d)
		cg.mu.Unlock()
		for _, to := range downgraded {
			cg.b.grp.InstallMembers(to)
		}
		cg.migrate.Unlock()
		t.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-cg.kick:
			if !t.Stop() {
				<-t.C
			}
		}
	}
}

// start starts the timer (Broker.Start).
func (cg *consumerGroups) start() {
	cg.b.wg.Add(1)
	go cg.run(cg.b.ctx)
}

// Delete writes the tombstones of an Empty consumer group (DeleteGroups,
// after its offsets' tombstones) and waits for them: the group's error
// code, 0 when deleted or when a member joined meanwhile (the group
// stays, its offsets gone, as a member joining a just-deleted group in
// Kafka finds a new group).
func (m modernGroups) Delete(id string) int16 {
	if m.b.isShareGroup(id) {
		return m.b.deleteShareGroup(id, false)
	}
	cg := &m.b.cgroups
	cg.mu.Lock()
	if cg.c == nil || cg.c.Group(id) == nil {
		cg.mu.Unlock()
		return 0
	}
	if cg.unavailable(cg.partition(id)) {
		cg.mu.Unlock()
		return kerr.NotCoordinator.Code
	}
	pend, err := cg.change(id, func() ([]consumer.Record, bool) {
		recs, ok := cg.c.DeleteRecords(id)
		return recs, !ok
	})
	cg.mu.Unlock()
	if err == nil {
		err = cg.wait(m.b.ctx, id, pend)
	}
	return offsetsfmt.AppendErrorCode(err)
}
