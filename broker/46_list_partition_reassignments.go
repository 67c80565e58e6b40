package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListPartitionReassignments: v0 (KIP-455)
//
// No reassignment is ever in progress (AlterPartitionAssignments can only
// confirm the one replica a partition has), so the answer lists none, for
// every topic, all topics, or topics that do not exist, as a single-node
// Kafka answers. With --authorizer, DESCRIBE on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED.

func init() {
	regKey(46, 0, 0, handleListPartitionReassignments)
	regAuth(46, checkListPartitionReassignments)
}

func handleListPartitionReassignments(r *request) (reply, error) {
	return now(r.kreq.ResponseKind())
}

// checkListPartitionReassignments: DESCRIBE on the cluster.
func checkListPartitionReassignments(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationDescribe) {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.ListPartitionReassignmentsResponse) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}), nil, nil
}
