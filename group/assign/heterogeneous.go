package assign

import (
	"slices"
	"sort"
)

// heterogeneous is Kafka 4.4's UniformHeterogeneousAssignmentBuilder, for
// groups whose members subscribe to different topics:
//
//  1. every member keeps its current partitions of the topics it still
//     subscribes to;
//  2. the partitions nobody holds go, topic by topic, to the topic's
//     least loaded subscribers;
//  3. partitions move from the most to the least loaded subscribers of
//     each topic until no topic's subscribers differ by more than one, or
//     a pass over the topics moves nothing, or 16 passes are done.
//
// Topics are visited in descending partitions-per-subscriber order (ties:
// fewer subscribers first, then topic id), members are numbered in the
// order given and compared by load, then number.
type heterogeneous struct {
	g           Group
	memberIDs   []string
	subscribers map[TopicID][]int // member numbers, ascending
	topics      []TopicID         // every subscribed topic
	size        []int             // partitions per member in the target
	owner       map[TopicID][]int // -1 for unassigned
	out         []Partitions
}

// maxBalanceIterations bounds the final balancing passes (Kafka's
// MAX_ITERATION_COUNT): overlapping subscriptions may need many passes to
// converge, each roughly halving the imbalance.
const maxBalanceIterations = 16

func newHeterogeneous(g Group) *heterogeneous {
	members := g.Members // in the given order (see Group)
	h := &heterogeneous{g: g, subscribers: map[TopicID][]int{}, owner: map[TopicID][]int{},
		size: make([]int, len(members)), out: make([]Partitions, len(members))}
	seen := map[TopicID]bool{}
	for i, m := range members {
		h.memberIDs = append(h.memberIDs, m.ID)
		for t := range topicSet(m.Subscribed) {
			h.subscribers[t] = append(h.subscribers[t], i)
			seen[t] = true
		}
	}
	h.topics = sortedTopics(seen)
	for _, t := range h.topics {
		sort.Ints(h.subscribers[t])
		own := make([]int, g.Topics[t])
		for p := range own {
			own[p] = -1
		}
		h.owner[t] = own
	}
	// Step 1: keep what is still subscribed.
	for i, m := range members {
		subs := topicSet(m.Subscribed)
		h.out[i] = Partitions{}
		for t, parts := range m.Target {
			if !subs[t] {
				continue
			}
			for _, p := range inRange(parts, g.Topics[t]) {
				if h.owner[t][p] == -1 {
					h.assign(t, p, i)
				}
			}
		}
	}
	return h
}

func (h *heterogeneous) build() Assignment {
	a := make(Assignment, len(h.memberIDs))
	if len(h.topics) > 0 {
		h.assignUnassigned()
		h.balance()
	}
	for i, id := range h.memberIDs {
		ps := h.out[i]
		for t := range ps {
			slices.Sort(ps[t])
		}
		a[id] = ps
	}
	return a
}

// lessTopic is Kafka's topic comparator.
func (h *heterogeneous) lessTopic(a, b TopicID) bool {
	na, nb := float64(h.g.Topics[a]), float64(h.g.Topics[b])
	sa, sb := float64(len(h.subscribers[a])), float64(len(h.subscribers[b]))
	if ra, rb := na/sa, nb/sb; ra != rb {
		return ra > rb
	}
	if sa != sb {
		return sa < sb
	}
	return a.Compare(b) < 0
}

func (h *heterogeneous) sortTopics(ts []TopicID) []TopicID {
	out := slices.Clone(ts)
	sort.SliceStable(out, func(i, j int) bool { return h.lessTopic(out[i], out[j]) })
	return out
}

func (h *heterogeneous) assignUnassigned() {
	b := &balancer{size: h.size}
	for _, t := range h.sortTopics(h.topics) {
		var free []int32
		for p, o := range h.owner[t] {
			if o == -1 {
				free = append(free, int32(p))
			}
		}
		if len(free) == 0 {
			continue
		}
		b.init(h.subscribers[t])
		for _, p := range free {
			h.assign(t, p, b.nextLeastLoaded())
		}
	}
}

