package monitor

import (
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
	descUp              = desc("rewind_monitor_up", "1 while the last poll of the cluster worked.")
	descCaughtUp        = desc("rewind_monitor_caught_up", "1 once __consumer_offsets was read up to where it ended when the monitor started.")
	descBrokers         = desc("kafka_brokers", "Number of Brokers in the Kafka Cluster.")
	descBrokerInfo      = desc("kafka_broker_info", "Information about the Kafka Broker.", "id", "address")
	descTopicPartitions = desc("kafka_topic_partitions", "Number of partitions for this Topic", "topic")
	descTopicCurrent    = desc("kafka_topic_partition_current_offset", "Current Offset of a Broker at Topic/Partition", "topic", "partition")
	descTopicOldest     = desc("kafka_topic_partition_oldest_offset", "Oldest Offset of a Broker at Topic/Partition", "topic", "partition")
	descTopicLeader     = desc("kafka_topic_partition_leader", "Leader Broker ID of this Topic/Partition", "topic", "partition")
	descTopicReplicas   = desc("kafka_topic_partition_replicas", "Number of Replicas for this Topic/Partition", "topic", "partition")
	descTopicISR        = desc("kafka_topic_partition_in_sync_replica", "Number of In-Sync Replicas for this Topic/Partition", "topic", "partition")
	descTopicPreferred  = desc("kafka_topic_partition_leader_is_preferred", "1 if Topic/Partition is using the Preferred Broker", "topic", "partition")
	descTopicUnderRepl  = desc("kafka_topic_partition_under_replicated_partition", "1 if Topic/Partition is under Replicated", "topic", "partition")
	descCGCurrent       = desc("kafka_consumergroup_current_offset", "Current Offset of a ConsumerGroup at Topic/Partition", "consumergroup", "topic", "partition")
	descCGCurrentSum    = desc("kafka_consumergroup_current_offset_sum", "Current Offset of a ConsumerGroup at Topic for all partitions", "consumergroup", "topic")
	descCGLag           = desc("kafka_consumergroup_lag", "Current Approximate Lag of a ConsumerGroup at Topic/Partition", "consumergroup", "topic", "partition")
	descCGLagSum        = desc("kafka_consumergroup_lag_sum", "Current Approximate Lag of a ConsumerGroup at Topic for all partitions", "consumergroup", "topic")
	descCGMembers       = desc("kafka_consumergroup_members", "Amount of members in a consumer group", "consumergroup")
	descCGLagSeconds    = desc("kafka_consumergroup_lag_seconds", "Age of the first record a ConsumerGroup has not consumed at Topic/Partition (0 without lag)", "consumergroup", "topic", "partition")

	descBurrowStatus     = desc("kafka_burrow_status", "Burrow status of a consumer group: 1 NOTFOUND, 2 OK, 3 WARN, 4 ERR.", "cluster", "group")
	descBurrowPartStatus = desc("kafka_burrow_partition_status", "Burrow status of a partition: 2 OK (or NEW: one commit so far), 3 WARN, 5 STOP, 6 STALL, 7 REWIND.", "cluster", "group", "topic", "partition")
	descBurrowTotalLag   = desc("kafka_burrow_total_lag", "Total lag of a consumer group over the partitions Burrow evaluates.", "cluster", "group")

	descCGInfo            = desc("rewind_consumergroup_info", "A consumer group's type (classic, or consumer for KIP-848), state and protocol (the assignor); always 1.", "consumergroup", "type", "state", "protocol")
	descCGEpoch           = desc("rewind_consumergroup_epoch", "A classic group's generation or a consumer group's group epoch.", "consumergroup", "type")
	descCGAssignmentEpoch = desc("rewind_consumergroup_assignment_epoch", "The epoch a consumer group's target assignment was computed for (below the group epoch while Assigning).", "consumergroup")
)

