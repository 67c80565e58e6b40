package offsettool

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/twmb/franz-go/pkg/kadm"
)

// LossForecasts forecasts, for every partition of s where the group lags,
// when retention deletes a record it has not read at the current pace
// (lageval.TimeToLoss): the age of the first unread record (s needs
// SnapshotOptions.LagTime), the pace of the group's commits from its
// Burrow window (st, from LagStatus; a partition without one counts as not
// moving), the topic's retention.ms and retention.bytes (DescribeConfigs)
// and its average record size (DescribeLogDirs). Partitions at no risk
// are absent. A cluster that does not answer DescribeLogDirs gets no
// forecast by size.
func (c *Client) LossForecasts(ctx context.Context, s GroupSnapshot, st lageval.GroupStatus) (map[TopicPartition]lageval.Loss, error) {
	out := map[TopicPartition]lageval.Loss{}
	var topics []string
	seen := map[string]bool{}
	lagging := kadm.TopicsSet{}
	for _, p := range s.Partitions {
		if lag, ok := p.Lag(); ok && lag > 0 && !seen[p.Topic] {
			seen[p.Topic] = true
			topics = append(topics, p.Topic)
		}
		if lag, ok := p.Lag(); ok && lag > 0 {
			lagging.Add(p.Topic, p.Partition)
		}
	}
	if len(topics) == 0 {
		return out, nil
	}
	type retention struct {
		ms    time.Duration
		bytes int64
	}
	ret := map[string]retention{}
	rcs, err := c.adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describe configs: %s", oneLine(err))
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			continue // deleted since the snapshot
		}
		r := retention{ms: -1, bytes: -1}
		for _, cf := range rc.Configs {
			if cf.Value == nil {
				continue
			}
			v, err := strconv.ParseInt(*cf.Value, 10, 64)
			if err != nil {
				continue
			}
			switch cf.Key {
			case "retention.ms":
				r.ms = time.Duration(v) * time.Millisecond
			case "retention.bytes":
				r.bytes = v
			}
		}
		ret[rc.Name] = r
	}
	sizes := map[TopicPartition]int64{}
	if dirs, err := c.adm.DescribeAllLogDirs(ctx, lagging); err == nil {
		dirs.Each(func(d kadm.DescribedLogDir) {
			d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				sizes[TopicPartition{p.Topic, p.Partition}] += p.Size
			})
		})
	}
	status := map[TopicPartition]lageval.PartitionStatus{}
	for _, ps := range st.Partitions {
		status[TopicPartition{ps.Topic, ps.Partition}] = ps
	}
	for _, p := range s.Partitions {
		lag, ok := p.Lag()
		r, known := ret[p.Topic]
		if !ok || lag <= 0 {
			continue
		}
		if p.Committed < p.LogStart {
			out[p.TP()] = lageval.Lost(p.Committed, p.LogStart)
			continue
		}
		if !known {
			continue
		}
		age, ok := lageval.LagTime(lag, p.FirstUnconsumed, s.Taken)
		if !ok {
			continue // the first unread record could not be dated
		}
		in := lageval.LossInput{Lag: lag, Age: age, Retention: r.ms, RetentionBytes: r.bytes,
			ConsumeRate: lageval.CommitRate(status[p.TP()], s.Taken)}
		if size, n := sizes[p.TP()], p.LogEnd-p.LogStart; size > 0 && n > 0 {
			in.BytesPerRecord = float64(size) / float64(n)
		}
		if l, risk := lageval.TimeToLoss(in); risk {
			out[p.TP()] = l
		}
	}
	return out, nil
}
