package offsettool

import (
	"context"
	"fmt"
	"sort"

	"github.com/rewindhq/rewind/lageval"
)

// LagRow is the lag of one group on one topic.
type LagRow struct {
	Group      string `json:"group"`
	Topic      string `json:"topic"`
	State      string `json:"state"`
	Members    int    `json:"members"`
	Partitions int    `json:"partitions"`
	// Uncommitted counts partitions with no committed offset; they add
	// nothing to Lag (kafka-consumer-groups prints "-" for them).
	Uncommitted int   `json:"uncommitted"`
	Lag         int64 `json:"lag"`
	// StableLag sums last stable offset minus committed: the lag a
	// read_committed consumer can read now. It is below Lag while
	// transactions are open.
	StableLag int64 `json:"stable_lag"`
	// Trend is the change of Lag since the previous refresh (watch mode);
	// nil on the first one.
	Trend *int64 `json:"trend"`
	// TimeToLoss is the soonest, over the topic's partitions, that
	// retention deletes a record the group has not read at the current
	// pace (LossForecasts; 0: it did already), with the partition; absent
	// when none is at risk.
	TimeToLoss      *float64 `json:"time_to_loss_seconds,omitempty"`
	LossPartition   *int32   `json:"loss_partition,omitempty"`
	LossDescription string   `json:"loss,omitempty"`
}

// LagRows sums each snapshot's lag per topic. Negative per-partition lag
// (a commit above the log end) counts as zero, as kadm does.
func LagRows(snaps []GroupSnapshot) []LagRow {
	var out []LagRow
	for _, s := range snaps {
		byTopic := map[string]*LagRow{}
		var order []string
		for _, p := range s.Partitions {
			r := byTopic[p.Topic]
			if r == nil {
				r = &LagRow{Group: s.Group, Topic: p.Topic, State: s.State, Members: len(s.Members)}
				byTopic[p.Topic] = r
				order = append(order, p.Topic)
			}
			r.Partitions++
			if p.HasCommit() {
				r.Lag += lageval.Lag(p.LogEnd, p.Committed)
				r.StableLag += lageval.Lag(p.LastStable, p.Committed)
			} else {
				r.Uncommitted++
			}
		}
		if len(order) == 0 {
			out = append(out, LagRow{Group: s.Group, Topic: "", State: s.State, Members: len(s.Members)})
			continue
		}
		sort.Strings(order)
		for _, t := range order {
			out = append(out, *byTopic[t])
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Topic < out[j].Topic
	})
	return out
}

// Trend sets each row's Trend to its lag minus the same group and topic's
// lag in prev; rows new since prev get no trend.
func Trend(prev, cur []LagRow) []LagRow {
	old := map[[2]string]int64{}
	for _, r := range prev {
		old[[2]string{r.Group, r.Topic}] = r.Lag
	}
	out := make([]LagRow, len(cur))
	for i, r := range cur {
		if o, ok := old[[2]string{r.Group, r.Topic}]; ok {
			d := r.Lag - o
			r.Trend = &d
		} else {
			r.Trend = nil
		}
		out[i] = r
	}
	return out
}

// Lag snapshots the groups (every group when none are named) and sums
// their lag per topic.
func (c *Client) Lag(ctx context.Context, groups []string) ([]LagRow, error) {
	named := len(groups) > 0
	if !named {
		gs, err := c.ListGroups(ctx)
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			groups = append(groups, g.Group)
		}
	}
	var snaps []GroupSnapshot
	losses := map[string]map[TopicPartition]lageval.Loss{}
	for _, g := range groups {
		s, err := c.Snapshot(ctx, g, SnapshotOptions{LagTime: true})
		if err != nil {
			return nil, err
		}
		if named && !s.Exists {
			return nil, fmt.Errorf("%w %q: list groups with `rewind group list`", ErrUnknownGroup, g)
		}
		snaps = append(snaps, s)
		lagging := false
		for _, p := range s.Partitions {
			lag, ok := p.Lag()
			lagging = lagging || (ok && lag > 0)
		}
		if !lagging {
			continue // nothing unread, nothing to lose: no more requests
		}
		// The pace comes from the group's Burrow window; a cluster that
		// hides __consumer_offsets forecasts as if the group stood still.
		st, _ := c.LagStatus(ctx, s, lageval.DefaultConfig())
		if losses[g], err = c.LossForecasts(ctx, s, st); err != nil {
			return nil, err
		}
	}
	rows := LagRows(snaps)
	if rows == nil {
		rows = []LagRow{}
	}
	for i, r := range rows {
		for tp, l := range losses[r.Group] {
			if tp.Topic != r.Topic || (r.TimeToLoss != nil && l.In.Seconds() >= *r.TimeToLoss) {
				continue
			}
			secs, p := l.In.Seconds(), tp.Partition
			rows[i].TimeToLoss, rows[i].LossPartition, rows[i].LossDescription = &secs, &p, l.Say()
		}
	}
	return rows, nil
}
