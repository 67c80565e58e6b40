package broker

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartitionAssignments: v0-1 (KIP-455)
//
// One broker, so the only assignment a partition can have is the one it
// has: [--node-id]. As a single-node Kafka's controller answers
// (ReplicationControlManager.alterPartitionReassignment):
//
//   - an unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION;
//   - null replicas (cancel a reassignment): NO_REASSIGNMENT_IN_PROGRESS;
//   - an empty list, a node that is not this one, or this node twice:
//     INVALID_REPLICA_ASSIGNMENT, with Kafka's message;
//   - [--node-id]: done, changing nothing (no reassignment starts, so
//     ListPartitionReassignments never lists one).
//
// v1 (KIP-860) carries AllowReplicationFactorChange, echoed in the
// response; no valid assignment changes the factor (it is always 1). A
// partition named twice is answered once (the last). The response is
// reserved in --max-response-memory (respmem.go); one that alone would
// exceed it is INVALID_REQUEST. With --authorizer, ALTER on the cluster,
// else CLUSTER_AUTHORIZATION_FAILED at the top and on every partition.

func init() {
	regKey(45, 0, 1, handleAlterPartitionAssignments)
	regAuth(45, checkAlterPartitionAssignments)
}

func handleAlterPartitionAssignments(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.Version < 1 || req.AllowReplicationFactorChange
	req.Topics, _ = dedupTopicParts(req.Topics, alterAssignTopic, alterAssignPart)

	var n respSize
	n.elems(len(req.Topics), sizeOf[kmsg.AlterPartitionAssignmentsResponseTopic](), 8)
	for _, rt := range req.Topics {
		n.str(2*len(rt.Topic) + 64) // and in a message
	}
	n.elems(countParts(req.Topics, alterAssignTopic), sizeOf[kmsg.AlterPartitionAssignmentsResponseTopicPartition](), 128)
	if err := r.reserveResponse("AlterPartitionAssignments", n); err != nil {
		var tl *respTooLarge
		if errors.As(err, &tl) {
			resp.ErrorCode, resp.ErrorMessage = invalidRequest, tl.message()
			return now(resp)
		}
		return reply{}, err
	}

	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		meta, exists := b.topicMeta(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case !exists:
				sp.ErrorCode, sp.ErrorMessage = kerr.UnknownTopicOrPartition.Code, strp("Unable to find a topic named "+rt.Topic+".")
			case rp.Partition < 0 || rp.Partition >= meta.Partitions:
				sp.ErrorCode, sp.ErrorMessage = kerr.UnknownTopicOrPartition.Code, strp(fmt.Sprintf("Unable to find partition %s:%d.", rt.Topic, rp.Partition))
			case rp.Replicas == nil:
				sp.ErrorCode = kerr.NoReassignmentInProgress.Code
			default:
				if msg := checkAssignment(b.cfg.NodeID, rp.Replicas); msg != "" {
					sp.ErrorCode, sp.ErrorMessage = kerr.InvalidReplicaAssignment.Code, strp(msg)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}

// checkAssignment validates a manual assignment as Kafka's controller
// does (validateManualPartitionAssignment), in its order, on a cluster
// whose only broker is node: the message of the first fault, or "".
func checkAssignment(node int32, replicas []int32) string {
	if len(replicas) == 0 {
		return "The manual partition assignment includes an empty replica list."
	}
	sorted := slices.Sorted(slices.Values(replicas))
	for i, id := range sorted {
		if id != node {
			return fmt.Sprintf("The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if i > 0 && sorted[i-1] == id {
			return fmt.Sprintf("The manual partition assignment includes the broker %d more than once.", id)
		}
	}
	return ""
}

func alterAssignTopic(t *kmsg.AlterPartitionAssignmentsRequestTopic) (string, *[]kmsg.AlterPartitionAssignmentsRequestTopicPartition) {
	return t.Topic, &t.Partitions
}

func alterAssignPart(p *kmsg.AlterPartitionAssignmentsRequestTopicPartition) int32 {
	return p.Partition
}

// checkAlterPartitionAssignments: ALTER on the cluster.
func checkAlterPartitionAssignments(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationAlter) {
		return nil, nil, nil
	}
	req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	return respond(r, func(resp *kmsg.AlterPartitionAssignmentsResponse) {
		resp.AllowReplicationFactorChange = req.Version < 1 || req.AllowReplicationFactorChange
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, rt := range req.Topics {
			st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.ClusterAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}), nil, nil
}
