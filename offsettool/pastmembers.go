package offsettool

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// GroupNoteNeverCommitted: the group had members but committed nothing.
const GroupNoteNeverCommitted = "never-committed"

// PastMembership is what __consumer_offsets still says of a group's
// members: Kafka and Rewind write a group metadata record, with every
// member's JoinGroup subscription, at each generation.
type PastMembership struct {
	// Generations counts the generations that had members; Last is the
	// newest of them and LastTime when it formed.
	Generations int       `json:"generations"`
	Last        int32     `json:"last_generation"`
	LastTime    time.Time `json:"last_time"`
	// Topics are the topics any of those members subscribed to.
	Topics []string `json:"topics"`
	// Commits counts the group's offset commits still in the log.
	Commits int `json:"commits"`
}

// PastMembership reads the group's records from __consumer_offsets (as
// History) and sums up its generations and subscriptions. It is how the
// tools find the topics of a group whose members consumed without ever
// committing: DescribeGroups shows no member once they left, and
// OffsetFetch no offset.
func (c *Client) PastMembership(ctx context.Context, group string) (PastMembership, error) {
	hist, err := c.History(ctx, group, nil, nil)
	if err != nil {
		return PastMembership{}, err
	}
	return PastMembershipOf(hist), nil
}

// PastMembershipOf sums up a group's history entries (History, or
// HistoryRecord over __consumer_offsets read another way).
func PastMembershipOf(hist []HistoryEntry) PastMembership {
	var pm PastMembership
	topics := map[string]bool{}
	for _, h := range hist {
		switch {
		case h.Kind == EventCommit:
			pm.Commits++
		case h.Kind == EventGroup && h.Members > 0:
			pm.Generations++
			pm.Last, pm.LastTime = h.Generation, h.Time
			for _, t := range h.Subscribed {
				topics[t] = true
			}
		}
	}
	for t := range topics {
		pm.Topics = append(pm.Topics, t)
	}
	sort.Strings(pm.Topics)
	return pm
}

// NameLosses adds to each partition of ex whose committed offset is below
// the log start when the group last committed there, from its history:
// the records it had not read were deleted after that moment (retention
// or DeleteRecords), and the broker keeps no record of exactly when.
func NameLosses(ex *Explanation, hist []HistoryEntry) {
	last := map[TopicPartition]HistoryEntry{}
	for _, h := range hist {
		if h.Kind == EventCommit && h.Transaction != TxnAborted && h.Transaction != TxnPending {
			last[TopicPartition{h.Topic, h.Partition}] = h
		}
	}
	for i, p := range ex.Partitions {
		h, ok := last[TopicPartition{p.Topic, p.Partition}]
		if p.Case != CaseBelowLogStart || !ok || h.Offset != p.Committed {
			continue
		}
		ex.Partitions[i].Why += fmt.Sprintf(" The group last committed here at %s (offset %d, %s before this answer): the %d record(s) were deleted after that, unread.",
			h.Time.UTC().Format(time.RFC3339), h.Offset, lageval.HumanDuration(time.Since(h.Time)), p.LogStart-p.Committed)
	}
}

// NeverCommittedNote says what happened to a group that exists, has no
// member now and no committed offset: its members joined (and, with their
// assignment, consumed) but nothing was committed, so every consumer of it
// starts from its initial offset policy. It says only what the broker
// knows: the generations and subscriptions in __consumer_offsets.
func NeverCommittedNote(s GroupSnapshot, pm PastMembership, initial Policy) GroupNote {
	var b strings.Builder
	if pm.Generations == 0 {
		fmt.Fprintf(&b, "Group %q has no committed offset and no member now, and __consumer_offsets keeps no subscription of past members: pass --topic T to see where its next consumer starts on T.", s.Group)
		return GroupNote{GroupNoteNeverCommitted, b.String()}
	}
	fmt.Fprintf(&b, "Members of group %q joined %d generation(s) (the last, generation %d, at %s) subscribed to %s, but the group never committed an offset: ",
		s.Group, pm.Generations, pm.Last, pm.LastTime.UTC().Format(time.RFC3339), strings.Join(pm.Topics, ", "))
	_, byTime := initial.Duration()
	switch {
	case byTime:
		fmt.Fprintf(&b, "the next consumer starts at its initial policy, %s: the first record at or after now minus the duration.", initial)
	case initial == None:
		b.WriteString("with the policy none (auto.offset.reset=none) the next consumer fails at its first poll (NoOffsetForPartitionException) until the group's offsets are reset.")
	case initial == Oldest:
		b.WriteString("the next consumer starts at its initial policy, oldest (the log start), and reads again whatever its predecessors read.")
	default:
		b.WriteString("the next consumer starts at its initial policy, newest (the log end), and never reads what is there now.")
	}
	b.WriteString(" With Sarama only marked messages are committed (session.MarkMessage, then the auto-commit every Consumer.Offsets.AutoCommit.Interval). The partitions below are those topics'.")
	return GroupNote{GroupNoteNeverCommitted, b.String()}
}

// subscribedTopics are the topics in the consumer-protocol subscriptions
// of a generation's members; undecodable ones are skipped.
func subscribedTopics(ms []kmsg.GroupMetadataValueMember) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(m.Subscription) != nil {
			continue
		}
		for _, t := range meta.Topics {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	sort.Strings(out)
	return out
}
