package monitor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterView is the cluster as one poll saw it: topics with their
// partitions' leaders and bounds, and the groups the coordinators list.
// A poll builds a new one and swaps it in whole; readers never see one
// half built, and never change it.
type clusterView struct {
	taken   time.Time
	brokers []kadm.BrokerDetail
	topics  []*topicView // sorted by name
	byName  map[string]*topicView
	groups  map[string]groupInfo
}

type topicView struct {
	name     string
	id       [16]byte
	internal bool
	parts    []partView
}

type partView struct {
	leader, replicas, isr int32
	preferred             bool
	start, end            int64 // log start, high watermark (-1: unknown)
	err                   string
}

type groupInfo struct {
	typ, state, protocolType, protocol string
	epoch, assignmentEpoch             int32
	members                            int
}

func (v *clusterView) end(topic string, p int32) (int64, bool) {
	t := v.byName[topic]
	if t == nil || p < 0 || int(p) >= len(t.parts) || t.parts[p].end < 0 {
		return 0, false
	}
	return t.parts[p].end, true
}

func (v *clusterView) part(topic string, p int32) (partView, bool) {
	t := v.byName[topic]
	if t == nil || p < 0 || int(p) >= len(t.parts) {
		return partView{}, false
	}
	return t.parts[p], true
}

func (m *Monitor) viewNow() *clusterView {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view
}

