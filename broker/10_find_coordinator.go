package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-4
//
// This broker coordinates every group, except those whose __consumer_offsets
// partition is fenced (damaged on disk): COORDINATOR_NOT_AVAILABLE, as Kafka
// answers while that partition has no leader. Transaction coordinators do not
// exist (no transactions): TRANSACTIONAL_ID_AUTHORIZATION_FAILED with a
// message, the answer Kafka gives a client that may not use a
// transactional id, and the one InitProducerId and Produce give here. It is
// not retriable: kgo fails the transactional producer at once and
// librdkafka makes it a fatal error, where COORDINATOR_NOT_AVAILABLE would
// be retried for ever (kgo) or until the client's timeout (librdkafka).
//
// Version notes:
//   - v1: key type, throttle, error message. v3: flexible.
//   - v4: batched keys (KIP-699).

func init() { regKey(10, 0, 4, handleFindCoordinator) }

func handleFindCoordinator(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	find := func(key string) (int16, *string) {
		switch req.CoordinatorType {
		case 0:
			// A group whose __consumer_offsets partition is fenced has
			// no coordinator, as in Kafka while that partition has no
			// leader.
			if err := b.grp.GroupErr(key); err != nil {
				return kerr.CoordinatorNotAvailable.Code, strp(err.Error())
			}
			return 0, nil
		case 1:
			return kerr.TransactionalIDAuthorizationFailed.Code, strp("transactions are not supported by Rewind: unset the transactional id (an idempotent producer still writes each record once)")
		default:
			return kerr.InvalidRequest.Code, strp("unknown coordinator type")
		}
	}
	if req.Version >= 4 {
		for _, k := range req.CoordinatorKeys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key = k
			c.ErrorCode, c.ErrorMessage = find(k)
			c.NodeID, c.Host, c.Port = -1, "", -1
			if c.ErrorCode == 0 {
				c.NodeID, c.Host, c.Port = nodeID, b.host, b.port
			}
			resp.Coordinators = append(resp.Coordinators, c)
		}
		return now(resp)
	}
	resp.ErrorCode, resp.ErrorMessage = find(req.CoordinatorKey)
	resp.NodeID, resp.Host, resp.Port = -1, "", -1
	if resp.ErrorCode == 0 {
		resp.NodeID, resp.Host, resp.Port = nodeID, b.host, b.port
	}
	return now(resp)
}
