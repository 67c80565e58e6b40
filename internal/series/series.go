// Package series defines the /metrics series that rewind serve's admin
// listener and rewind monitor both serve, under kafka_exporter's
// (danielqsj/kafka_exporter) and burrow_exporter's names and labels, and
// Rewind's group type and epoch series, so that one dashboard reads
// either and the two can never drift apart.
package series

import "github.com/prometheus/client_golang/prometheus"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// kafka_exporter's series.
var (
	Brokers         = desc("kafka_brokers", "Number of Brokers in the Kafka Cluster.")
	BrokerInfo      = desc("kafka_broker_info", "Information about the Kafka Broker.", "id", "address")
	TopicPartitions = desc("kafka_topic_partitions", "Number of partitions for this Topic", "topic")
	TopicCurrent    = desc("kafka_topic_partition_current_offset", "Current Offset of a Broker at Topic/Partition", "topic", "partition")
	TopicOldest     = desc("kafka_topic_partition_oldest_offset", "Oldest Offset of a Broker at Topic/Partition", "topic", "partition")
	TopicLeader     = desc("kafka_topic_partition_leader", "Leader Broker ID of this Topic/Partition", "topic", "partition")
	TopicReplicas   = desc("kafka_topic_partition_replicas", "Number of Replicas for this Topic/Partition", "topic", "partition")
	TopicISR        = desc("kafka_topic_partition_in_sync_replica", "Number of In-Sync Replicas for this Topic/Partition", "topic", "partition")
	TopicPreferred  = desc("kafka_topic_partition_leader_is_preferred", "1 if Topic/Partition is using the Preferred Broker", "topic", "partition")
	TopicUnderRepl  = desc("kafka_topic_partition_under_replicated_partition", "1 if Topic/Partition is under Replicated", "topic", "partition")
	CGCurrent       = desc("kafka_consumergroup_current_offset", "Current Offset of a ConsumerGroup at Topic/Partition", "consumergroup", "topic", "partition")
	CGCurrentSum    = desc("kafka_consumergroup_current_offset_sum", "Current Offset of a ConsumerGroup at Topic for all partitions", "consumergroup", "topic")
	CGLag           = desc("kafka_consumergroup_lag", "Current Approximate Lag of a ConsumerGroup at Topic/Partition", "consumergroup", "topic", "partition")
	CGLagSum        = desc("kafka_consumergroup_lag_sum", "Current Approximate Lag of a ConsumerGroup at Topic for all partitions", "consumergroup", "topic")
	CGMembers       = desc("kafka_consumergroup_members", "Amount of members in a consumer group", "consumergroup")
	CGLagSeconds    = desc("kafka_consumergroup_lag_seconds", "Age of the first record a ConsumerGroup has not consumed at Topic/Partition (0 without lag)", "consumergroup", "topic", "partition")
)

// burrow_exporter's series, with its status codes (lageval.Status.Code).
var (
	BurrowStatus     = desc("kafka_burrow_status", "Burrow status of a consumer group: 1 NOTFOUND, 2 OK, 3 WARN, 4 ERR.", "cluster", "group")
	BurrowPartStatus = desc("kafka_burrow_partition_status", "Burrow status of a partition: 2 OK (or NEW: one commit so far), 3 WARN, 5 STOP, 6 STALL, 7 REWIND.", "cluster", "group", "topic", "partition")
	BurrowTotalLag   = desc("kafka_burrow_total_lag", "Total lag of a consumer group over the partitions Burrow evaluates.", "cluster", "group")
)

// Rewind's: a consumer group's type, state and epochs (classic and
// KIP-848 groups alike).
var (
	CGInfo            = desc("rewind_consumergroup_info", "A consumer group's type (classic, or consumer for KIP-848), state and protocol (the assignor); always 1.", "consumergroup", "type", "state", "protocol")
	CGEpoch           = desc("rewind_consumergroup_epoch", "A classic group's generation or a consumer group's group epoch.", "consumergroup", "type")
	CGAssignmentEpoch = desc("rewind_consumergroup_assignment_epoch", "The epoch a consumer group's target assignment was computed for (below the group epoch while Assigning).", "consumergroup")
)

// All is every series above, for a collector's Describe.
var All = []*prometheus.Desc{
	Brokers, BrokerInfo, TopicPartitions, TopicCurrent, TopicOldest, TopicLeader, TopicReplicas, TopicISR, TopicPreferred, TopicUnderRepl,
	CGCurrent, CGCurrentSum, CGLag, CGLagSum, CGMembers, CGLagSeconds,
	BurrowStatus, BurrowPartStatus, BurrowTotalLag,
	CGInfo, CGEpoch, CGAssignmentEpoch,
}
