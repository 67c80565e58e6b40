package monitor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewindhq/rewind/admin"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The Monitor is an admin.Broker: the console, /api/v1 and /metrics of
// `rewind serve --http` served for a remote cluster. Reads come from what
// the monitor keeps (the last poll, the groups built from
// __consumer_offsets); changes and group descriptions are Kafka requests,
// refused with the cluster's own Kafka errors (as *broker.KafkaError).
var _ admin.Broker = (*Monitor)(nil)

// reqTimeout bounds one request the console makes through the monitor.
const reqTimeout = 15 * time.Second

func (m *Monitor) Addr() string { return strings.Join(m.cfg.Brokers, ",") }

// Advertised lists the brokers as the cluster's metadata names them.
func (m *Monitor) Advertised() string {
	v := m.viewNow()
	var as []string
	for _, b := range v.brokers {
		as = append(as, fmt.Sprintf("%s:%d", b.Host, b.Port))
	}
	if len(as) == 0 {
		return m.Addr()
	}
	return strings.Join(as, ",")
}

// Ready is nil once the last poll worked and __consumer_offsets has been
// read up to where it ended when the monitor started.
func (m *Monitor) Ready() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pollErr != nil {
		return fmt.Errorf("cluster unreachable: %w", m.pollErr)
	}
	if !m.caughtUp {
		return errors.New("still reading the history in __consumer_offsets")
	}
	return nil
}

// ReadOnly is always nil: the cluster refuses what it refuses, per request.
func (m *Monitor) ReadOnly() error { return nil }

func (m *Monitor) Metrics() prometheus.Gatherer { return m.reg }

func topicInfo(t *topicView) broker.TopicInfo {
	ti := broker.TopicInfo{Name: t.name, ID: fmt.Sprintf("%x", t.id), Internal: t.internal, Configs: map[string]string{},
		Partitions: make([]broker.PartitionInfo, 0, len(t.parts))}
	for p, pv := range t.parts {
		pi := broker.PartitionInfo{Partition: int32(p), LogStart: max(pv.start, 0), HighWatermark: max(pv.end, 0), LogEnd: max(pv.end, 0), Error: pv.err}
		ti.Partitions = append(ti.Partitions, pi)
		ti.Records += max(0, pi.HighWatermark-pi.LogStart)
	}
	return ti
}

func (m *Monitor) Topics() []broker.TopicInfo {
	v := m.viewNow()
	out := make([]broker.TopicInfo, 0, len(v.topics))
	for _, t := range v.topics {
		out = append(out, topicInfo(t))
	}
	return out
}

func (m *Monitor) Topic(name string) (broker.TopicInfo, bool) {
	t := m.viewNow().byName[name]
	if t == nil {
		return broker.TopicInfo{}, false
	}
	return topicInfo(t), true
}

// kafkaErr turns a Kafka error of a response into the *broker.KafkaError
// package admin maps to HTTP statuses; other errors (a broker down) pass.
func kafkaErr(err error, msg string) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return &broker.KafkaError{Err: ke, Message: msg}
	}
	return err
}

func (m *Monitor) TopicConfigs(name string) ([]broker.TopicConfig, error) {
	ctx, cancel := context.WithTimeout(m.ctx, reqTimeout)
	defer cancel()
	rcs, err := m.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return nil, kafkaErr(err, "")
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		return nil, &broker.KafkaError{Err: kerr.UnknownTopicOrPartition, Message: "unknown topic " + name}
	}
	if rc.Err != nil {
		return nil, kafkaErr(rc.Err, rc.ErrMessage)
	}
	out := make([]broker.TopicConfig, 0, len(rc.Configs))
	for _, c := range rc.Configs {
		out = append(out, broker.TopicConfig{Name: c.Key, Value: c.MaybeValue(), Default: c.Source != 1 /* DYNAMIC_TOPIC_CONFIG */})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// refresh polls at once after a change, so that the next read sees it.
func (m *Monitor) refresh(ctx context.Context) {
	if err := m.poll(ctx); err != nil {
		m.log.Debug("poll after a change", "err", err)
	}
}

func (m *Monitor) CreateTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]string, validateOnly bool) (broker.TopicInfo, error) {
	cs := map[string]*string{}
	for k, v := range configs {
		cs[k] = kadm.StringPtr(v)
	}
	if validateOnly {
		rs, err := m.adm.ValidateCreateTopics(ctx, partitions, replicationFactor, cs, name)
		if err != nil {
			return broker.TopicInfo{}, kafkaErr(err, "")
		}
		r, err := rs.On(name, nil)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			return broker.TopicInfo{}, kafkaErr(err, r.ErrMessage)
		}
		ti := broker.TopicInfo{Name: name, ID: fmt.Sprintf("%x", r.ID), Configs: configs, Partitions: []broker.PartitionInfo{}}
		for p := int32(0); p < r.NumPartitions; p++ {
			ti.Partitions = append(ti.Partitions, broker.PartitionInfo{Partition: p})
		}
		return ti, nil
	}
	r, err := m.adm.CreateTopic(ctx, partitions, replicationFactor, cs, name)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return broker.TopicInfo{}, kafkaErr(err, r.ErrMessage)
	}
	// Its partitions get leaders a moment later on a Kafka cluster.
	deadline := time.Now().Add(10 * time.Second)
	for {
		m.refresh(ctx)
		if ti, ok := m.Topic(name); ok {
			return ti, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return broker.TopicInfo{Name: name, ID: fmt.Sprintf("%x", r.ID), Configs: configs, Partitions: []broker.PartitionInfo{}}, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *Monitor) DeleteTopic(ctx context.Context, name string) error {
	r, err := m.adm.DeleteTopic(ctx, name)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return kafkaErr(err, r.ErrMessage)
	}
	m.refresh(ctx)
	return nil
}

