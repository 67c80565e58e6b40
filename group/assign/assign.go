package assign

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf16"
)

// TopicID is a topic's 16-byte id (Kafka's Uuid).
type TopicID [16]byte

// Compare orders topic ids as Kafka's Uuid.compareTo does: by the most
// significant 8 bytes, then the least, each read as a signed big-endian
// int64. Assignors break ties by it, so Rewind's and Kafka's tie-breaks
// agree.
func (a TopicID) Compare(b TopicID) int {
	for _, off := range []int{0, 8} {
		x, y := int64(binary.BigEndian.Uint64(a[off:])), int64(binary.BigEndian.Uint64(b[off:]))
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Partitions maps topics to partition numbers. In an Assignment the
// slices are sorted and hold no duplicates.
type Partitions map[TopicID][]int32

// Member is what an assignor knows of a group member.
type Member struct {
	ID string
	// InstanceID is the static member id (group.instance.id), "" if none.
	InstanceID string
	// Rack is the member's rack, "" if none (Kafka 4.4's assignors do not
	// use racks; kept so a rack-aware assignor can be added).
	Rack string
	// Subscribed are the topics the member subscribes to, resolved to ids
	// (topic names and regex matches alike).
	Subscribed []TopicID
	// Target is the member's partitions in the current target assignment,
	// the starting point of a sticky assignor.
	Target Partitions
}

// Group is an assignor's input: the members and the partition count of
// every topic that exists (a subscribed topic absent here does not).
//
// The uniform assignor considers Members in the order given, as Kafka's
// walks its group spec's members: where two members could take the same
// partition, the earlier one does. Kafka's coordinator builds that spec
// as a java.util.HashMap keyed by member id (JavaMemberOrder gives its
// order); its tests use a sorted map. Range orders members itself.
type Group struct {
	Members []Member
	Topics  map[TopicID]int32
}

// Assignment is the new target assignment: every member of the group, by
// member id, with its partitions (an empty map for none).
type Assignment map[string]Partitions

// Assignor computes a group's target assignment. Assign must not modify
// its input.
type Assignor interface {
	Name() string
	Assign(g Group) (Assignment, error)
}

// Names of the assignors, as clients choose them (group.remote.assignor)
// and brokers list them (group.consumer.assignors).
const (
	UniformName = "uniform"
	RangeName   = "range"
)

// ErrUnknownTopic is returned when a member subscribes to a topic that is
// not in Group.Topics: Kafka's PartitionAssignorException. The group
// coordinator resolves subscriptions against the topics that exist, so
// this means its input was inconsistent.
var ErrUnknownTopic = errors.New("assign: a member subscribes to a topic that does not exist")

// ByName returns the built-in assignor called name ("uniform" or "range").
func ByName(name string) (Assignor, bool) {
	switch name {
	case UniformName:
		return Uniform{}, true
	case RangeName:
		return Range{}, true
	}
	return nil, false
}

// Default returns the assignor a group uses when its members name none:
// the first of group.consumer.assignors, which is uniform by default.
func Default() Assignor { return Uniform{} }

// homogeneous reports whether every member subscribes to the same set of
// topics (Kafka's SubscriptionType.HOMOGENEOUS).
func homogeneous(members []Member) bool {
	if len(members) == 0 {
		return true
	}
	first := topicSet(members[0].Subscribed)
	for _, m := range members[1:] {
		s := topicSet(m.Subscribed)
		if len(s) != len(first) {
			return false
		}
		for t := range s {
			if !first[t] {
				return false
			}
		}
	}
	return true
}

func topicSet(ts []TopicID) map[TopicID]bool {
	s := make(map[TopicID]bool, len(ts))
	for _, t := range ts {
		s[t] = true
	}
	return s
}

// sortedTopics returns the keys of s in Kafka's Uuid order.
func sortedTopics(s map[TopicID]bool) []TopicID {
	out := make([]TopicID, 0, len(s))
	for t := range s {
		out = append(out, t)
	}
	slices.SortFunc(out, TopicID.Compare)
	return out
}

// sortedByID returns the members ordered by member id (range's order
// among members of equal rank).
func sortedByID(members []Member) []Member {
	out := slices.Clone(members)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// JavaMemberOrder returns member ids in the order a java.util.HashMap
// filled with them iterates: Kafka's TargetAssignmentBuilder puts the
// members in one (new HashMap, so its table doubles from 16 while more
// than three quarters full) and its uniform assignor walks them in that
// order. A key's bucket is Java's String.hashCode spread (h ^ h>>>16)
// masked by the table size; keys of one bucket keep insertion order,
// which Rewind does not know, so they are ordered by id.
func JavaMemberOrder(ids []string) []string {
	table := 16
	for len(ids) > table*3/4 {
		table *= 2
	}
	bucket := func(id string) int {
		var h int32
		for _, c := range utf16.Encode([]rune(id)) {
			h = 31*h + int32(c)
		}
		return int((uint32(h) ^ uint32(h)>>16) & uint32(table-1))
	}
	out := slices.Clone(ids)
	slices.SortStableFunc(out, func(a, b string) int {
		if x, y := bucket(a), bucket(b); x != y {
			return x - y
		}
		return strings.Compare(a, b)
	})
	return out
}

// emptyAssignment gives every member an empty assignment.
func emptyAssignment(members []Member) Assignment {
	a := make(Assignment, len(members))
	for _, m := range members {
		a[m.ID] = Partitions{}
	}
	return a
}

// checkTopics fails with ErrUnknownTopic if a subscribed topic does not
// exist.
func checkTopics(g Group) error {
	for _, m := range g.Members {
		for _, t := range m.Subscribed {
			if _, ok := g.Topics[t]; !ok {
				return fmt.Errorf("%w: member %s, topic %x", ErrUnknownTopic, m.ID, t)
			}
		}
	}
	return nil
}

// Validate checks that a is a valid assignment of g: every member of g
// and no one else has an entry, every partition of a subscribed topic is
// assigned to exactly one member subscribed to it, and nothing else is
// assigned. Tests of assignors use it; the coordinator can check an
// assignor's output with it.
func Validate(g Group, a Assignment) error {
	members := map[string]map[TopicID]bool{}
	wanted := map[TopicID]bool{}
	for _, m := range g.Members {
		members[m.ID] = topicSet(m.Subscribed)
		for _, t := range m.Subscribed {
			wanted[t] = true
		}
	}
	if len(a) != len(members) {
		return fmt.Errorf("assignment has %d members, the group %d", len(a), len(members))
	}
	owner := map[TopicID]map[int32]string{}
	for id, ps := range a {
		subs, ok := members[id]
		if !ok {
			return fmt.Errorf("assignment of unknown member %s", id)
		}
		for t, parts := range ps {
			if !subs[t] {
				return fmt.Errorf("member %s is assigned topic %x it does not subscribe to", id, t)
			}
			if len(parts) == 0 {
				return fmt.Errorf("member %s has an empty partition list for %x", id, t)
			}
			if !slices.IsSorted(parts) {
				return fmt.Errorf("member %s: partitions of %x not sorted: %v", id, t, parts)
			}
			for _, p := range parts {
				if p < 0 || p >= g.Topics[t] {
					return fmt.Errorf("member %s: partition %x/%d does not exist", id, t, p)
				}
				if owner[t] == nil {
					owner[t] = map[int32]string{}
				}
				if o, dup := owner[t][p]; dup {
					return fmt.Errorf("partition %x/%d assigned to %s and %s", t, p, o, id)
				}
				owner[t][p] = id
			}
		}
	}
	for t := range wanted {
		if n := int32(len(owner[t])); n != g.Topics[t] {
			return fmt.Errorf("topic %x: %d of %d partitions assigned", t, n, g.Topics[t])
		}
	}
	return nil
}

// Count is the number of partitions in ps.
func (ps Partitions) Count() int {
	n := 0
	for _, parts := range ps {
		n += len(parts)
	}
	return n
}

// Has reports whether ps holds partition p of t.
func (ps Partitions) Has(t TopicID, p int32) bool {
	_, ok := slices.BinarySearch(ps[t], p)
	return ok
}
