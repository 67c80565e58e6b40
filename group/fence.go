package group

import (
	"errors"
	"fmt"
	"sort"

	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A partition of __consumer_offsets that cannot be read back (damaged on
// disk) is fenced: its groups are not loaded, and every request for a
// group hashed to it is answered NOT_COORDINATOR, as Kafka's coordinator
// runtime answers for a partition whose load failed (state FAILED, the
// partition unloaded); the broker's FindCoordinator answers
// COORDINATOR_NOT_AVAILABLE for them, as Kafka does while the partition
// has no leader. Groups on every other partition are served. A repair
// reloads the partition with LoadPartition.

// FencePartition makes __consumer_offsets partition p unavailable for the
// reason cause, unloading its groups: those replayed so far if the
// coordinator has not started (they are incomplete), or the loaded ones
// (waiting JoinGroup and SyncGroup calls get NOT_COORDINATOR). It returns
// the names of the groups unloaded, sorted.
func (c *Coordinator) FencePartition(p int32, cause error) []string {
	if cause == nil {
		cause = errors.New("fenced")
	}
	c.fenceMu.Lock()
	if c.fenced == nil {
		c.fenced = make(map[int32]error)
	}
	c.fenced[p] = cause
	c.fenceMu.Unlock()

	var names []string
	var loaded []*group
	c.mu.Lock()
	if r := c.replay; r != nil {
		order := r.order[:0]
		for _, name := range r.order {
			if c.PartitionFor(name) == p {
				names = append(names, name)
				delete(r.groups, name)
				c.publish(StateChanged{Group: name, To: stateDead.String(), Time: c.now()})
				continue
			}
			order = append(order, name)
		}
		r.order = order
	}
	for name, g := range c.groups {
		if c.PartitionFor(name) == p {
			loaded = append(loaded, g)
		}
	}
	c.mu.Unlock()
	for _, g := range loaded {
		g.mu.Lock()
		if !g.removed {
			for _, m := range g.members {
				g.maybeInvokeJoin(m, errJoin(m.id, kerr.NotCoordinator.Code))
				g.maybeInvokeSync(m, errSync(kerr.NotCoordinator.Code))
			}
			c.removeGroup(g)
			names = append(names, g.name)
		}
		g.mu.Unlock()
	}
	sort.Strings(names)
	return names
}

// PartitionErr returns why __consumer_offsets partition p is fenced, or nil.
func (c *Coordinator) PartitionErr(p int32) error {
	c.fenceMu.RLock()
	defer c.fenceMu.RUnlock()
	return c.fenced[p]
}

// GroupErr returns why the partition holding group is fenced, or nil.
func (c *Coordinator) GroupErr(group string) error {
	p := c.PartitionFor(group)
	if err := c.PartitionErr(p); err != nil {
		return fmt.Errorf("__consumer_offsets-%d, which holds group %q, is fenced: %w", p, group, err)
	}
	return nil
}

// fencedGroup reports whether group's partition is fenced.
func (c *Coordinator) fencedGroup(group string) bool {
	c.fenceMu.RLock()
	defer c.fenceMu.RUnlock()
	return len(c.fenced) > 0 && c.fenced[c.PartitionFor(group)] != nil
}

// ReplayFunc feeds one record of a partition, of batch b, as ReplayBatch
// does.
type ReplayFunc func(recOffset int64, b Batch, key, value []byte, timestamp int64) error

// LoadPartition reloads __consumer_offsets partition p into a running
// coordinator, after a repair: read must call replay for every record of
// the partition in offset order. Its groups are built as at start-up and
// the partition is served again. If read fails the partition stays
// fenced, with nothing loaded.
func (c *Coordinator) LoadPartition(p int32, read func(replay ReplayFunc) error) error {
	if c.PartitionErr(p) == nil {
		return fmt.Errorf("group: __consumer_offsets-%d is not fenced", p)
	}
	rs := newReplayState()
	err := read(func(recOffset int64, b Batch, key, value []byte, timestamp int64) error {
		return c.replayInto(rs, p, recOffset, b, key, value, timestamp)
	})
	if err != nil {
		// Observers were told of what was read: they drop it again.
		for _, name := range rs.order {
			if c.PartitionFor(name) == p {
				c.publish(StateChanged{Group: name, To: stateDead.String(), Time: c.now()})
			}
		}
		return err
	}
	c.mu.Lock()
	c.loadLocked()
	now := c.now()
	for _, name := range rs.order {
		if c.PartitionFor(name) != p || c.groups[name] != nil {
			continue // not this partition's (a bad record), or already there
		}
		if g := c.buildGroup(name, rs.groups[name], now); g != nil {
			c.groups[name] = g
		}
	}
	c.mu.Unlock()
	c.fenceMu.Lock()
	delete(c.fenced, p)
	c.fenceMu.Unlock()
	return nil
}

// Partitions returns the partition count of __consumer_offsets.
func (c *Coordinator) Partitions() int32 { return c.cfg.OffsetsTopicPartitions }

// PartitionFor returns the __consumer_offsets partition of group among n
// (offsetsfmt.PartitionFor), for tools without a coordinator.
func PartitionFor(group string, n int32) int32 {
	return offsetsfmt.PartitionFor(group, n)
}

// RecordGroup returns the group a __consumer_offsets record key belongs
// to (offset commit and group metadata keys); ok is false for other
// record types and undecodable keys.
func RecordGroup(key []byte) (group string, ok bool) {
	k, err := offsetsfmt.DecodeKey(key)
	if err != nil || k.Kind == offsetsfmt.Unknown {
		return "", false
	}
	return k.Group, true
}
