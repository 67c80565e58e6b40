package assign

import (
	"errors"
	"slices"
)

// Uniform is Kafka's "uniform" server-side assignor (UniformAssignor), the
// default of group.consumer.assignors: balance first (member partition
// counts differ by at most one where subscriptions allow), stickiness
// second (a member keeps what it had unless balance needs it elsewhere).
// A group whose members all subscribe to the same topics takes the
// homogeneous builder, any other the heterogeneous one, as in Kafka.
type Uniform struct{}

// Name is "uniform".
func (Uniform) Name() string { return UniformName }

// Assign computes the target assignment.
func (Uniform) Assign(g Group) (Assignment, error) {
	if err := checkTopics(g); err != nil {
		return nil, err
	}
	if len(g.Members) == 0 {
		return Assignment{}, nil
	}
	if homogeneous(g.Members) {
		return uniformHomogeneous(g)
	}
	return newHeterogeneous(g).build(), nil
}

type topicPartition struct {
	topic TopicID
	part  int32
}

// errLeftUnassigned is an internal inconsistency: the quotas cannot hold
// every partition (Kafka: "Partitions were left unassigned").
var errLeftUnassigned = errors.New("assign: partitions were left unassigned")

// uniformHomogeneous is Kafka 4.4's UniformHomogeneousAssignmentBuilder.
// Each member gets a quota of total/members partitions, and total%members
// of them one more: in the members' order, the extra goes to a member that
// can fill it from what it already holds, or to the last members once no
// more can be skipped. A member keeps its current partitions up to its
// quota and gives up the rest; then the partitions nobody holds fill the
// members below quota, in order. Topics are walked in the order Kafka's hash sets
// walk them (javaHashOrder), members in the order given.
func uniformHomogeneous(g Group) (Assignment, error) {
	members := g.Members // in the given order (see Group)
	subscribed := topicSet(members[0].Subscribed)
	if len(subscribed) == 0 {
		return emptyAssignment(members), nil
	}
	// Kafka copies the first member's subscription into a hash set.
	topics := javaHashOrder(uniqueTopics(members[0].Subscribed))
	held := map[topicPartition]bool{}
	for _, m := range members {
		for t, parts := range m.Target {
			for _, p := range parts {
				held[topicPartition{t, p}] = true
			}
		}
	}
	var unassigned []topicPartition
	total := 0
	for _, t := range topics {
		n := g.Topics[t]
		for p := int32(0); p < n; p++ {
			if !held[topicPartition{t, p}] {
				unassigned = append(unassigned, topicPartition{t, p})
			}
		}
		total += int(n)
	}
	minQuota, extra := total/len(members), total%len(members)

	type unfilled struct {
		id    string
		quota int
	}
	var below []unfilled
	out := make(Assignment, len(members))
	for i, m := range members {
		quota := minQuota
		hasExtra := extra > 0
		if hasExtra {
			quota++
		}
		kept := Partitions{}
		for _, t := range javaHashOrder(sortedTopics(keysOf(m.Target))) {
			if !subscribed[t] {
				continue // no longer subscribed: the topic is dropped
			}
			parts := javaIntOrder(inRange(m.Target[t], g.Topics[t]))
			if len(parts) <= quota {
				quota -= len(parts)
				if len(parts) > 0 {
					kept[t] = parts
				}
				continue
			}
			if quota > 0 {
				kept[t] = parts[:quota:quota]
			}
			for _, p := range parts[quota:] {
				unassigned = append(unassigned, topicPartition{t, p})
			}
			quota = 0
		}
		// A member that does not even fill its extra partition leaves the
		// extra to a later member while enough members remain, so members
		// that already hold one more keep it (Kafka 4.4: fewer moves).
		if quota > 0 && hasExtra && len(members)-i > extra {
			quota--
			hasExtra = false
		}
		if quota > 0 {
			below = append(below, unfilled{m.ID, quota})
		}
		if hasExtra {
			extra--
		}
		out[m.ID] = kept
	}
	next := 0
	for _, u := range below {
		ps := out[u.id]
		for i := 0; i < u.quota && next < len(unassigned); i++ {
			tp := unassigned[next]
			next++
			ps[tp.topic] = append(ps[tp.topic], tp.part)
		}
	}
	if next < len(unassigned) {
		return nil, errLeftUnassigned
	}
	for _, ps := range out {
		for t := range ps {
			slices.Sort(ps[t])
		}
	}
	return out, nil
}

func keysOf(ps Partitions) map[TopicID]bool {
	s := make(map[TopicID]bool, len(ps))
	for t := range ps {
		s[t] = true
	}
	return s
}

// inRange returns the sorted, de-duplicated partitions of parts that exist
// in a topic of n partitions, as a new slice.
func inRange(parts []int32, n int32) []int32 {
	out := make([]int32, 0, len(parts))
	for _, p := range parts {
		if p >= 0 && p < n {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// uniqueTopics returns ts without repeats, in first-seen order.
func uniqueTopics(ts []TopicID) []TopicID {
	seen := make(map[TopicID]bool, len(ts))
	out := make([]TopicID, 0, len(ts))
	for _, t := range ts {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
