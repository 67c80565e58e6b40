package broker

import (
	"math"
	"slices"

	"github.com/rewindhq/rewind/catalog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTopicPartitions: v0 (KIP-966)
//
// What the Java 4.x AdminClient's describeTopics sends instead of
// Metadata: topics with their partitions, paged by a partition limit and
// a cursor, as Kafka's DescribeTopicPartitionsRequestHandler pages them:
//
//   - the topics asked (each once), or every topic (internal ones too) when
//     the list is empty, sorted by name, from the cursor's topic on; a
//     cursor whose topic is not in a given list (from the cursor on), or
//     with a negative partition, is INVALID_REQUEST on every topic of the
//     request, as asked;
//   - at most ResponsePartitionLimit partitions (clamped to 1..2000, Kafka's
//     max.request.partition.size.limit), from the cursor's partition in
//     its topic and from 0 in the others; where the limit stops the answer,
//     NextCursor names the next partition (or the next topic, at 0);
//   - a topic asked that does not exist is UNKNOWN_TOPIC_OR_PARTITION
//     (INVALID_TOPIC_EXCEPTION for an invalid name) with no id, where the
//     limit has not been reached; in the all-topics form there is none;
//   - an empty name among the topics asked fails the whole request in
//     Kafka 4.4 (UNKNOWN_SERVER_ERROR on every topic asked): the same here.
//
// Each partition is led by --node-id at epoch 0, its only replica and ISR;
// the eligible leader replica lists are empty (no ELR). Every topic
// described carries its authorized operations (all of a topic's without
// --authorizer), which Kafka always fills in. With --authorizer, DESCRIBE
// on each topic: a topic asked by name without it is
// TOPIC_AUTHORIZATION_FAILED (after the others, with no id, as Kafka);
// in the all-topics form it is left out. The response is bounded by the
// limit and the names asked; it is reserved in --max-response-memory
// (respmem.go), and one that alone would exceed it closes the connection.

func init() { regKey(75, 0, 0, handleDescribeTopicPartitions) }

// maxDescribePartitions is Kafka's max.request.partition.size.limit.
const maxDescribePartitions = 2000

// topicOperations are the operations a topic's authorized-operations
// bit field can hold (Kafka's AclEntry.supportedOperations(TOPIC)).
var topicOperations = []kmsg.ACLOperation{
	kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDelete,
	kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
}

func (r *request) topicAuthorizedOperations(name string) int32 {
	var ops int32
	for _, op := range topicOperations {
		if r.allowedTopic(op, name) {
			ops |= 1 << op
		}
	}
	return ops
}

func handleDescribeTopicPartitions(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	all := len(req.Topics) == 0
	cursorTopic := ""
	if req.Cursor != nil {
		cursorTopic = req.Cursor.Topic
	}

	var names []string
	if all {
		for _, t := range b.reg.list() { // sorted
			if t.Name >= cursorTopic {
				names = append(names, t.Name)
			}
		}
	} else {
		for _, t := range req.Topics {
			if t.Topic >= cursorTopic {
				names = append(names, t.Topic)
			}
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}

	var n respSize
	n.elems(len(names), sizeOf[kmsg.DescribeTopicPartitionsResponseTopic](), 64)
	for _, name := range names {
		n.str(len(name))
	}
	n.elems(maxDescribePartitions, sizeOf[kmsg.DescribeTopicPartitionsResponseTopicPartition]()+4, 48)
	if err := r.reserveResponse("DescribeTopicPartitions", n); err != nil {
		return reply{}, err
	}

	fail := func(code int16) (reply, error) {
		// Kafka's error response: every topic of the request, as asked.
		for _, rt := range req.Topics {
			st := kmsg.NewDescribeTopicPartitionsResponseTopic()
			st.Topic, st.ErrorCode = kmsg.StringPtr(rt.Topic), code
			st.AuthorizedOperations = math.MinInt32
			resp.Topics = append(resp.Topics, st)
		}
		return now(resp)
	}
	switch {
	case !all && slices.Contains(names, ""):
		return fail(kerr.UnknownServerError.Code)
	case !all && req.Cursor != nil && !slices.Contains(names, cursorTopic),
		req.Cursor != nil && req.Cursor.Partition < 0:
		return fail(kerr.InvalidRequest.Code)
	}

	var denied []string
	if r.c.b.sec.authz != nil {
		kept := names[:0]
		for _, name := range names {
			if r.allowedTopic(kmsg.ACLOperationDescribe, name) {
				kept = append(kept, name)
			} else if !all {
				denied = append(denied, name)
			}
		}
		names = kept
	}

	remaining := int32(max(min(req.ResponsePartitionLimit, maxDescribePartitions), 1))
	node := b.cfg.NodeID
	only := []int32{node} // shared, only read by the encoder
	for _, name := range names {
		if remaining == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: 0}
			break
		}
		meta, ok := b.topicMeta(name)
		if !ok {
			if all {
				continue // deleted meanwhile
			}
			st := kmsg.NewDescribeTopicPartitionsResponseTopic()
			st.Topic = kmsg.StringPtr(name)
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if catalog.ValidateTopicName(name) != nil {
				st.ErrorCode = kerr.InvalidTopicException.Code
			}
			st.AuthorizedOperations = r.topicAuthorizedOperations(name)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		start := int32(0)
		if name == cursorTopic {
			start = req.Cursor.Partition
		}
		upper := min(meta.Partitions, start+remaining)
		st := kmsg.NewDescribeTopicPartitionsResponseTopic()
		st.Topic, st.TopicID, st.IsInternal = kmsg.StringPtr(name), meta.ID, meta.Internal
		st.AuthorizedOperations = r.topicAuthorizedOperations(name)
		st.Partitions = make([]kmsg.DescribeTopicPartitionsResponseTopicPartition, 0, max(upper-start, 0))
		for p := start; p < upper; p++ {
			sp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			sp.Partition, sp.LeaderID, sp.LeaderEpoch = p, node, 0
			sp.Replicas, sp.ISR = only, only
			sp.EligibleLeaderReplicas, sp.LastKnownELR = []int32{}, []int32{}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
		if upper < meta.Partitions {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: upper}
			break
		}
		remaining -= int32(len(st.Partitions))
	}
	for _, name := range denied {
		st := kmsg.NewDescribeTopicPartitionsResponseTopic()
		st.Topic, st.ErrorCode = kmsg.StringPtr(name), kerr.TopicAuthorizationFailed.Code
		st.AuthorizedOperations = math.MinInt32
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}
