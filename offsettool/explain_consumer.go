package offsettool

import (
	"fmt"
	"strings"
)

// Kinds of GroupNote about a consumer group (KIP-848).
const (
	// GroupNoteRevocation: a partition waits for its current owner to
	// revoke it before its new owner gets it.
	GroupNoteRevocation = "waiting-for-revocation"
	// GroupNoteBehind: a member's epoch is behind the group's target
	// assignment epoch: its commits at that epoch are refused
	// (STALE_MEMBER_EPOCH) once the broker moved it on, and a heartbeat
	// at an epoch the broker does not hold fences it.
	GroupNoteBehind = "member-epoch-behind"
	// GroupNoteAssigning: the group epoch moved past the target
	// assignment's; the broker computes a new target on the next
	// heartbeat.
	GroupNoteAssigning = "assigning"
)

// consumerNotes explains what a consumer group's members are doing that
// the classic protocol has no word for: partitions moving from one member
// to another through revocation, and members whose epochs lag the target.
func consumerNotes(s GroupSnapshot) []GroupNote {
	if s.Type != TypeConsumer || !s.Exists {
		return nil
	}
	var notes []GroupNote
	byID := map[string]Member{}
	for _, m := range s.Members {
		byID[m.ID] = m
	}
	owner := map[TopicPartition]string{}
	for _, m := range s.Members {
		for _, tp := range m.Assigned {
			owner[tp] = m.ID
		}
	}
	if s.GroupEpoch > s.AssignmentEpoch {
		notes = append(notes, GroupNote{GroupNoteAssigning, fmt.Sprintf(
			"The group epoch is %d but its target assignment was computed for epoch %d: membership or subscriptions changed and the broker's %s assignor computes the new target on the next heartbeat (at most group.consumer.assignment.interval.ms later).",
			s.GroupEpoch, s.AssignmentEpoch, dashWord(s.Assignor))})
	}
	for _, m := range s.Members {
		var waiting, coming []string
		for _, tp := range m.Awaiting {
			if o, ok := owner[tp]; ok && o != m.ID {
				waiting = append(waiting, fmt.Sprintf("%s (still owned by %s)", tp, memberName(byID[o])))
			} else {
				coming = append(coming, tp.String())
			}
		}
		if len(waiting) > 0 {
			notes = append(notes, GroupNote{GroupNoteRevocation, fmt.Sprintf(
				"%s waits for %s: the target assignment (epoch %d) gives them to it, but a partition goes to its new owner only once the previous owner has revoked it (committed, then left it out of a heartbeat). If the owner does not revoke within its rebalance timeout (max.poll.interval.ms in the Java client), the broker fences it and frees them. Records the owner fetched past its last commit are consumed again by %s.",
				memberName(m), strings.Join(waiting, ", "), s.AssignmentEpoch, memberName(m))})
		}
		if len(coming) > 0 {
			notes = append(notes, GroupNote{GroupNoteRevocation, fmt.Sprintf(
				"%s is given %s by the target assignment (epoch %d); nobody owns them now, so its next heartbeat receives them.",
				memberName(m), strings.Join(coming, ", "), s.AssignmentEpoch)})
		}
		if len(m.Revoking) > 0 {
			notes = append(notes, GroupNote{GroupNoteRevocation, fmt.Sprintf(
				"%s must revoke %s (no longer in its target): it keeps consuming them until its next heartbeat acknowledges the revocation.",
				memberName(m), tpList(m.Revoking))})
		}
		if m.MemberEpoch > 0 && s.AssignmentEpoch > 0 && m.MemberEpoch < s.AssignmentEpoch {
			notes = append(notes, GroupNote{GroupNoteBehind, fmt.Sprintf(
				"%s is at member epoch %d, behind the target assignment epoch %d: it has not reached the new target yet (it still revokes, or waits for partitions). Its offset commits must carry its current member epoch: one at an older epoch is refused with STALE_MEMBER_EPOCH, and a heartbeat at an epoch the broker does not hold is FENCED_MEMBER_EPOCH, after which the client rejoins at epoch 0 and gives up its partitions (what it fetched past its last commit is consumed again).",
				memberName(m), m.MemberEpoch, s.AssignmentEpoch)})
		}
	}
	return notes
}

func memberName(m Member) string {
	name := "member " + m.ID
	if m.ClientID != "" {
		name += " (" + m.ClientID + ")"
	}
	return name
}

func tpList(tps []TopicPartition) string {
	parts := make([]string, len(tps))
	for i, tp := range tps {
		parts[i] = tp.String()
	}
	return strings.Join(parts, ", ")
}

func dashWord(s string) string {
	if s == "" {
		return "configured"
	}
	return s
}
