package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rewindhq/rewind/offsettool"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The console's group view, explain and reset work on the offsettool
// snapshot that `rewind group describe|explain|reset` build over a Kafka
// client, built here from the broker in process; the plans and
// explanations are offsettool's own pure functions (Explain, PlanReset),
// so their logic exists once.

// snapshot is offsettool.Client.Snapshot, in process: the group as the
// coordinator describes it, its committed offsets, and the bounds of the
// partitions concerned (those selected, or every partition of each topic
// the group commits to, is assigned or subscribes to; topics deleted since
// are skipped).
func (s *Server) snapshot(ctx context.Context, name string, sels []offsettool.TopicSelection) (offsettool.GroupSnapshot, error) {
	snap := offsettool.GroupSnapshot{Group: name, Taken: time.Now()}
	d, err := s.b.DescribeGroup(ctx, name)
	if err != nil {
		return snap, fmt.Errorf("describe group %q: %w", name, err)
	}
	snap.Type, snap.State, snap.ProtocolType, snap.Protocol = d.Type, d.State, d.ProtocolType, d.Protocol
	snap.GroupEpoch, snap.AssignmentEpoch, snap.Assignor = d.GroupEpoch, d.AssignmentEpoch, d.Assignor
	interested := map[string]bool{}
	assignedTo := map[offsettool.TopicPartition]string{}
	targetOf := map[offsettool.TopicPartition]string{}
	flat := func(ps map[string][]int32, owner map[offsettool.TopicPartition]string, id string) []offsettool.TopicPartition {
		var out []offsettool.TopicPartition
		for t, ps := range ps {
			interested[t] = true
			for _, p := range ps {
				tp := offsettool.TopicPartition{Topic: t, Partition: p}
				out = append(out, tp)
				owner[tp] = id
			}
		}
		sortTopicPartitions(out)
		return out
	}
	for _, m := range d.Members {
		mem := offsettool.Member{ID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID, Host: m.Host, MemberEpoch: m.MemberEpoch}
		mem.Assigned = flat(m.Assigned, assignedTo, m.ID)
		if d.Type == offsettool.TypeConsumer {
			// As offsettool's snapshot of a consumer group: its target and
			// what it still revokes or awaits.
			mem.Subscribed = m.Subscribed
			mem.Target = flat(m.Target, targetOf, m.ID)
			mem.Revoking = minusTPs(mem.Assigned, mem.Target)
			mem.Awaiting = minusTPs(mem.Target, mem.Assigned)
		}
		for _, t := range m.Subscribed {
			interested[t] = true
		}
		snap.Members = append(snap.Members, mem)
	}
	sort.Slice(snap.Members, func(i, j int) bool { return snap.Members[i].ID < snap.Members[j].ID })

	committed := s.b.Committed(name)
	n := 0
	for t, ps := range committed {
		interested[t] = true
		n += len(ps)
	}
	snap.Exists = len(snap.Members) > 0 || n > 0 || (snap.State != "" && snap.State != offsettool.StateDead)

	var tps []offsettool.TopicPartition
	bounds := map[string][]int64{} // topic -> log start, high watermark of each partition
	addTopic := func(t string) bool {
		if _, ok := bounds[t]; ok {
			return true
		}
		ti, ok := s.b.Topic(t)
		if !ok {
			return false
		}
		b := make([]int64, 0, 2*len(ti.Partitions))
		for _, p := range ti.Partitions {
			b = append(b, p.LogStart, p.HighWatermark)
		}
		bounds[t] = b
		return true
	}
	if len(sels) > 0 {
		seen := map[offsettool.TopicPartition]bool{}
		for _, sel := range sels {
			if !addTopic(sel.Topic) {
				return snap, fmt.Errorf("%w %q: list topics with `rewind topic list`", offsettool.ErrUnknownTopic, sel.Topic)
			}
			have := int32(len(bounds[sel.Topic]) / 2)
			want := sel.Partitions
			if len(want) == 0 {
				for p := int32(0); p < have; p++ {
					want = append(want, p)
				}
			}
			for _, p := range want {
				if p < 0 || p >= have {
					return snap, fmt.Errorf("%w: topic %q has no partition %d (it has %d)", offsettool.ErrUnknownTopic, sel.Topic, p, have)
				}
				tp := offsettool.TopicPartition{Topic: sel.Topic, Partition: p}
				if !seen[tp] {
					seen[tp] = true
					tps = append(tps, tp)
				}
			}
		}
	} else {
		for t := range interested {
			if !addTopic(t) {
				continue // deleted since the group committed
			}
			for p := int32(0); p < int32(len(bounds[t])/2); p++ {
				tps = append(tps, offsettool.TopicPartition{Topic: t, Partition: p})
			}
		}
	}
	sortTopicPartitions(tps)
	for _, tp := range tps {
		b := bounds[tp.Topic]
		p := offsettool.Partition{Topic: tp.Topic, Partition: tp.Partition, Committed: offsettool.NoOffset, MemberID: assignedTo[tp], TargetMemberID: targetOf[tp],
			LogStart: b[2*tp.Partition], LogEnd: b[2*tp.Partition+1], LastStable: b[2*tp.Partition+1]}
		if o, ok := committed[tp.Topic][tp.Partition]; ok && o.Offset >= 0 {
			p.Committed, p.Metadata = o.Offset, o.Metadata
		}
		snap.Partitions = append(snap.Partitions, p)
	}
	// Open transactions hold a partition's last stable offset below its
	// high watermark: Explain says so, as `rewind group explain` does.
	idx := map[offsettool.TopicPartition]int{}
	for i, p := range snap.Partitions {
		idx[p.TP()] = i
	}
	for _, o := range s.b.OpenTransactions() {
		i, ok := idx[offsettool.TopicPartition{Topic: o.Topic, Partition: o.Partition}]
		if !ok {
			continue
		}
		p := &snap.Partitions[i]
		p.LastStable = min(p.LastStable, o.LastStable)
		p.OpenTxns = append(p.OpenTxns, offsettool.OpenTxn{ProducerID: o.ProducerID, ProducerEpoch: o.ProducerEpoch,
			StartOffset: o.StartOffset, LastWrite: o.LastWrite})
	}
	return snap, nil
}

