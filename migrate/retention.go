package migrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Retention is what the target will keep of a topic's copied records.
//
// Kafka deletes a whole segment, the active one included, once its
// largest record timestamp is older than retention.ms, and the oldest
// segments while a partition is larger than retention.bytes. Copied
// records keep their source timestamps, so records the source still holds
// (a Rewind broker whose default retention is longer, or a segment there
// that newer records keep alive) can be older than the target's
// retention.ms: Kafka would delete them at its next retention check,
// minutes after the copy, and with them the records groups have not read.
type Retention struct {
	MS    int64 `json:"retention_ms"`    // -1: forever
	Bytes int64 `json:"retention_bytes"` // -1: no limit
	// From says where the values come from: "source" (a topic the
	// migration creates gets the source topic's effective retention.ms
	// and retention.bytes, whether set on the topic or a broker default)
	// or "target topic" (one that exists on the target keeps its own).
	From string `json:"from"`
	// Compacted is set for a topic whose cleanup.policy has no "delete":
	// retention.ms and retention.bytes delete nothing there.
	Compacted bool `json:"compacted,omitempty"`
	// Lost lists, per partition, what the target would delete at once.
	Lost []string `json:"would_delete,omitempty"`
}

// ErrRetention is returned by Execute when the target's retention would
// delete copied records as soon as they are written.
var ErrRetention = errors.New("the target's retention would delete copied records at once")

// RetentionLoss lists the partitions whose copied records the target's
// retention would delete at once.
func (p *Plan) RetentionLoss() []string {
	var out []string
	for _, t := range p.Topics {
		if t.Retention != nil {
			out = append(out, t.Retention.Lost...)
		}
	}
	return out
}

// String says in a few words what the target keeps.
func (r *Retention) String() string {
	keep := "forever"
	if r.MS >= 0 {
		keep = "records up to " + time.Duration(r.MS*int64(time.Millisecond)).String() + " old"
	}
	if r.Bytes >= 0 {
		keep += fmt.Sprintf(", at most %d bytes per partition", r.Bytes)
	}
	if r.Compacted {
		keep = "every key's last record (cleanup.policy without delete: retention deletes nothing)"
	}
	return fmt.Sprintf("retention.ms=%d retention.bytes=%d (%s): keeps %s", r.MS, r.Bytes, r.From, keep)
}

func configInt(rc kadm.ResourceConfig, key string) (int64, bool) {
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil {
			if v, err := strconv.ParseInt(*c.Value, 10, 64); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// planRetention fills each topic's Retention and checks it against the
// records to copy: by time, ListOffsets at now - retention.ms on the
// source finds the first record recent enough (records before it in the
// copied range would be deleted: by segment, so it is the upper bound of
// what a segment of only older records loses); by size, a partition
// larger on the source (DescribeLogDirs) than retention.bytes.
func planRetention(ctx context.Context, src, dst *kadm.Client, srcCfgs kadm.ResourceConfigs, p *Plan, now time.Time) error {
	var existing []string
	for _, t := range p.Topics {
		if t.Target != "create" {
			existing = append(existing, t.Topic)
		}
	}
	var dstCfgs kadm.ResourceConfigs
	if len(existing) > 0 {
		var err error
		if dstCfgs, err = dst.DescribeTopicConfigs(ctx, existing...); err != nil {
			return fmt.Errorf("target: topic configs: %w", err)
		}
	}
	byCutoff := map[int64][]string{}
	var sized []string
	for i := range p.Topics {
		t := &p.Topics[i]
		r := &Retention{MS: 7 * 24 * 3600 * 1000, Bytes: -1, From: "source"}
		cfgs, name := srcCfgs, t.Topic
		if t.Target != "create" {
			cfgs, r.From = dstCfgs, "target topic"
		}
		rc, err := cfgs.On(name, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			return fmt.Errorf("%s: topic configs of %s: %w", map[bool]string{true: "source", false: "target"}[r.From == "source"], name, err)
		}
		if v, ok := configInt(rc, "retention.ms"); ok {
			r.MS = v
		}
		if v, ok := configInt(rc, "retention.bytes"); ok {
			r.Bytes = v
		}
		t.Retention = r
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil && !strings.Contains(*c.Value, "delete") {
				r.Compacted = true
			}
		}
		if r.Compacted {
			continue
		}
		if r.MS >= 0 {
			cut := now.UnixMilli() - r.MS
			byCutoff[cut] = append(byCutoff[cut], t.Topic)
		}
		if r.Bytes >= 0 {
			sized = append(sized, t.Topic)
		}
	}
	index := map[string]*TopicPlan{}
	for i := range p.Topics {
		index[p.Topics[i].Topic] = &p.Topics[i]
	}
	for cut, names := range byCutoff {
		after, err := src.ListOffsetsAfterMilli(ctx, cut, names...)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return fmt.Errorf("source: offsets by time: %w", err)
		}
		for _, name := range names {
			t := index[name]
			for _, pp := range t.Partitions {
				o, ok := after.Lookup(name, pp.Partition)
				if !ok {
					continue
				}
				if old := min(o.Offset, pp.Stable) - pp.From; old > 0 {
					t.Retention.Lost = append(t.Retention.Lost, fmt.Sprintf("%s/%d: %d records with timestamps before %s, older than retention.ms=%d (the target deletes every segment whose newest record is older, the active one included)",
						name, pp.Partition, old, time.UnixMilli(cut).UTC().Format(time.RFC3339), t.Retention.MS))
				}
			}
		}
	}
	if len(sized) > 0 {
		dirs, err := src.DescribeAllLogDirs(ctx, topicsSet(sized))
		if err != nil {
			return fmt.Errorf("source: log dirs (for retention.bytes): %w", err)
		}
		size := map[string]int64{}
		dirs.Each(func(d kadm.DescribedLogDir) {
			d.Topics.Each(func(dp kadm.DescribedLogDirPartition) {
				k := partKey(dp.Topic, dp.Partition)
				size[k] = max(size[k], dp.Size)
			})
		})
		for _, name := range sized {
			t := index[name]
			for _, pp := range t.Partitions {
				if s := size[partKey(name, pp.Partition)]; s > t.Retention.Bytes && pp.Stable > pp.From {
					t.Retention.Lost = append(t.Retention.Lost, fmt.Sprintf("%s/%d: %d bytes on the source, retention.bytes=%d", name, pp.Partition, s, t.Retention.Bytes))
				}
			}
		}
	}
	return nil
}

func topicsSet(names []string) kadm.TopicsSet {
	s := kadm.TopicsSet{}
	for _, n := range names {
		s.Add(n)
	}
	return s
}
