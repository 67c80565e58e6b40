package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// UnregisterBroker: v0; UnregisterController: v0
//
// The only node is this one, --node-id, and nothing else is ever
// registered: another broker id is BROKER_ID_NOT_REGISTERED ("Broker ID N
// is not currently registered"), another controller id
// CONTROLLER_ID_NOT_REGISTERED ("Controller ID N is not currently
// registered."), with Kafka 4.4's messages. Unregistering the node itself
// is refused with INVALID_REQUEST: on Kafka it takes the broker out of
// the cluster (Metadata lists no broker until it registers again), which
// a single node that is its own controller cannot come back from, and
// Rewind's controller is not a registration it could remove. With
// --authorizer, ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED,
// as ControllerApis checks it.

func init() {
	regKey(64, 0, 0, handleUnregisterBroker)
	regAuth(64, checkUnregisterBroker)
	regKey(94, 0, 0, handleUnregisterController)
	regAuth(94, checkUnregisterController)
}

func handleUnregisterBroker(r *request) (reply, error) {
	req := r.kreq.(*kmsg.UnregisterBrokerRequest)
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	if req.BrokerID == r.c.b.cfg.NodeID {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = strp(fmt.Sprintf("Broker ID %d is this node, the only one of the cluster: it cannot be unregistered", req.BrokerID))
		return now(resp)
	}
	resp.ErrorCode = kerr.BrokerIDNotRegistered.Code
	resp.ErrorMessage = strp(fmt.Sprintf("Broker ID %d is not currently registered", req.BrokerID))
	return now(resp)
}

func handleUnregisterController(r *request) (reply, error) {
	req := r.kreq.(*kmsg.UnregisterControllerRequest)
	resp := req.ResponseKind().(*kmsg.UnregisterControllerResponse)
	if req.ControllerID == r.c.b.cfg.NodeID {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = strp(fmt.Sprintf("Controller ID %d is this node, the only one of the cluster: it cannot be unregistered", req.ControllerID))
		return now(resp)
	}
	resp.ErrorCode = kerr.ControllerIDNotRegistered.Code
	resp.ErrorMessage = strp(fmt.Sprintf("Controller ID %d is not currently registered.", req.ControllerID))
	return now(resp)
}

// checkUnregisterBroker and checkUnregisterController: ALTER on the cluster.
func checkUnregisterBroker(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationAlter) {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.UnregisterBrokerResponse) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}), nil, nil
}

func checkUnregisterController(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationAlter) {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.UnregisterControllerResponse) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}), nil, nil
}