// minusTPs is a without b.
func minusTPs(a, b []offsettool.TopicPartition) []offsettool.TopicPartition {
	in := map[offsettool.TopicPartition]bool{}
	for _, tp := range b {
		in[tp] = true
	}
	var out []offsettool.TopicPartition
	for _, tp := range a {
		if !in[tp] {
			out = append(out, tp)
		}
	}
	return out
}

func sortTopicPartitions(s []offsettool.TopicPartition) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Topic != s[j].Topic {
			return s[i].Topic < s[j].Topic
		}
		return s[i].Partition < s[j].Partition
	})
}

// planReset is offsettool.Client.PlanFor, in process: what the target
// needs (the offsets at a time from the time indexes, the group's
// position at a time from the coordinator's commit history) and then
// offsettool.PlanReset.
func (s *Server) planReset(snap offsettool.GroupSnapshot, t offsettool.Target) (offsettool.Plan, error) {
	var resolved map[offsettool.TopicPartition]int64
	switch t.Kind {
	case offsettool.ToDatetime, offsettool.ByDuration:
		resolved = map[offsettool.TopicPartition]int64{}
		for _, p := range snap.Partitions {
			o, err := s.b.OffsetForTime(p.Topic, p.Partition, t.Time)
			if err != nil {
				return offsettool.Plan{}, fmt.Errorf("offset at %s of %s/%d: %w", t.Time.Format(time.RFC3339), p.Topic, p.Partition, err)
			}
			resolved[p.TP()] = o
		}
	case offsettool.ToCommittedAt:
		resolved = map[offsettool.TopicPartition]int64{}
		for topic, ps := range s.b.CommittedAt(snap.Group, t.Time) {
			for p, o := range ps {
				resolved[offsettool.TopicPartition{Topic: topic, Partition: p}] = o.Offset
			}
		}
	}
	return offsettool.PlanReset(snap, t, resolved)
}

// executeReset is offsettool.Client.ExecuteReset, in process: it refuses,
// naming them, while the group has members (checked again: a consumer
// that joined since the dry run would overwrite the reset with its next
// commit), and commits the plan from outside group management, which the
// coordinator refuses in turn if a member joined in between.
func (s *Server) executeReset(ctx context.Context, plan *offsettool.Plan) error {
	d, err := s.b.DescribeGroup(ctx, plan.Group)
	if err != nil {
		return fmt.Errorf("describe group %q: %w", plan.Group, err)
	}
	// As kafka-consumer-groups.sh: only an Empty (or unknown) group, of
	// either type.
	if len(d.Members) > 0 || (d.State != offsettool.StateEmpty && d.State != offsettool.StateDead && d.State != "") {
		e := &offsettool.ActiveMembersError{Group: plan.Group, State: d.State, Type: d.Type}
		for _, m := range d.Members {
			e.Members = append(e.Members, offsettool.Member{ID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID, Host: m.Host})
		}
		sort.Slice(e.Members, func(i, j int) bool { return e.Members[i].ID < e.Members[j].ID })
		return e
	}
	offsets := map[string]map[int32]int64{}
	for _, r := range plan.Rows {
		if offsets[r.Topic] == nil {
			offsets[r.Topic] = map[int32]int64{}
		}
		offsets[r.Topic][r.Partition] = r.New
	}
	if err := s.b.CommitOffsets(ctx, plan.Group, offsets); err != nil {
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.IllegalGeneration) {
			return fmt.Errorf("%w: group %q gained members while resetting; stop its consumers and run again (%w)", offsettool.ErrActiveMembers, plan.Group, err)
		}
		return fmt.Errorf("commit offsets for %q: %w", plan.Group, err)
	}
	plan.Executed = true
	return nil
}
