package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/storage"
)

// A read-only view of the broker for the admin HTTP listener (package
// admin): topics with their logs' offsets and sizes, records, the group
// coordinator, and Burrow-style lag verdicts. Nothing here changes state;
// the admin listener's changes go through AdminAPI (adminapi.go).

// ErrUnknownTopic is returned for a topic or partition that does not exist.
var ErrUnknownTopic = errors.New("broker: unknown topic or partition")

// PartitionInfo is one partition's log as it stands.
type PartitionInfo struct {
	Partition     int32 `json:"partition"`
	LogStart      int64 `json:"log_start"`
	HighWatermark int64 `json:"high_watermark"` // what consumers can read: the "log end" of the tools
	LogEnd        int64 `json:"log_end_offset"` // appended, possibly not yet durable
	SizeBytes     int64 `json:"size_bytes"`
	// Error is set once a storage error fenced the log.
	Error string `json:"error,omitempty"`
}

// TopicInfo is one topic with its partitions.
type TopicInfo struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Internal   bool              `json:"internal"`
	Configs    map[string]string `json:"configs"` // overrides set on the topic
	Partitions []PartitionInfo   `json:"partitions"`
	SizeBytes  int64             `json:"size_bytes"`
	Records    int64             `json:"records"` // high watermark minus log start, summed
}

func topicInfo(meta catalog.Topic, parts []*storage.Log) TopicInfo {
	ti := TopicInfo{Name: meta.Name, ID: fmt.Sprintf("%x", meta.ID), Internal: meta.Internal, Configs: map[string]string{}, Partitions: []PartitionInfo{}}
	for k, v := range meta.Configs {
		ti.Configs[k] = v
	}
	for p, l := range parts {
		pi := PartitionInfo{Partition: int32(p), LogStart: l.LogStartOffset(), HighWatermark: l.HighWatermark(), LogEnd: l.LogEndOffset(), SizeBytes: l.Size()}
		if err := l.Err(); err != nil {
			pi.Error = err.Error()
		}
		ti.Partitions = append(ti.Partitions, pi)
		ti.SizeBytes += pi.SizeBytes
		ti.Records += max(0, pi.HighWatermark-pi.LogStart)
	}
	return ti
}

// Topics lists every topic, internal ones included, sorted by name.
func (b *Broker) Topics() []TopicInfo {
	ts := b.reg.all()
	out := make([]TopicInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, topicInfo(t.meta, t.parts))
	}
	return out
}

// Topic describes one topic.
func (b *Broker) Topic(name string) (TopicInfo, bool) {
	t := b.reg.get(name)
	if t == nil {
		return TopicInfo{}, false
	}
	return topicInfo(t.meta, t.parts), true
}

// Coordinator is the group coordinator (read its Groups, Committed, History
// and CommittedAt; change groups through its request methods, as the Kafka
// handlers and AdminAPI do).
func (b *Broker) Coordinator() *group.Coordinator { return b.grp }

// ReadRecords reads up to max records of topic/partition from offset on,
// below the high watermark, keeping of each what lim allows (see
// storage.PreviewBatch). An offset below the log start reads from the log
// start. At most lim.MaxDecoded bytes of records are read: past them the
// records end early, or the error is storage.ErrDecodeLimit if none could
// be read. The records are the caller's.
func (b *Broker) ReadRecords(topic string, partition int32, offset int64, max int, lim storage.PreviewLimits) ([]storage.RecordPreview, error) {
	l := b.partition(topic, partition)
	if l == nil {
		return nil, fmt.Errorf("%w: %s/%d", ErrUnknownTopic, topic, partition)
	}
	return readRecords(l, offset, max, lim)
}

// OffsetForTime returns the first offset of topic/partition whose record
// timestamp is at or after t, or the high watermark when there is none
// (ListOffsets by timestamp, as consumers see it).
func (b *Broker) OffsetForTime(topic string, partition int32, t time.Time) (int64, error) {
	l := b.partition(topic, partition)
	if l == nil {
		return -1, fmt.Errorf("%w: %s/%d", ErrUnknownTopic, topic, partition)
	}
	off, _, err := l.OffsetForTimestamp(t.UnixMilli())
	if err != nil {
		return -1, err
	}
	if off < 0 {
		return l.HighWatermark(), nil
	}
	return off, nil
}

