package consumer

import (
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/assign"
)

// reconciler is Kafka 4.4's CurrentAssignmentBuilder: it moves one member
// from its current assignment towards the target, never giving it a
// partition that another member still holds (Unreleased) and never
// moving its epoch forward while it still owns partitions it must revoke
// (Unrevoked). Its input is a copy; it returns the new member.
type reconciler struct {
	g           *Group
	targetEpoch int32
	target      assign.Partitions
	subChanged  bool
	subscribed  map[assign.TopicID]bool // the member's subscribed topics, resolved
	owned       []kmsg.ConsumerGroupHeartbeatRequestTopic
	ownedKnown  bool // owned was sent (nil Topics means "unchanged")
}

func (r *reconciler) build(m *Member) (*Member, error) {
	switch m.State {
	case Stable:
		if m.Epoch != r.targetEpoch {
			return r.next(m, m.Epoch), nil
		}
		if r.subChanged {
			return r.dropUnsubscribed(m), nil
		}
		return m, nil
	case UnrevokedPartitions:
		if r.ownsAny(m.PendingRevocation) {
			if r.subChanged {
				return r.dropUnsubscribed(m), nil
			}
			return m, nil
		}
		return r.next(m, m.Epoch), nil
	case UnreleasedPartitions:
		return r.next(m, m.Epoch), nil
	}
	// A state written by a newer coordinator: the member starts over.
	if !r.ownedKnown || len(r.owned) > 0 {
		return nil, &Error{kerr.FencedMemberEpoch, "The consumer group member is in a unknown state. The member must abandon all its partitions and rejoin."}
	}
	return r.next(m, r.targetEpoch), nil
}

// ownsAny reports whether the member still reports owning one of ps; a
// heartbeat without its owned partitions counts as owning them all.
func (r *reconciler) ownsAny(ps Epochs) bool {
	if !r.ownedKnown {
		return true
	}
	for _, t := range r.owned {
		for _, p := range t.Partitions {
			if ps.has(t.TopicID, p) {
				return true
			}
		}
	}
	return false
}

func updateEpoch(m *Member, e int32) {
	m.PreviousEpoch, m.Epoch = m.Epoch, e
}

// next computes the member's next step towards the target (Kafka's
// computeNextAssignment): keep what is both owned and targeted; revoke
// what is owned and no longer targeted, staying at epoch while the member
// still owns it; take what is targeted and free, at the target epoch.
func (r *reconciler) next(m *Member, epoch int32) *Member {
	out := m.clone()
	assigned, pending, adding := Epochs{}, Epochs{}, Epochs{}
	unreleased := false
	topics := map[assign.TopicID]bool{}
	for t := range r.target {
		topics[t] = true
	}
	for t := range m.Assigned {
		topics[t] = true
	}
	for t := range topics {
		inTarget := map[int32]bool{}
		for _, p := range r.target[t] {
			inTarget[p] = true
		}
		for p, e := range m.Assigned[t] {
			if inTarget[p] {
				assigned.add(t, p, e)
			} else {
				pending.add(t, p, e)
			}
		}
		for _, p := range r.target[t] {
			if assigned.has(t, p) {
				continue
			}
			if o := r.g.owner(t, p); o != "" {
				unreleased = true // still held by another member (or revoking)
				continue
			}
			adding.add(t, p, r.targetEpoch)
		}
	}
	switch {
	case len(pending) > 0 && r.ownsAny(pending):
		out.State = UnrevokedPartitions
		updateEpoch(out, epoch)
		out.Assigned, out.PendingRevocation = assigned, pending
	case len(adding) > 0:
		for t, ps := range adding {
			for p, e := range ps {
				assigned.add(t, p, e)
			}
		}
		out.State = Stable
		if unreleased {
			out.State = UnreleasedPartitions
		}
		updateEpoch(out, r.targetEpoch)
		out.Assigned, out.PendingRevocation = assigned, Epochs{}
	default:
		out.State = Stable
		if unreleased {
			out.State = UnreleasedPartitions
		}
		updateEpoch(out, r.targetEpoch)
		out.Assigned, out.PendingRevocation = assigned, Epochs{}
	}
	return out
}

// dropUnsubscribed revokes at once the partitions of topics the member no
// longer subscribes to, without waiting for a new target (Kafka 4.4's
// updateCurrentAssignment).
func (r *reconciler) dropUnsubscribed(m *Member) *Member {
	out := m.clone()
	assigned, pending := Epochs{}, m.PendingRevocation.clone()
	for t, ps := range m.Assigned {
		if r.subscribed[t] {
			assigned[t] = maps.Clone(ps)
			continue
		}
		for p, e := range ps {
			pending.add(t, p, e)
		}
	}
	if len(pending) > 0 && r.ownsAny(pending) {
		out.State = UnrevokedPartitions
		updateEpoch(out, m.Epoch)
		out.Assigned, out.PendingRevocation = assigned, pending
		return out
	}
	updateEpoch(out, m.Epoch)
	out.Assigned = assigned
	return out
}
