package assign

import "sort"

// Range is Kafka's "range" server-side assignor (RangeAssignor): each
// topic's partitions are cut into contiguous ranges, one per subscriber,
// the first partitions%subscribers subscribers getting one more. Members
// are ordered static members first by instance id, then the others by
// member id, so a static member that restarts gets the same range back;
// the assignment depends only on the members and topics, not on the
// previous assignment (Kafka 4.4's range assignor is not sticky beyond
// that).
type Range struct{}

// Name is "range".
func (Range) Name() string { return RangeName }

// Assign computes the target assignment.
func (Range) Assign(g Group) (Assignment, error) {
	if err := checkTopics(g); err != nil {
		return nil, err
	}
	members := sortedByID(g.Members) // ties (a repeated instance id) by member id, as Kafka's sorted map
	sort.SliceStable(members, func(i, j int) bool {
		a, b := members[i], members[j]
		switch {
		case a.InstanceID != "" && b.InstanceID != "":
			return a.InstanceID < b.InstanceID
		case a.InstanceID != "":
			return true
		case b.InstanceID != "":
			return false
		}
		return a.ID < b.ID
	})
	type cursor struct {
		n, subscribers int
		minQuota       int
		extra          int
		next           int
	}
	cursors := map[TopicID]*cursor{}
	for _, m := range members {
		for t := range topicSet(m.Subscribed) {
			c := cursors[t]
			if c == nil {
				c = &cursor{n: int(g.Topics[t])}
				cursors[t] = c
			}
			c.subscribers++
		}
	}
	for _, c := range cursors {
		c.minQuota, c.extra = c.n/c.subscribers, c.n%c.subscribers
	}
	out := make(Assignment, len(members))
	for _, m := range members {
		ps := Partitions{}
		for _, t := range sortedTopics(topicSet(m.Subscribed)) {
			c := cursors[t]
			quota := c.minQuota
			if c.extra > 0 {
				quota++
				c.extra--
			}
			end := min(c.next+quota, c.n)
			if c.next < end {
				parts := make([]int32, 0, end-c.next)
				for p := c.next; p < end; p++ {
					parts = append(parts, int32(p))
				}
				ps[t] = parts
			}
			c.next = end
		}
		out[m.ID] = ps
	}
	return out, nil
}
