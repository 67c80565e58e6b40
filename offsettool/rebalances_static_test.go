package offsettool

import (
	"testing"
	"time"
)

// TestRebalancesStaticRestart: a static member of a consumer group leaving
// to restart (epoch -2) and coming back under a new member id with its
// instance id keeps its partitions: the timeline names the replacement and
// moves nothing, while a dynamic member taking partitions over is a move.
func TestRebalancesStaticRestart(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	p0, p1, p2 := TopicPartition{"t", 0}, TopicPartition{"t", 1}, TopicPartition{"t", 2}
	member := func(s int, id, instance string) HistoryEntry {
		return HistoryEntry{Time: at(s), Kind: EventMember, Member: &MemberRecord{ID: id, InstanceID: instance, ClientID: "c-" + id, Subscribed: []string{"t"}}}
	}
	assigned := func(s int, id string, epoch int32, tps ...TopicPartition) HistoryEntry {
		return HistoryEntry{Time: at(s), Kind: EventAssignment, MemberEpoch: epoch, Member: &MemberRecord{ID: id, Assigned: tps}}
	}
	epoch := func(s int, e int32) HistoryEntry {
		return HistoryEntry{Time: at(s), Kind: EventGroupEpoch, Generation: e}
	}
	h := []HistoryEntry{
		member(1, "a1", "inst-a"), epoch(1, 2), assigned(1, "a1", 2, p0, p1, p2),
		member(2, "b1", ""), epoch(2, 3), assigned(2, "a1", 3, p0, p1), assigned(2, "b1", 3, p2),
		// a restarts: static leave, then its new incarnation a2 replaces it
		// (Kafka writes the new member, the old one's tombstones, then the
		// new one's current assignment, at the same epoch: no rebalance).
		assigned(3, "a1", -2, p0, p1),
		member(5, "a2", "inst-a"),
		{Time: at(5), Kind: EventMemberGone, Member: &MemberRecord{ID: "a1"}},
		assigned(5, "a2", 3, p0, p1),
	}
	rs := Rebalances(h)
	var moves []PartitionMove
	for _, r := range rs {
		if r.Epoch == 3 {
			moves = r.Moved
		}
	}
	if len(moves) != 1 || moves[0].Partition != 2 || moves[0].From != "a1" || moves[0].To != "b1" {
		t.Fatalf("epoch 3 moves %+v, want only t/2 from a1 to b1 (the static restart moves nothing)", moves)
	}
	// The replacement bumped no epoch: it is told in epoch 3, where it
	// happened.
	last := rs[len(rs)-1]
	named := false
	for _, j := range last.Joined {
		named = named || (j.ID == "a2" && j.Reason == "static replacement of member a1 (instance inst-a)")
	}
	if last.Epoch != 3 || !named || len(last.Left) != 1 || last.Left[0].ID != "a1" || last.Left[0].Reason != ReasonStaticReplaced {
		t.Fatalf("epoch 3: joined %+v, left %+v", last.Joined, last.Left)
	}
}
