package offsettool

import "context"

// PlanFor resolves what the target needs from the cluster (the offsets at a
// time for ToDatetime and ByDuration, the group's commit history for
// ToCommittedAt) and plans the reset of s with PlanReset. Nothing changes;
// ExecuteReset applies the plan. progress follows the history scan.
func (c *Client) PlanFor(ctx context.Context, s GroupSnapshot, t Target, progress Progress) (Plan, error) {
	var resolved map[TopicPartition]int64
	var err error
	switch t.Kind {
	case ToDatetime, ByDuration:
		if resolved, err = c.ResolveTimes(ctx, s, t.Time); err != nil {
			return Plan{}, err
		}
	case ToCommittedAt:
		seen := map[string]bool{}
		var topics []string
		for _, p := range s.Partitions {
			if !seen[p.Topic] {
				seen[p.Topic] = true
				topics = append(topics, p.Topic)
			}
		}
		h, err := c.History(ctx, s.Group, topics, progress)
		if err != nil {
			return Plan{}, err
		}
		resolved = CommittedAt(h, t.Time)
	}
	return PlanReset(s, t, resolved)
}
