package offsettool

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicInfo is one row of `rewind topic list`.
type TopicInfo struct {
	Name       string `json:"name"`
	ID         string `json:"id,omitempty"`
	Partitions int    `json:"partitions"`
	Replicas   int    `json:"replicas"`
	Internal   bool   `json:"internal"`
}

// TopicPartitionInfo is one partition of `rewind topic describe`.
type TopicPartitionInfo struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	LogStart  int64   `json:"log_start"`
	LogEnd    int64   `json:"log_end"`
	Records   int64   `json:"records"`
}

// ConfigEntry is a topic config set on the topic (not a broker default).
type ConfigEntry struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// TopicDescription is `rewind topic describe`.
type TopicDescription struct {
	TopicInfo
	Configs       []ConfigEntry        `json:"configs"`
	PartitionList []TopicPartitionInfo `json:"partition_detail"`
}

// ListTopics lists topics, with internal ones (__consumer_offsets) only
// when asked.
func (c *Client) ListTopics(ctx context.Context, internal bool) ([]TopicInfo, error) {
	tds, err := c.adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %s", oneLine(err))
	}
	out := []TopicInfo{}
	for _, td := range tds {
		if td.Err != nil || (td.IsInternal && !internal) {
			continue
		}
		reps := 0
		if ps := td.Partitions.Sorted(); len(ps) > 0 {
			reps = len(ps[0].Replicas)
		}
		out = append(out, topicInfo(td.Topic, td.ID.String(), td.IsInternal, len(td.Partitions), reps))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func topicInfo(name, id string, internal bool, parts, reps int) TopicInfo {
	if strings.Trim(id, "0-") == "" {
		id = ""
	}
	return TopicInfo{Name: name, ID: id, Partitions: parts, Replicas: reps, Internal: internal}
}

// DescribeTopic lists a topic's partitions with their log bounds and the
// configs set on it.
func (c *Client) DescribeTopic(ctx context.Context, name string) (TopicDescription, error) {
	var d TopicDescription
	if _, err := c.topicPartitions(ctx, name); err != nil {
		return d, err
	}
	tds, err := c.adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return d, fmt.Errorf("metadata: %s", oneLine(err))
	}
	td := tds[name]
	ps := td.Partitions.Sorted()
	start, end, err := c.bounds(ctx, []string{name})
	if err != nil {
		return d, err
	}
	d.TopicInfo = topicInfo(name, td.ID.String(), td.IsInternal, len(ps), 0)
	for _, p := range ps {
		tp := TopicPartition{name, p.Partition}
		s, err := listed(start, tp)
		if err != nil {
			return d, err
		}
		e, err := listed(end, tp)
		if err != nil {
			return d, err
		}
		d.PartitionList = append(d.PartitionList, TopicPartitionInfo{
			Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas,
			LogStart: s, LogEnd: e, Records: e - s,
		})
		d.Replicas = len(p.Replicas)
	}
	d.Configs = []ConfigEntry{}
	rcs, err := c.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return d, fmt.Errorf("describe configs of %q: %s", name, oneLine(err))
	}
	rc, err := rcs.On(name, nil)
	if err == nil && rc.Err == nil {
		for _, cfg := range rc.Configs {
			if cfg.Source != kmsg.ConfigSourceDynamicTopicConfig {
				continue
			}
			d.Configs = append(d.Configs, ConfigEntry{Name: cfg.Key, Value: cfg.MaybeValue(), Source: "topic"})
		}
		sort.Slice(d.Configs, func(i, j int) bool { return d.Configs[i].Name < d.Configs[j].Name })
	}
	return d, nil
}

// CreateTopic creates a topic. replicationFactor -1 takes the broker default.
// It returns once the topic's partitions have leaders in metadata (or after
// topicVisibleWait), because a Kafka cluster answers CreateTopics before
// its brokers serve the topic, and a produce right after would fail with
// an unknown topic.
func (c *Client) CreateTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]string) error {
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	r, err := c.adm.CreateTopic(ctx, partitions, replicationFactor, cfg, name)
	if err == nil {
		err = r.Err
	}
	switch {
	case err == nil:
		c.awaitTopicLeaders(ctx, name)
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("topic %q already exists: see it with `rewind topic describe %s`", name, name)
	default:
		msg := oneLine(err)
		if r.ErrMessage != "" {
			msg += ": " + r.ErrMessage
		}
		return fmt.Errorf("create topic %q: %s", name, msg)
	}
}

// topicVisibleWait bounds how long CreateTopic waits for the new topic's
// leaders; the topic exists either way.
const topicVisibleWait = 10 * time.Second

// awaitTopicLeaders polls metadata until every partition of topic has a
// leader, the wait ends or ctx is done.
func (c *Client) awaitTopicLeaders(ctx context.Context, topic string) {
	ctx, cancel := context.WithTimeout(ctx, topicVisibleWait)
	defer cancel()
	for {
		tds, err := c.adm.ListTopicsWithInternal(ctx, topic)
		if td, ok := tds[topic]; err == nil && ok && td.Err == nil && len(td.Partitions) > 0 {
			led := true
			for _, p := range td.Partitions {
				led = led && p.Err == nil && p.Leader >= 0
			}
			if led {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DeleteTopic deletes a topic and its data.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	if _, err := c.topicPartitions(ctx, name); err != nil {
		return err
	}
	r, err := c.adm.DeleteTopic(ctx, name)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return fmt.Errorf("delete topic %q: %s", name, oneLine(err))
	}
	return nil
}

// AddPartitions adds n partitions to a topic and returns the new count.
func (c *Client) AddPartitions(ctx context.Context, name string, n int) (int, error) {
	if n <= 0 {
		return 0, fmt.Errorf("add-partitions: --num must be at least 1, got %d", n)
	}
	parts, err := c.topicPartitions(ctx, name)
	if err != nil {
		return 0, err
	}
	rs, err := c.adm.CreatePartitions(ctx, n, name)
	if err == nil {
		err = rs[name].Err
	}
	if err != nil {
		msg := oneLine(err)
		if m := rs[name].ErrMessage; m != "" {
			msg += ": " + m
		}
		return 0, fmt.Errorf("add partitions to %q: %s", name, msg)
	}
	return len(parts[name]) + n, nil
}
