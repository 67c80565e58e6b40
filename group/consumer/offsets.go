package consumer

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/rewindhq/rewind/group/assign"
)

// A consumer group's offsets are ordinary OffsetCommit records, kept by
// the classic coordinator's offsets store (package group); only who may
// commit and fetch them is decided here, by member id and member epoch, as
// Kafka 4.4's ConsumerGroup.validateOffsetCommit and validateOffsetFetch
// decide it.

// PartitionCheck answers one partition of an OffsetCommit whose member
// epoch is older than the member's: 0 if the member still has the
// partition from that epoch or before, an error code otherwise.
type PartitionCheck func(t assign.TopicID, p int32) int16

// ValidateOffsetCommit validates an OffsetCommit (non-transactional) of
// version v from memberID at epoch. It returns a code refusing every
// partition, or 0 and, when epoch is older than the member's, the check
// of each partition (nil: every partition is accepted).
//
// Kafka accepts an older epoch for a partition assigned at that epoch or
// before (its assignment epoch), so that a member may commit what it
// processed before a rebalance moved other partitions; a newer epoch, a
// partition the member no longer has, or one assigned after the epoch is
// STALE_MEMBER_EPOCH.
//
// A transactional commit (TxnOffsetCommit, txn) is not bound to v9+, and
// one from a producer outside group management (epoch -1, no member id,
// no instance id) is accepted.
func (g *Group) ValidateOffsetCommit(memberID string, instanceID *string, epoch int32, v int16, txn bool) (int16, PartitionCheck) {
	// An admin client or a consumer without group management: allowed
	// while the group has no member.
	if epoch < 0 && len(g.members) == 0 {
		return 0, nil
	}
	if txn && epoch == -1 && memberID == "" && instanceID == nil {
		return 0, nil
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code, nil
	}
	if m.Classic != nil {
		// A classic member commits at its generation, which is its member
		// epoch, with any version (Kafka's validateMemberEpoch with
		// useClassicProtocol: ILLEGAL_GENERATION, not STALE_MEMBER_EPOCH).
		if epoch != m.Epoch {
			return kerr.IllegalGeneration.Code, nil
		}
		return 0, nil
	}
	if !txn && v < 9 {
		// Before v9 the request cannot say it comes from a consumer-protocol
		// member (its generation is not a member epoch).
		return kerr.UnsupportedVersion.Code, nil
	}
	switch {
	case epoch == m.Epoch:
		return 0, nil
	case epoch > m.Epoch:
		return kerr.StaleMemberEpoch.Code, nil
	}
	return 0, func(t assign.TopicID, p int32) int16 {
		at, ok := m.Assigned[t][p]
		if !ok {
			at, ok = m.PendingRevocation[t][p]
		}
		if !ok || epoch < at {
			return kerr.StaleMemberEpoch.Code
		}
		return 0
	}
}

// ValidateOffsetFetch validates an OffsetFetch (v9+) of memberID at
// epoch: no member id and a negative epoch (an admin client, or a client
// outside group management) are always allowed; otherwise the member
// must exist at exactly that epoch.
func (g *Group) ValidateOffsetFetch(memberID *string, epoch int32) int16 {
	if memberID == nil && epoch < 0 {
		return 0
	}
	var id string
	if memberID != nil {
		id = *memberID
	}
	m := g.members[id]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case m.Epoch != epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}
