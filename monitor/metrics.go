package monitor

import (
	"github.com/rewindhq/rewind/internal/series"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/lageval"
)

// The /metrics series of `rewind serve --http` that a remote cluster can
// give: kafka_exporter's topic and consumer-group series under its names
// and labels, burrow_exporter's verdicts, and Rewind's group type and
// epoch series. Computed when scraped from the last poll and the groups
// built from __consumer_offsets: a scrape sends no request.

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descUp       = desc("rewind_monitor_up", "1 while the last poll of the cluster worked.")
	descCaughtUp = desc("rewind_monitor_caught_up", "1 once __consumer_offsets was read up to where it ended when the monitor started.")
)

type collector struct{ m *Monitor }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range append([]*prometheus.Desc{descUp, descCaughtUp}, series.All...) {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	now := time.Now()
	m.mu.Lock()
	v, up, caughtUp := m.view, m.pollErr == nil, m.caughtUp
	m.mu.Unlock()
	gauge(ch, descUp, b2f(up))
	gauge(ch, descCaughtUp, b2f(caughtUp))
	gauge(ch, series.Brokers, float64(len(v.brokers)))
	for _, b := range v.brokers {
		gauge(ch, series.BrokerInfo, 1, strconv.Itoa(int(b.NodeID)), b.Host+":"+strconv.Itoa(int(b.Port)))
	}
	for _, t := range v.topics {
		gauge(ch, series.TopicPartitions, float64(len(t.parts)), t.name)
		for p, pv := range t.parts {
			ps := strconv.Itoa(p)
			if pv.end >= 0 {
				gauge(ch, series.TopicCurrent, float64(pv.end), t.name, ps)
			}
			if pv.start >= 0 {
				gauge(ch, series.TopicOldest, float64(pv.start), t.name, ps)
			}
			gauge(ch, series.TopicLeader, float64(pv.leader), t.name, ps)
			gauge(ch, series.TopicReplicas, float64(pv.replicas), t.name, ps)
			gauge(ch, series.TopicISR, float64(pv.isr), t.name, ps)
			gauge(ch, series.TopicPreferred, b2f(pv.preferred), t.name, ps)
			gauge(ch, series.TopicUnderRepl, b2f(pv.isr < pv.replicas), t.name, ps)
		}
	}
	m.mu.Lock()
	generations := make(map[string]int32, len(v.groups))
	for name, g := range v.groups {
		if s := m.groups[name]; s != nil && g.typ != "consumer" {
			generations[name] = s.generation
		}
	}
	m.mu.Unlock()
	for name, g := range v.groups {
		gauge(ch, series.CGMembers, float64(g.members), name)
		epoch := g.epoch
		if g.typ != "consumer" {
			epoch = generations[name]
		}
		gauge(ch, series.CGInfo, 1, name, g.typ, g.state, g.protocol)
		gauge(ch, series.CGEpoch, float64(epoch), name, g.typ)
		if g.typ == "consumer" {
			gauge(ch, series.CGAssignmentEpoch, float64(g.assignmentEpoch), name)
		}
	}

	m.mu.Lock()
	for name, g := range m.groups {
		if len(g.offsets) == 0 {
			continue
		}
		if _, listed := v.groups[name]; !listed {
			gauge(ch, series.CGMembers, 0, name)
		}
		// kafka_exporter's series go per topic the group committed to,
		// every partition of it: -1 for one without a commit.
		byTopic := map[string]map[int32]int64{}
		for tp, cur := range g.offsets {
			if byTopic[tp.topic] == nil {
				byTopic[tp.topic] = map[int32]int64{}
			}
			byTopic[tp.topic][tp.part] = cur.offset
		}
		for topic, parts := range byTopic {
			t := v.byName[topic]
			if t == nil {
				continue // committed to a deleted topic
			}
			var offSum, lagSum int64
			for p, pv := range t.parts {
				ps := strconv.Itoa(p)
				o, ok := parts[int32(p)]
				if !ok {
					offSum--
					gauge(ch, series.CGCurrent, -1, name, topic, ps)
					gauge(ch, series.CGLag, -1, name, topic, ps)
					continue
				}
				if pv.end < 0 {
					continue
				}
				lag := lageval.Lag(pv.end, o)
				offSum += o
				lagSum += lag
				gauge(ch, series.CGCurrent, float64(o), name, topic, ps)
				gauge(ch, series.CGLag, float64(lag), name, topic, ps)
				var first time.Time
				if lag > 0 {
					ts, ok := m.times[timeKey{tpKey{topic, int32(p)}, lageval.FirstUnconsumed(o, max(pv.start, 0))}]
					if !ok {
						continue // not dated yet: left out rather than lie
					}
					first = time.UnixMilli(ts)
				}
				if d, ok := lageval.LagTime(lag, first, now); ok {
					gauge(ch, series.CGLagSeconds, d.Seconds(), name, topic, ps)
				}
			}
			gauge(ch, series.CGCurrentSum, float64(offSum), name, topic)
			gauge(ch, series.CGLagSum, float64(lagSum), name, topic)
		}
	}
	m.mu.Unlock()

	for _, name := range m.rec.Groups() {
		st := m.LagStatus(name)
		gauge(ch, series.BurrowStatus, float64(st.Status.Code()), broker.BurrowCluster, name)
		gauge(ch, series.BurrowTotalLag, float64(st.TotalLag), broker.BurrowCluster, name)
		for _, p := range st.Partitions {
			gauge(ch, series.BurrowPartStatus, float64(p.Status.Code()), broker.BurrowCluster, name, p.Topic, strconv.Itoa(int(p.Partition)))
		}
	}
}