func (m *Monitor) AddPartitions(ctx context.Context, name string, total int32, validateOnly bool) error {
	f := m.adm.UpdatePartitions
	if validateOnly {
		f = m.adm.ValidateUpdatePartitions
	}
	rs, err := f(ctx, int(total), name)
	if err != nil {
		return kafkaErr(err, "")
	}
	if r, ok := rs[name]; ok && r.Err != nil {
		return kafkaErr(r.Err, r.ErrMessage)
	}
	if !validateOnly {
		m.refresh(ctx)
	}
	return nil
}

func (m *Monitor) AlterTopicConfigs(ctx context.Context, name string, set map[string]string, del []string, validateOnly bool) error {
	var acs []kadm.AlterConfig
	for k, v := range set {
		acs = append(acs, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
	}
	for _, k := range del {
		acs = append(acs, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	f := m.adm.AlterTopicConfigs
	if validateOnly {
		f = m.adm.ValidateAlterTopicConfigs
	}
	rs, err := f(ctx, acs, name)
	if err != nil {
		return kafkaErr(err, "")
	}
	for _, r := range rs {
		if r.Err != nil {
			return kafkaErr(r.Err, r.ErrMessage)
		}
	}
	return nil
}

// Produce sends recs to the partition with acks=all and returns once the
// cluster acknowledged them.
func (m *Monitor) Produce(ctx context.Context, topic string, partition int32, recs []storage.Record) (broker.Produced, error) {
	if len(recs) == 0 {
		return broker.Produced{}, &broker.KafkaError{Err: kerr.InvalidRecord, Message: "no records to produce"}
	}
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: topic, Partition: partition, Key: r.Key, Value: r.Value, Timestamp: time.UnixMilli(r.Timestamp)}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		krs[i] = kr
	}
	res := m.prod.ProduceSync(ctx, krs...)
	if err := res.FirstErr(); err != nil {
		return broker.Produced{}, kafkaErr(err, "")
	}
	out := broker.Produced{Partition: partition, BaseOffset: krs[0].Offset, LastOffset: krs[0].Offset}
	for _, r := range krs {
		out.BaseOffset, out.LastOffset = min(out.BaseOffset, r.Offset), max(out.LastOffset, r.Offset)
	}
	return out, nil
}

func (m *Monitor) ReadRecords(topic string, partition int32, offset int64, max int, lim storage.PreviewLimits) ([]storage.RecordPreview, error) {
	ctx, cancel := context.WithTimeout(m.ctx, reqTimeout)
	defer cancel()
	if _, ok := m.viewNow().part(topic, partition); !ok {
		return nil, fmt.Errorf("%w: %s/%d", broker.ErrUnknownTopic, topic, partition)
	}
	return m.readRecords(ctx, topic, partition, offset, max, lim)
}

// OffsetForTime is ListOffsets by time: the first offset whose record is
// at or after t, the high watermark when there is none.
func (m *Monitor) OffsetForTime(topic string, partition int32, t time.Time) (int64, error) {
	v := m.viewNow()
	hw, ok := v.end(topic, partition)
	if !ok {
		return -1, fmt.Errorf("%w: %s/%d", broker.ErrUnknownTopic, topic, partition)
	}
	ctx, cancel := context.WithTimeout(m.ctx, reqTimeout)
	defer cancel()
	q := offsetAt{tpKey{topic, partition}, t.UnixMilli()}
	res, err := m.offsetsAt(ctx, []offsetAt{q})
	o, found := res[q]
	if !found {
		if err == nil {
			err = fmt.Errorf("no answer for %s/%d", topic, partition)
		}
		return -1, err
	}
	if o < 0 {
		return hw, nil
	}
	return o, nil
}

// LogEndAt estimates the log end at a past time t: the first offset whose
// record is after t (-1 when it cannot tell).
func (m *Monitor) LogEndAt(topic string, partition int32, t time.Time) int64 {
	o, err := m.OffsetForTime(topic, partition, t.Add(time.Millisecond))
	if err != nil {
		return -1
	}
	return o
}

// RecordTime dates the first record at or after offset.
func (m *Monitor) RecordTime(topic string, partition int32, offset int64) (time.Time, bool) {
	k := timeKey{tpKey{topic, partition}, offset}
	m.mu.Lock()
	ts, ok := m.times[k]
	m.mu.Unlock()
	if ok {
		return time.UnixMilli(ts), true
	}
	v := m.viewNow()
	if hw, ok := v.end(topic, partition); !ok || offset >= hw {
		return time.Time{}, false
	}
	ctx, cancel := context.WithTimeout(m.ctx, reqTimeout)
	defer cancel()
	got, _ := m.recordTimes(ctx, v, []timeKey{k})
	ts, ok = got[k]
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(ts), true
}

// RepairPartition needs the log's files: it runs on the broker holding them.
func (m *Monitor) RepairPartition(topic string, partition int32, dryRun bool) (broker.RepairResult, error) {
	return broker.RepairResult{}, errors.New("repair works on a broker's own files: run it from that broker's console or `rewind repair`, not from `rewind monitor`")
}

// Groups summarizes the classic groups the coordinators list, and the
// groups known only from __consumer_offsets (their offsets or history
// outlive them).
func (m *Monitor) Groups() []group.Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.view
	out := make([]group.Summary, 0, len(v.groups)+len(m.groups))
	for name, g := range v.groups {
		if g.typ == "consumer" {
			continue
		}
		sum := group.Summary{Name: name, State: g.state, ProtocolType: g.protocolType, Protocol: g.protocol, Members: g.members}
		if s := m.groups[name]; s != nil {
			sum.Generation = s.generation
		}
		out = append(out, sum)
	}
	for name, g := range m.groups {
		if _, listed := v.groups[name]; listed || len(g.offsets) == 0 && len(g.history) == 0 {
			continue
		}
		state := "Empty"
		if g.gone && len(g.offsets) == 0 {
			state = "Dead"
		}
		out = append(out, group.Summary{Name: name, State: state})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (m *Monitor) ConsumerGroupNames() []string {
	v := m.viewNow()
	var out []string
	for name, g := range v.groups {
		if g.typ == "consumer" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// DescribeGroup asks the group's coordinator: ConsumerGroupDescribe for a
// consumer group, DescribeGroups otherwise.
func (m *Monitor) DescribeGroup(ctx context.Context, name string) (broker.GroupDescription, error) {
	if g, ok := m.viewNow().groups[name]; ok && g.typ == "consumer" {
		ds, err := m.adm.DescribeConsumerGroups(ctx, name)
		if d, ok := ds[name]; ok && d.Err == nil {
			out := broker.GroupDescription{Group: name, Type: "consumer", State: d.State, ProtocolType: "consumer", Protocol: d.AssignorName,
				Assignor: d.AssignorName, GroupEpoch: d.Epoch, AssignmentEpoch: d.AssignmentEpoch}
			for _, mm := range d.Members {
				gm := broker.GroupMember{ID: mm.MemberID, ClientID: mm.ClientID, Host: mm.ClientHost, MemberEpoch: mm.MemberEpoch,
					Subscribed: mm.SubscribedTopics, Assigned: topicsSet(mm.Assignment), Target: topicsSet(mm.TargetAssignment)}
				if mm.InstanceID != nil {
					gm.InstanceID = *mm.InstanceID
				}
				out.Members = append(out.Members, gm)
			}
			return out, nil
		} else if err != nil && !ok {
			return broker.GroupDescription{}, kafkaErr(err, "")
		}
	}
	ds, err := m.adm.DescribeGroups(ctx, name)
	d, ok := ds[name]
	if !ok {
		if err == nil {
			err = errors.New("no answer")
		}
		return broker.GroupDescription{}, kafkaErr(err, "")
	}
	if d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound) {
		return broker.GroupDescription{}, kafkaErr(d.Err, d.ErrMessage)
	}
	state := d.State
	if d.Err != nil {
		state = "Dead"
	}
	out := broker.GroupDescription{Group: name, Type: "classic", State: state, ProtocolType: d.ProtocolType, Protocol: d.Protocol}
	for _, mm := range d.Members {
		gm := broker.GroupMember{ID: mm.MemberID, ClientID: mm.ClientID, Host: mm.ClientHost}
		if mm.InstanceID != nil {
			gm.InstanceID = *mm.InstanceID
		}
		if md, ok := mm.Join.AsConsumer(); ok {
			gm.Subscribed = md.Topics
		}
		if as, ok := mm.Assigned.AsConsumer(); ok {
			gm.Assigned = map[string][]int32{}
			for _, t := range as.Topics {
				gm.Assigned[t.Topic] = append(gm.Assigned[t.Topic], t.Partitions...)
			}
		}
		out.Members = append(out.Members, gm)
	}
	return out, nil
}

func topicsSet(s kadm.TopicsSet) map[string][]int32 {
	out := map[string][]int32{}
	for t, ps := range s {
		for p := range ps {
			out[t] = append(out[t], p)
		}
		sort.Slice(out[t], func(i, j int) bool { return out[t][i] < out[t][j] })
	}
	return out
}

func (m *Monitor) Committed(name string) map[string]map[int32]group.OffsetInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.committedLocked(name)
}

func (m *Monitor) CommittedAt(name string, t time.Time) map[string]map[int32]group.OffsetInfo {
	h := m.History(name)
	if h == nil {
		return nil
	}
	return committedAt(h, t)
}

func (m *Monitor) History(name string) []group.Commit {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.historyLocked(name)
}

// CommitOffsets commits from outside group management (an admin client's
// OffsetCommit): the coordinator refuses it while the group has members.
func (m *Monitor) CommitOffsets(ctx context.Context, name string, offsets map[string]map[int32]int64) error {
	os := kadm.Offsets{}
	for t, ps := range offsets {
		for p, o := range ps {
			os.Add(kadm.Offset{Topic: t, Partition: p, At: o, LeaderEpoch: -1})
		}
	}
	rs, err := m.adm.CommitOffsets(ctx, name, os)
	if err != nil {
		return kafkaErr(err, "")
	}
	for t, ps := range rs {
		for p, r := range ps {
			if r.Err != nil {
				return fmt.Errorf("%s/%d: %w", t, p, kafkaErr(r.Err, ""))
			}
		}
	}
	return nil
}

func (m *Monitor) DeleteGroup(ctx context.Context, name string) error {
	r, err := m.adm.DeleteGroup(ctx, name)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return kafkaErr(err, r.ErrMessage)
	}
	return nil
}

func (m *Monitor) DeleteOffsets(ctx context.Context, name string, parts map[string][]int32) error {
	s := kadm.TopicsSet{}
	for t, ps := range parts {
		s.Add(t, ps...)
	}
	rs, err := m.adm.DeleteOffsets(ctx, name, s)
	if err != nil {
		return kafkaErr(err, "")
	}
	var errs []error
	for t, ps := range rs {
		for p, err := range ps {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", t, p, kafkaErr(err, "")))
			}
		}
	}
	return errors.Join(errs...)
}

// OpenTransactions is not read from a remote cluster yet (it needs
// DescribeProducers on every partition).
func (m *Monitor) OpenTransactions() []broker.OpenTxn { return []broker.OpenTxn{} }

// LagStatus judges the group with Burrow's rules over the commits read
// from __consumer_offsets and the log ends of the last poll.
func (m *Monitor) LagStatus(name string) lageval.GroupStatus {
	v := m.viewNow()
	return m.rec.Evaluate(name, func(tp lageval.TopicPartition) (int64, bool) { return v.end(tp.Topic, tp.Partition) }, time.Now())
}

func (m *Monitor) LagWindows(name string) map[lageval.TopicPartition][]lageval.Commit {
	return m.rec.Windows(name)
}

// FetchedBy is never known to a monitor: Kafka shows no consumer's fetch
// positions, so the timeline keeps the bound (redo_at_most) only.
func (m *Monitor) FetchedBy(client, host, topic string, partition int32, since, at time.Time) broker.FetchedEnd {
	return broker.FetchedEnd{End: -1, Why: "unknown: a Kafka cluster shows no consumer's fetch positions; only the bound redo_at_most is known"}
}