// LogEndAt estimates topic/partition's log end at a past time t from the
// time index: the first offset whose record timestamp is after t (the high
// watermark if none). As good as the records' timestamps. -1 if the
// partition does not exist.
func (b *Broker) LogEndAt(topic string, partition int32, t time.Time) int64 {
	l := b.partition(topic, partition)
	if l == nil {
		return -1
	}
	return logEndAt(l, t)
}

func logEndAt(l *storage.Log, t time.Time) int64 {
	off, _, err := l.OffsetForTimestamp(t.UnixMilli() + 1)
	if err != nil {
		return -1
	}
	if off < 0 {
		return l.HighWatermark()
	}
	return off
}

// RecordTime returns the timestamp of the first record at or after offset
// (false when there is none below the high watermark).
func (b *Broker) RecordTime(topic string, partition int32, offset int64) (time.Time, bool) {
	l := b.partition(topic, partition)
	if l == nil {
		return time.Time{}, false
	}
	return recordTime(l, max(offset, l.LogStartOffset()))
}

// LagStatus judges group with Burrow's rules over its last commits
// (package lageval). A group that never committed is NOTFOUND.
func (b *Broker) LagStatus(group string) lageval.GroupStatus {
	b.estimateLags(group)
	return b.lag.Evaluate(group, func(tp lageval.TopicPartition) (int64, bool) {
		l := b.partition(tp.Topic, tp.Partition)
		if l == nil {
			return 0, false
		}
		return l.HighWatermark(), true
	}, time.Now())
}

// LagWindows returns the commits lageval judges group on, per partition.
func (b *Broker) LagWindows(group string) map[lageval.TopicPartition][]lageval.Commit {
	b.estimateLags(group)
	return b.lag.Windows(group)
}

// Ready reports why the broker cannot serve yet (or any more): not started,
// closed, or a partition fenced by a storage error.
func (b *Broker) Ready() error {
	if b.addr == "" {
		return errors.New("not listening yet")
	}
	if b.ctx.Err() != nil {
		return errors.New("shutting down")
	}
	if err := b.acceptErr.Load(); err != nil {
		return fmt.Errorf("cannot accept connections: %w", *err)
	}
	for _, t := range b.snapshotTopics() {
		for p, l := range t.parts {
			if err := l.Err(); err != nil {
				return fmt.Errorf("%s/%d: %w", t.name, p, err)
			}
		}
	}
	return nil
}

// Advertised is the host:port given to clients in Metadata.
func (b *Broker) Advertised() string { return b.advertised() }

func (b *Broker) advertised() string {
	return net.JoinHostPort(b.host, strconv.Itoa(int(b.port)))
}

// liveCommitSkew bounds how far a live commit's time may be from now for
// the high watermark now to count as the log end at the commit.
const liveCommitSkew = 10 * time.Second

// observeGroup feeds the coordinator's events to the lag recorder: commits
// extend a window, deleted offsets drop it, a Dead group drops them all.
// It runs with the group's lock held, so it only updates the recorder's
// maps and reads a high watermark. A live commit dated now saw the high
// watermark now as its log end; the lag of a replayed commit, or of one the
// client dated (OffsetCommit v1), is estimated from the time index when the
// group is judged (LagStatus), off the group's lock.
func (b *Broker) observeGroup(ev group.Event) {
	switch e := ev.(type) {
	case group.CommitApplied:
		logEnd := int64(-1)
		if d := time.Since(e.CommitTime); !e.Replayed && d > -liveCommitSkew && d < liveCommitSkew {
			if l := b.partition(e.Topic, e.Partition); l != nil {
				logEnd = l.HighWatermark()
			}
		}
		b.lag.Commit(e.Group, lageval.TopicPartition{Topic: e.Topic, Partition: e.Partition}, e.Offset, e.CommitTime, logEnd)
	case group.OffsetsDeleted:
		for _, p := range e.Partitions {
			b.lag.Forget(e.Group, lageval.TopicPartition{Topic: p.Topic, Partition: p.Partition})
		}
	case group.StateChanged:
		if e.To == "Dead" { // deleted, or unloaded with a fenced partition
			b.lag.ForgetGroup(e.Group)
		}
	}
}

// estimateLags fills the unknown lags of group's windows from the
// committed partitions' time indexes.
func (b *Broker) estimateLags(group string) {
	b.lag.Estimate(group, func(tp lageval.TopicPartition, at time.Time) int64 {
		return b.LogEndAt(tp.Topic, tp.Partition, at)
	})
}
