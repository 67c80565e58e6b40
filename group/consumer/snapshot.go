package consumer

import (
	"maps"
)

// The broker applies a heartbeat in memory and appends its records under
// one lock; a write that cannot be appended must leave the group as it
// was, as Kafka's coordinator reverts its timeline to the last committed
// offset when a write fails. Snapshot and Restore are that revert.

// Snapshot returns a copy of the group, or nil if there is none, for
// Restore (once only: the copy becomes the group).
func (c *Coordinator) Snapshot(id string) *Group {
	if g := c.groups[id]; g != nil {
		return g.clone()
	}
	return nil
}

// Restore puts back a group as Snapshot returned it (nil: the group did
// not exist, and is removed).
func (c *Coordinator) Restore(id string, g *Group) {
	if g == nil {
		delete(c.groups, id)
		return
	}
	g.reindex()
	c.groups[id] = g
}

// Unload forgets a group whatever its state (its __consumer_offsets
// partition can no longer be written or read, or is about to be replayed
// again); nothing is written.
func (c *Coordinator) Unload(id string) { delete(c.groups, id) }

// clone copies what a heartbeat changes in place: the group's fields,
// its maps, and each member's fields. A member's Assigned and
// PendingRevocation maps and its subscription slice, the target
// partitions and the resolved regexes are never changed in place, only
// replaced (setAssignment, the reconciler and Replay build new ones), so
// the copy shares them: a group of 100 members on 1000 partitions is
// copied in tens of microseconds instead of half a millisecond, once per
// heartbeat. TestRefusedWritesUndone fails if a change in place creeps in.
func (g *Group) clone() *Group {
	out := *g
	out.members = make(map[string]*Member, len(g.members))
	for id, m := range g.members {
		c := *m
		out.members[id] = &c
	}
	out.static = maps.Clone(g.static)
	out.target = maps.Clone(g.target)
	// The owners index follows from the members' partitions: Restore
	// rebuilds it rather than every heartbeat copying it.
	out.owners = nil
	out.regexes = maps.Clone(g.regexes)
	return &out
}

// reindex rebuilds the owners index from the members' partitions.
func (g *Group) reindex() {
	g.owners = map[tp]string{}
	for _, id := range g.MemberIDs() {
		m := g.members[id]
		for _, e := range []Epochs{m.Assigned, m.PendingRevocation} {
			for t, ps := range e {
				for p := range ps {
					g.owners[tp{t, p}] = m.ID
				}
			}
		}
	}
}

// DeleteRecords removes an Empty group (DeleteGroups) and returns the
// tombstones to write, in Kafka 4.4's order (ConsumerGroup.
// createGroupTombstoneRecords): every member's current and target
// assignment, the target assignment metadata, every member's metadata,
// every resolved regex, the partition metadata of Kafka before 4.1, and
// last the group metadata, so that a replay, and a compacted log once
// the tombstones are gone, have nothing left of the group. ok is false,
// and nothing changes, for a group that does not exist or has members.
func (c *Coordinator) DeleteRecords(id string) ([]Record, bool) {
	g := c.groups[id]
	if g == nil || g.State() != StateEmpty {
		return nil, false
	}
	recs := groupTombstones(g) // no member: an Empty group has none
	delete(c.groups, id)
	return recs, true
}
