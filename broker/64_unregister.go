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
	regAuth(64, clusterCheck(kmsg.ACLOperationAlter, func(r *kmsg.UnregisterBrokerResponse, code int16) { r.ErrorCode = code }))
	regKey(94, 0, 0, handleUnregisterController)
	regAuth(94, clusterCheck(kmsg.ACLOperationAlter, func(r *kmsg.UnregisterControllerResponse, code int16) { r.ErrorCode = code }))
}

// unregistered is the answer to unregistering node id as a kind ("Broker"
// or "Controller") that is not registered with code notRegistered and
// Kafka's message for it (which ends in end).
func unregistered(self, id int32, kind string, notRegistered int16, end string) (int16, *string) {
	if id == self {
		return kerr.InvalidRequest.Code, strp(fmt.Sprintf("%s ID %d is this node, the only one of the cluster: it cannot be unregistered", kind, id))
	}
	return notRegistered, strp(fmt.Sprintf("%s ID %d is not currently registered%s", kind, id, end))
}

func handleUnregisterBroker(r *request) (reply, error) {
	req := r.kreq.(*kmsg.UnregisterBrokerRequest)
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	resp.ErrorCode, resp.ErrorMessage = unregistered(r.c.b.cfg.NodeID, req.BrokerID, "Broker", kerr.BrokerIDNotRegistered.Code, "")
	return now(resp)
}

func handleUnregisterController(r *request) (reply, error) {
	req := r.kreq.(*kmsg.UnregisterControllerRequest)
	resp := req.ResponseKind().(*kmsg.UnregisterControllerResponse)
	resp.ErrorCode, resp.ErrorMessage = unregistered(r.c.b.cfg.NodeID, req.ControllerID, "Controller", kerr.ControllerIDNotRegistered.Code, ".")
	return now(resp)
}
