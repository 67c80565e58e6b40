package offsettool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LagStatusTail bounds how many of the newest records of the group's
// __consumer_offsets partition LagStatus reads: Burrow's window needs only
// the last few commits of each partition.
const LagStatusTail = 20000

// LagStatus judges the group with Burrow's rules (package lageval), as a
// Burrow pointed at this cluster would: it reads the group's last commits
// from the __consumer_offsets partition that holds the group (Kafka's hash
// of the group name), at most the LagStatusTail newest records of it,
// estimates the lag at each commit from the log's time index (ListOffsets
// by timestamp), and judges every partition of s it found commits for.
// It fails with ErrNoOffsetsLog where the cluster does not expose the topic.
//
// Rewind's broker judges from the commits as they happen, with the exact
// lag at each; the two agree but for that estimate.
func (c *Client) LagStatus(ctx context.Context, s GroupSnapshot, cfg lageval.Config) (lageval.GroupStatus, error) {
	if !s.Exists {
		return lageval.GroupStatus{Group: s.Group, Status: lageval.NotFound, Partitions: []lageval.PartitionStatus{}}, nil
	}
	parts, err := c.topicPartitions(ctx, OffsetsTopic)
	if err != nil {
		if errors.Is(err, ErrUnknownTopic) {
			return lageval.GroupStatus{}, fmt.Errorf("%w on this cluster: the lag status needs the group's commits from it", ErrNoOffsetsLog)
		}
		return lageval.GroupStatus{}, err
	}
	n := int32(len(parts[OffsetsTopic]))
	lp := OffsetsPartitionFor(s.Group, n)
	windows, err := c.readWindows(ctx, s.Group, lp, cfg)
	if err != nil {
		return lageval.GroupStatus{}, err
	}
	logEnd := map[TopicPartition]int64{}
	var tps []TopicPartition
	for _, p := range s.Partitions {
		if _, ok := windows[lageval.TopicPartition{Topic: p.Topic, Partition: p.Partition}]; ok {
			logEnd[p.TP()] = p.LogEnd
			tps = append(tps, p.TP())
		}
	}
	if err := c.estimateLags(ctx, windows, tps, logEnd); err != nil {
		return lageval.GroupStatus{}, err
	}
	var in []lageval.Partition
	for _, tp := range tps {
		k := lageval.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
		in = append(in, lageval.PartitionFrom(k, windows[k], nil, logEnd[tp], s.Taken, cfg))
	}
	if len(in) == 0 {
		// The group exists (members, or an Empty group that never
		// committed): nothing to judge yet, which is not Burrow's
		// NOTFOUND (an unknown group).
		return lageval.GroupStatus{Group: s.Group, Status: lageval.New, Partitions: []lageval.PartitionStatus{}}, nil
	}
	return lageval.EvaluateGroup(s.Group, in, cfg, s.Taken), nil
}

// OffsetsPartitionFor is the __consumer_offsets partition that holds a
// group's records among partitions, as Kafka computes it
// (offsetsfmt.PartitionFor).
func OffsetsPartitionFor(group string, partitions int32) int32 {
	return offsetsfmt.PartitionFor(group, partitions)
}

// readWindows reads the tail of __consumer_offsets partition lp and builds
// the group's commit windows in log order.
func (c *Client) readWindows(ctx context.Context, group string, lp int32, cfg lageval.Config) (map[lageval.TopicPartition][]lageval.Commit, error) {
	start, end, err := c.bounds(ctx, []string{OffsetsTopic})
	if err != nil {
		return nil, err
	}
	tp := TopicPartition{OffsetsTopic, lp}
	s, err := listed(start, tp)
	if err != nil {
		return nil, err
	}
	e, err := listed(end, tp)
	if err != nil {
		return nil, err
	}
	windows := map[lageval.TopicPartition][]lageval.Commit{}
	from := max(s, e-LagStatusTail)
	if from >= e {
		return windows, nil
	}
	cl, err := c.newKgo(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{OffsetsTopic: {lp: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(250*time.Millisecond),
		// Markers end transactional commits, and a partition ending with
		// one is read to its end only if they are delivered.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// Commits inside a transaction take effect at their commit marker and
	// never if it aborts, as the coordinator applies them.
	pending := map[int64][]HistoryEntry{}
	apply := func(h HistoryEntry) {
		k := lageval.TopicPartition{Topic: h.Topic, Partition: h.Partition}
		switch h.Kind {
		case EventCommit:
			windows[k] = lageval.Append(windows[k], lageval.Commit{Offset: h.Offset, Time: h.Time, Lag: -1}, cfg)
		case EventDelete:
			delete(windows, k)
		case EventGroupGone:
			clear(windows)
		}
	}
	for next := from; next < e; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fs := cl.PollFetches(ctx)
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("%w: %s", ErrNoOffsetsLog, oneLine(err))
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				var key kmsg.ControlRecordKey
				if key.ReadFrom(r.Key) == nil && key.Type == 1 { // COMMIT
					for _, h := range pending[r.ProducerID] {
						apply(h)
					}
				}
				delete(pending, r.ProducerID)
				return
			}
			h, ok := decodeOffsetsRecord(r, group)
			switch {
			case !ok:
			case r.Attrs.IsTransactional():
				pending[r.ProducerID] = append(pending[r.ProducerID], h)
			default:
				apply(h)
			}
		})
	}
	return windows, nil
}

// estimateLags fills each commit's lag from the log end at its time (the
// first offset whose timestamp is after it; logEnd, the log end now, when
// none is), asking ListOffsets in rounds: round i carries every partition's
// i-th commit time, so at most Intervals requests.
func (c *Client) estimateLags(ctx context.Context, windows map[lageval.TopicPartition][]lageval.Commit, tps []TopicPartition, logEnd map[TopicPartition]int64) error {
	for round := 0; ; round++ {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		byTopic := map[string]int{}
		asked := false
		for _, tp := range tps {
			w := windows[lageval.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}]
			if round >= len(w) {
				continue
			}
			asked = true
			i, ok := byTopic[tp.Topic]
			if !ok {
				t := kmsg.NewListOffsetsRequestTopic()
				t.Topic = tp.Topic
				req.Topics = append(req.Topics, t)
				i = len(req.Topics) - 1
				byTopic[tp.Topic] = i
			}
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Partition = tp.Partition
			p.CurrentLeaderEpoch = -1
			p.Timestamp = w[round].Time.UnixMilli() + 1
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
		}
		if !asked {
			return nil
		}
		for _, shard := range c.kcl.RequestSharded(ctx, req) {
			if shard.Err != nil {
				return fmt.Errorf("list offsets by time: %s", oneLine(shard.Err))
			}
			resp := shard.Resp.(*kmsg.ListOffsetsResponse)
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						return fmt.Errorf("list offsets by time for %s/%d: %s", t.Topic, p.Partition, oneLine(err))
					}
					k := lageval.TopicPartition{Topic: t.Topic, Partition: p.Partition}
					w := windows[k]
					if round >= len(w) {
						continue
					}
					le := p.Offset
					if le < 0 {
						le = logEnd[TopicPartition{t.Topic, p.Partition}]
					}
					w[round].Lag = lageval.Lag(le, w[round].Offset)
				}
			}
		}
	}
}
