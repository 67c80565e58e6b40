package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-4
//
// This broker coordinates every group. Transaction coordinators do not
// exist (no transactions): COORDINATOR_NOT_AVAILABLE with a message.
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
			return 0, nil
		case 1:
			return kerr.CoordinatorNotAvailable.Code, strp("transactions are not supported by Rewind")
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