// poll reads metadata, every partition's bounds and the groups, then dates
// the first unconsumed record of each lagging group partition and fills
// the lags of replayed commits.
func (m *Monitor) poll(ctx context.Context) error {
	v, err := m.readView(ctx)
	m.mu.Lock()
	m.pollErr = err
	if err == nil {
		m.view = v
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if err := m.dateLagging(ctx, v); err != nil {
		m.log.Debug("dating lagging records", "err", err)
	}
	if err := m.estimateLags(ctx, v); err != nil {
		m.log.Debug("estimating replayed lags", "err", err)
	}
	return nil
}

func (m *Monitor) readView(ctx context.Context) (*clusterView, error) {
	v := &clusterView{taken: time.Now(), byName: map[string]*topicView{}, groups: map[string]groupInfo{}}
	md, err := m.adm.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	v.brokers = md.Brokers
	var names []string
	for _, td := range md.Topics {
		if td.Err != nil {
			continue
		}
		t := &topicView{name: m.internTopic(td.Topic), id: td.ID, internal: td.IsInternal || td.Topic == offsetsfmt.Topic,
			parts: make([]partView, len(td.Partitions))}
		for _, pd := range td.Partitions {
			if pd.Partition < 0 || int(pd.Partition) >= len(t.parts) {
				continue
			}
			pv := partView{leader: pd.Leader, replicas: int32(len(pd.Replicas)), isr: int32(len(pd.ISR)), start: -1, end: -1}
			pv.preferred = len(pd.Replicas) > 0 && pd.Replicas[0] == pd.Leader
			if pd.Err != nil {
				pv.err = pd.Err.Error()
			}
			t.parts[pd.Partition] = pv
		}
		v.topics = append(v.topics, t)
		v.byName[t.name] = t
		names = append(names, td.Topic)
	}
	sort.Slice(v.topics, func(i, j int) bool { return v.topics[i].name < v.topics[j].name })
	if len(names) > 0 {
		starts, err := m.adm.ListStartOffsets(ctx, names...)
		if err != nil && len(starts) == 0 {
			return nil, fmt.Errorf("log start offsets: %w", err)
		}
		ends, err := m.adm.ListEndOffsets(ctx, names...)
		if err != nil && len(ends) == 0 {
			return nil, fmt.Errorf("log end offsets: %w", err)
		}
		set := func(l kadm.ListedOffsets, end bool) {
			l.Each(func(o kadm.ListedOffset) {
				t := v.byName[o.Topic]
				if o.Err != nil || t == nil || o.Partition < 0 || int(o.Partition) >= len(t.parts) {
					return
				}
				if end {
					t.parts[o.Partition].end = o.Offset
				} else {
					t.parts[o.Partition].start = o.Offset
				}
			})
		}
		set(starts, false)
		set(ends, true)
	}
	if err := m.readGroups(ctx, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (m *Monitor) internTopic(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.intern(s)
}

// readGroups lists every group with its type (ListGroups v5) and describes
// them: classic groups with DescribeGroups, consumer groups with
// ConsumerGroupDescribe.
func (m *Monitor) readGroups(ctx context.Context, v *clusterView) error {
	req := kmsg.NewPtrListGroupsRequest()
	var first error
	listed := 0
	for _, sh := range m.cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			first = cmpErr(first, sh.Err)
			continue
		}
		resp := sh.Resp.(*kmsg.ListGroupsResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			first = cmpErr(first, err)
			continue
		}
		listed++
		for _, g := range resp.Groups {
			typ := g.GroupType
			if typ == "" {
				typ = "classic"
			}
			v.groups[g.Group] = groupInfo{typ: typ, state: g.GroupState, protocolType: g.ProtocolType}
		}
	}
	if listed == 0 && first != nil {
		return fmt.Errorf("list groups: %w", first)
	}
	var classic, consumer []string
	for name, g := range v.groups {
		if g.typ == "consumer" {
			consumer = append(consumer, name)
		} else if g.typ == "classic" {
			classic = append(classic, name)
		}
	}
	if len(classic) > 0 {
		ds, err := m.adm.DescribeGroups(ctx, classic...)
		if err != nil && len(ds) == 0 {
			m.log.Debug("describe groups", "err", err)
		}
		for name, d := range ds {
			if d.Err != nil {
				continue
			}
			g := v.groups[name]
			g.state, g.protocolType, g.protocol, g.members = d.State, d.ProtocolType, d.Protocol, len(d.Members)
			v.groups[name] = g
		}
	}
	if len(consumer) > 0 {
		ds, err := m.adm.DescribeConsumerGroups(ctx, consumer...)
		if err != nil && len(ds) == 0 {
			m.log.Debug("describe consumer groups", "err", err)
		}
		for name, d := range ds {
			if d.Err != nil {
				continue
			}
			g := v.groups[name]
			g.state, g.protocolType, g.protocol, g.members = d.State, "consumer", d.AssignorName, len(d.Members)
			g.epoch, g.assignmentEpoch = d.Epoch, d.AssignmentEpoch
			v.groups[name] = g
		}
	}
	return nil
}

func cmpErr(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// timeKey is a record position whose timestamp is cached.
type timeKey struct {
	tp     tpKey
	offset int64
}

// dateLagging dates, for each group partition with lag, the first record
// the group has not read (its age is the lag in time), fetching only the
// positions not dated yet, and forgets the dates no group needs any more.
func (m *Monitor) dateLagging(ctx context.Context, v *clusterView) error {
	need := map[timeKey]bool{}
	var fetch []timeKey
	m.mu.Lock()
	for _, g := range m.groups {
		for tp, c := range g.offsets {
			pv, ok := v.part(tp.topic, tp.part)
			if !ok || pv.end < 0 || lageval.Lag(pv.end, c.offset) <= 0 {
				continue
			}
			k := timeKey{tp, lageval.FirstUnconsumed(c.offset, max(pv.start, 0))}
			if need[k] {
				continue
			}
			need[k] = true
			if _, ok := m.times[k]; !ok {
				fetch = append(fetch, k)
			}
		}
	}
	for k := range m.times {
		if !need[k] {
			delete(m.times, k)
		}
	}
	m.mu.Unlock()
	if len(fetch) == 0 {
		return nil
	}
	got, err := m.recordTimes(ctx, v, fetch)
	m.mu.Lock()
	for k, ts := range got {
		m.times[k] = ts
	}
	m.mu.Unlock()
	return err
}

// estimateLags fills the lags of commits replayed from __consumer_offsets
// (or read back from the state file) from the time index: the log end at a
// commit's time is the first offset whose record is later (ListOffsets by
// time, lageval.EstimateLags).
func (m *Monitor) estimateLags(ctx context.Context, v *clusterView) error {
	m.mu.Lock()
	todo := m.unknownLag
	m.unknownLag = false
	m.mu.Unlock()
	if !todo {
		return nil
	}
	type at struct {
		tp lageval.TopicPartition
		t  int64
	}
	var want []at
	groups := m.rec.Groups()
	for _, g := range groups {
		for tp, w := range m.rec.Windows(g) {
			if _, ok := v.byName[tp.Topic]; !ok {
				continue
			}
			for _, c := range w {
				if c.Lag < 0 {
					want = append(want, at{tp, c.Time.UnixMilli()})
				}
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	qs := make([]offsetAt, len(want))
	for i, w := range want {
		qs[i] = offsetAt{tpKey{w.tp.Topic, w.tp.Partition}, w.t + 1}
	}
	res, err := m.offsetsAt(ctx, qs)
	for _, g := range groups {
		m.rec.Estimate(g, func(tp lageval.TopicPartition, t time.Time) int64 {
			o, ok := res[offsetAt{tpKey{tp.Topic, tp.Partition}, t.UnixMilli() + 1}]
			if !ok {
				return -1
			}
			if o < 0 {
				if le, ok := v.end(tp.Topic, tp.Partition); ok {
					return le
				}
				return -1
			}
			return o
		})
	}
	if err != nil {
		m.mu.Lock()
		m.unknownLag = true // try again at the next poll
		m.mu.Unlock()
	}
	return err
}

// offsetAt asks for the first offset of a partition whose record
// timestamp is at or after ms.
type offsetAt struct {
	tp tpKey
	ms int64
}

// offsetsAt answers many ListOffsets-by-time questions: a request names a
// partition once, so the questions go in rounds, each sharded by kgo to
// the partitions' leaders. -1: no record at or after the time.
func (m *Monitor) offsetsAt(ctx context.Context, qs []offsetAt) (map[offsetAt]int64, error) {
	out := make(map[offsetAt]int64, len(qs))
	seen := map[offsetAt]bool{}
	var errs []error
	for len(qs) > 0 {
		round := map[tpKey]int64{}
		var rest []offsetAt
		for _, q := range qs {
			if seen[q] {
				continue
			}
			if _, dup := round[q.tp]; dup {
				rest = append(rest, q)
				continue
			}
			seen[q] = true
			round[q.tp] = q.ms
		}
		qs = rest
		if len(round) == 0 {
			break
		}
		byTopic := map[string][]int32{}
		for tp := range round {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp.part)
		}
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		for t, ps := range byTopic {
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = t
			for _, p := range ps {
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, round[tpKey{t, p}], -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		for _, sh := range m.cl.RequestSharded(ctx, req) {
			if sh.Err != nil {
				errs = append(errs, sh.Err)
				continue
			}
			for _, t := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
				for _, p := range t.Partitions {
					tp := tpKey{t.Topic, p.Partition}
					ms, ok := round[tp]
					if !ok || p.ErrorCode != 0 {
						continue
					}
					out[offsetAt{tp, ms}] = p.Offset
				}
			}
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, errors.Join(errs...)
}
