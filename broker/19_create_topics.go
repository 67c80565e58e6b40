package broker

import (
	"fmt"

	"github.com/rewindhq/rewind/catalog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics: v2-7 (Kafka 4.0 removed v0-1, KIP-896)
//
// NumPartitions -1 (v4+) takes --default-partitions; ReplicationFactor must
// be 1 or -1 (one node); manual replica assignments may only name node 0.
// Configs are validated by the catalog under Kafka's names.
//
// Creation is all or nothing (registry.create): a topic whose partitions
// cannot all be opened answers KAFKA_STORAGE_ERROR and leaves no catalog
// entry and no directory. Past --max-broker-partitions: POLICY_VIOLATION
// with the limit in the message (why that code: partitions.go), also for
// ValidateOnly.
//
// As Kafka's controller (ControllerApis.createTopics), a name given more
// than once creates nothing and is answered once with INVALID_REQUEST. The
// response is reserved in --max-response-memory (respmem.go) before any
// topic is created; a request whose response alone would exceed it closes
// the connection and creates nothing.
//
// The controller mutation quota (quota_mutation.go) charges each topic its
// partitions once it is found valid (ValidateOnly too); strict from v6: a
// topic met with the quota exhausted gets THROTTLING_QUOTA_EXCEEDED.
//
// Version notes:
//   - ValidateOnly and ErrorMessage since v1. v5: the created topic's partitions,
//     replication factor and configs in the response. v7: topic id.

func init() { regKey(19, 2, 7, handleCreateTopics) }

func handleCreateTopics(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	var n respSize
	n.set(len(seen))
	// Each topic at most: its entry and every config of a created topic.
	n.elems(len(seen), sizeOf[kmsg.CreateTopicsResponseTopic](), 64)
	n.elems(len(seen)*len(catalog.Defs()), sizeOf[kmsg.CreateTopicsResponseTopicConfig](), 64)
	for name := range seen {
		n.str(len(name) + 64) // and a message
	}
	if err := r.reserveResponse("CreateTopics", n); err != nil {
		return reply{}, err
	}
	mq := r.mutationQuota(6)
	resp.Topics = make([]kmsg.CreateTopicsResponseTopic, 0, len(seen))
	for _, rt := range req.Topics {
		if seen[rt.Topic] < 0 {
			continue // a repeated name, answered at its first
		}
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		code, msg := createOne(b, req, rt, seen[rt.Topic] > 1, mq, &st)
		if seen[rt.Topic] > 1 {
			seen[rt.Topic] = -1
		}
		st.ErrorCode, st.ErrorMessage = code, msg
		resp.Topics = append(resp.Topics, st)
	}
	r.throttleMutations(mq)
	return now(resp)
}

// createOne creates one topic of a CreateTopics request (and of the admin
// listener's, with no quota), charging mq.
func createOne(b *Broker, req *kmsg.CreateTopicsRequest, rt kmsg.CreateTopicsRequestTopic, dup bool, mq *mutationQuota, st *kmsg.CreateTopicsResponseTopic) (int16, *string) {
	if dup {
		return kerr.InvalidRequest.Code, dupTopicName
	}
	parts := rt.NumPartitions
	if len(rt.ReplicaAssignment) > 0 {
		if parts != -1 || rt.ReplicationFactor != -1 {
			return kerr.InvalidRequest.Code, strp("both a replica assignment and a partition count or replication factor were given")
		}
		// As Kafka's controller: the assignments in any order, each
		// partition once, together 0..n-1.
		assigned := make(map[int32]bool, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if assigned[a.Partition] {
				return kerr.InvalidReplicaAssignment.Code, strp(fmt.Sprintf("Found multiple manual partition assignments for partition %d", a.Partition))
			}
			if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
				return kerr.InvalidReplicaAssignment.Code, strp(fmt.Sprintf("partition %d: the only broker is node %d", a.Partition, b.cfg.NodeID))
			}
			assigned[a.Partition] = true
		}
		for p := range int32(len(assigned)) {
			if !assigned[p] {
				return kerr.InvalidReplicaAssignment.Code, strp("partitions should be a consecutive 0-based integer sequence")
			}
		}
		parts = int32(len(rt.ReplicaAssignment))
	}
	if parts == -1 {
		parts = b.cfg.DefaultPartitions
	}
	if parts <= 0 {
		return kerr.InvalidPartitions.Code, strp(fmt.Sprintf("number of partitions must be at least 1, got %d", parts))
	}
	if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 && len(rt.ReplicaAssignment) == 0 {
		if rt.ReplicationFactor <= 0 {
			return kerr.InvalidReplicationFactor.Code, strp("replication factor must be at least 1")
		}
		return kerr.InvalidReplicationFactor.Code, strp(fmt.Sprintf("replication factor %d is larger than the number of brokers (1)", rt.ReplicationFactor))
	}
	cfgs := map[string]string{}
	for _, c := range rt.Configs {
		if c.Value == nil {
			continue // null means the default
		}
		cfgs[c.Name] = *c.Value
	}
	if rt.Topic == OffsetsTopic {
		return kerr.TopicAlreadyExists.Code, strp(OffsetsTopic + " is an internal topic")
	}
	if err := b.disk.writable(); err != nil && !req.ValidateOnly {
		return kerr.KafkaStorageError.Code, strp(err.Error())
	}
	t, err := b.reg.create(rt.Topic, parts, cfgs, false, req.ValidateOnly, mq.admit)
	if err != nil {
		return catalogErrorCode(err)
	}
	st.TopicID = t.ID
	st.NumPartitions = t.Partitions
	st.ReplicationFactor = 1
	st.Configs = make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(catalog.Defs()))
	for _, d := range catalog.Defs() {
		if !t.Listed(d) {
			continue
		}
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = d.Name
		c.Value = strp(t.Config(d.Name))
		c.Source = int8(kmsg.ConfigSourceDefaultConfig)
		if _, set := t.Configs[d.Name]; set {
			c.Source = int8(kmsg.ConfigSourceDynamicTopicConfig)
		}
		st.Configs = append(st.Configs, c)
	}
	return 0, nil
}