func (h *heterogeneous) balance() {
	var topics []TopicID
	for _, t := range h.topics {
		if len(h.subscribers[t]) >= 2 {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		return
	}
	topics = h.sortTopics(topics)
	last := -1
	b := &balancer{size: h.size}
	for i := 0; i < maxBalanceIterations; i++ {
		for ti, t := range topics {
			if ti == last {
				// A full pass since the last move: nothing more to gain.
				return
			}
			if moved := h.balanceTopic(t, b); moved > 0 || last == -1 {
				last = ti
			}
		}
	}
}

// balanceTopic moves partitions of t from its most to its least loaded
// subscribers, always the most loaded member's highest-numbered partition
// of t, until the two ends differ by one or less. It returns how many
// partitions moved.
func (h *heterogeneous) balanceTopic(t TopicID, b *balancer) int {
	if b.init(h.subscribers[t]) <= 1 {
		return 0
	}
	owner := h.owner[t]
	// The partitions grouped by owner (then partition), and each owner's
	// range in that order, to take an owner's last partition in O(1).
	parts := make([]int32, len(owner))
	for p := range parts {
		parts[p] = int32(p)
	}
	sort.SliceStable(parts, func(i, j int) bool {
		if owner[parts[i]] != owner[parts[j]] {
			return owner[parts[i]] < owner[parts[j]]
		}
		return parts[i] < parts[j]
	})
	start, end := map[int]int{}, map[int]int{}
	for i, p := range parts {
		o := owner[p]
		if _, ok := start[o]; !ok {
			start[o] = i
		}
		end[o] = i + 1
	}
	moved := 0
	for !b.balanced() {
		from := -1
		for {
			from = b.nextMostLoaded()
			if from == -1 {
				break
			}
			if e, ok := end[from]; !ok || e-start[from] <= 0 {
				// No partition of t left to give up.
				b.excludeMostLoaded()
				continue
			}
			break
		}
		if from == -1 {
			break
		}
		p := parts[end[from]-1]
		end[from]--
		to := b.nextLeastLoaded()
		if b.balanced() {
			break
		}
		h.assign(t, p, to)
		moved++
	}
	return moved
}

// assign gives partition p of t to member m, taking it from its owner.
func (h *heterogeneous) assign(t TopicID, p int32, m int) {
	if old := h.owner[t][p]; old != -1 {
		ps := h.out[old]
		if i := slices.Index(ps[t], p); i >= 0 {
			ps[t] = slices.Delete(ps[t], i, i+1)
		}
		if len(ps[t]) == 0 {
			delete(ps, t)
		}
		h.size[old]--
	}
	h.out[m][t] = append(h.out[m][t], p)
	h.owner[t][p] = m
	h.size[m]++
}

// balancer is Kafka's MemberAssignmentBalancer: over one topic's
// subscribers sorted by load, it hands out the least loaded member to give
// a partition to and the most loaded to take one from, tracking two
// ranges of equally loaded members at the ends (the least loaded range
// grows rightwards, the most loaded leftwards) so each step is O(1)
// amortised and ties are broken the same way every time.
type balancer struct {
	size   []int // shared with the builder: loads change as partitions move
	sorted []int

	leastEnd   int // [0, leastEnd): the least loaded range
	leastCount int // its load before this round of assignments
	nextLeast  int

	mostStart, mostEnd int // [mostStart, mostEnd): the most loaded range
	mostCount          int
	nextMost           int
}

// init resets the balancer to members and returns the difference between
// the most and the least loaded.
func (b *balancer) init(members []int) int {
	b.sorted = append(b.sorted[:0], members...)
	sort.SliceStable(b.sorted, func(i, j int) bool {
		x, y := b.sorted[i], b.sorted[j]
		if b.size[x] != b.size[y] {
			return b.size[x] < b.size[y]
		}
		return x < y
	})
	n := len(b.sorted)
	b.leastEnd, b.leastCount, b.nextLeast = 0, b.size[b.sorted[0]]-1, 0
	b.mostStart, b.mostEnd, b.mostCount, b.nextMost = n, n, b.size[b.sorted[n-1]]+1, n-1
	return b.size[b.sorted[n-1]] - b.size[b.sorted[0]]
}

// nextLeastLoaded returns the member to give the next partition to,
// assuming it gets it.
func (b *balancer) nextLeastLoaded() int {
	if b.nextLeast >= b.leastEnd {
		// Every member of the range got one: raise its level and take in
		// the members now as loaded.
		b.leastCount++
		for b.leastEnd < len(b.sorted) && b.size[b.sorted[b.leastEnd]] == b.leastCount {
			b.leastEnd++
		}
		b.nextLeast = 0
	}
	m := b.sorted[b.nextLeast]
	b.nextLeast++
	return m
}

// nextMostLoaded returns the member to take the next partition from,
// assuming it gives it up, or -1 when no member is left to take from.
func (b *balancer) nextMostLoaded() int {
	if b.nextMost < b.mostStart {
		if b.mostEnd <= b.mostStart && b.mostStart > 0 {
			// The range was emptied by excludeMostLoaded: restart from the
			// load of the next member down so the range grows below.
			b.mostCount = b.size[b.sorted[b.mostStart-1]]
		} else {
			b.mostCount--
		}
		for b.mostStart > 0 && b.size[b.sorted[b.mostStart-1]] == b.mostCount {
			b.mostStart--
		}
		b.nextMost = b.mostEnd - 1
	}
	if b.nextMost < 0 {
		return -1
	}
	m := b.sorted[b.nextMost]
	b.nextMost--
	return m
}

// excludeMostLoaded drops the member nextMostLoaded last returned from the
// most loaded range (it has nothing of the topic to give up).
func (b *balancer) excludeMostLoaded() {
	i := b.nextMost + 1
	b.sorted[i], b.sorted[b.mostEnd-1] = b.sorted[b.mostEnd-1], b.sorted[i]
	b.mostEnd--
}

// balanced reports whether the two ranges' loads differ by one or less.
func (b *balancer) balanced() bool { return b.mostCount-b.leastCount <= 1 }