type collector struct{ m *Monitor }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descCaughtUp, descBrokers, descBrokerInfo, descTopicPartitions, descTopicCurrent,
		descTopicOldest, descTopicLeader, descTopicReplicas, descTopicISR, descTopicPreferred, descTopicUnderRepl,
		descCGCurrent, descCGCurrentSum, descCGLag, descCGLagSum, descCGMembers, descCGLagSeconds,
		descBurrowStatus, descBurrowPartStatus, descBurrowTotalLag, descCGInfo, descCGEpoch, descCGAssignmentEpoch} {
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
	gauge(ch, descBrokers, float64(len(v.brokers)))
	for _, b := range v.brokers {
		gauge(ch, descBrokerInfo, 1, strconv.Itoa(int(b.NodeID)), b.Host+":"+strconv.Itoa(int(b.Port)))
	}
	for _, t := range v.topics {
		gauge(ch, descTopicPartitions, float64(len(t.parts)), t.name)
		for p, pv := range t.parts {
			ps := strconv.Itoa(p)
			if pv.end >= 0 {
				gauge(ch, descTopicCurrent, float64(pv.end), t.name, ps)
			}
			if pv.start >= 0 {
				gauge(ch, descTopicOldest, float64(pv.start), t.name, ps)
			}
			gauge(ch, descTopicLeader, float64(pv.leader), t.name, ps)
			gauge(ch, descTopicReplicas, float64(pv.replicas), t.name, ps)
			gauge(ch, descTopicISR, float64(pv.isr), t.name, ps)
			gauge(ch, descTopicPreferred, b2f(pv.preferred), t.name, ps)
			gauge(ch, descTopicUnderRepl, b2f(pv.isr < pv.replicas), t.name, ps)
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
		gauge(ch, descCGMembers, float64(g.members), name)
		epoch := g.epoch
		if g.typ != "consumer" {
			epoch = generations[name]
		}
		gauge(ch, descCGInfo, 1, name, g.typ, g.state, g.protocol)
		gauge(ch, descCGEpoch, float64(epoch), name, g.typ)
		if g.typ == "consumer" {
			gauge(ch, descCGAssignmentEpoch, float64(g.assignmentEpoch), name)
		}
	}

	m.mu.Lock()
	for name, g := range m.groups {
		if len(g.offsets) == 0 {
			continue
		}
		if _, listed := v.groups[name]; !listed {
			gauge(ch, descCGMembers, 0, name)
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
					gauge(ch, descCGCurrent, -1, name, topic, ps)
					gauge(ch, descCGLag, -1, name, topic, ps)
					continue
				}
				if pv.end < 0 {
					continue
				}
				lag := lageval.Lag(pv.end, o)
				offSum += o
				lagSum += lag
				gauge(ch, descCGCurrent, float64(o), name, topic, ps)
				gauge(ch, descCGLag, float64(lag), name, topic, ps)
				var first time.Time
				if lag > 0 {
					ts, ok := m.times[timeKey{tpKey{topic, int32(p)}, lageval.FirstUnconsumed(o, max(pv.start, 0))}]
					if !ok {
						continue // not dated yet: left out rather than lie
					}
					first = time.UnixMilli(ts)
				}
				if d, ok := lageval.LagTime(lag, first, now); ok {
					gauge(ch, descCGLagSeconds, d.Seconds(), name, topic, ps)
				}
			}
			gauge(ch, descCGCurrentSum, float64(offSum), name, topic)
			gauge(ch, descCGLagSum, float64(lagSum), name, topic)
		}
	}
	m.mu.Unlock()

	for _, name := range m.rec.Groups() {
		st := m.LagStatus(name)
		gauge(ch, descBurrowStatus, float64(st.Status.Code()), broker.BurrowCluster, name)
		gauge(ch, descBurrowTotalLag, float64(st.TotalLag), broker.BurrowCluster, name)
		for _, p := range st.Partitions {
			gauge(ch, descBurrowPartStatus, float64(p.Status.Code()), broker.BurrowCluster, name, p.Topic, strconv.Itoa(int(p.Partition)))
		}
	}
}
