package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ElectLeaders: v0-2
//
// Every partition has one replica, --node-id, which leads it: there is
// never a leader to elect, preferred (type 0, and v0) or unclean (type
// 1). As a single-node Kafka answers:
//
//   - each partition named: ELECTION_NOT_NEEDED; one that does not exist
//     UNKNOWN_TOPIC_OR_PARTITION ("No such partition as T-P", or "No such
//     topic as T");
//   - Topics null (every partition): every topic, internal ones included,
//     with no partitions, since Kafka lists only the partitions an
//     election changed or failed;
//   - another election type (v1+): INVALID_REQUEST at the top and on every
//     partition.
//
// A partition named twice is answered twice, as Kafka does. The response is reserved in
// --max-response-memory (respmem.go); one that alone would exceed it is
// INVALID_REQUEST from v1 and closes the connection at v0. With
// --authorizer, ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED
// at the top (v1+) and on every partition, as KafkaApis answers.

func init() {
	regKey(43, 0, 2, handleElectLeaders)
	regAuth(43, checkElectLeaders)
}

// electAll answers every partition of req with code and msg.
func electAll(req *kmsg.ElectLeadersRequest, resp *kmsg.ElectLeadersResponse, code int16, msg *string) {
	for _, rt := range req.Topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.ErrorMessage = p, code, msg
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}

var electionNotNeeded = strp("Leader election not needed for topic partition.")

func handleElectLeaders(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)

	var n respSize
	n.elems(len(req.Topics), sizeOf[kmsg.ElectLeadersResponseTopic](), 8)
	for _, rt := range req.Topics {
		n.str(len(rt.Topic) + 64) // and in a message
	}
	n.elems(countParts(req.Topics, electTopic), sizeOf[kmsg.ElectLeadersResponseTopicPartition](), 64)
	if err := r.reserveResponse("ElectLeaders", n); err != nil {
		var tl *respTooLarge
		if errors.As(err, &tl) && req.Version >= 1 {
			resp.ErrorCode = invalidRequest
			return now(resp)
		}
		return reply{}, err
	}

	if req.Version >= 1 && req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		electAll(req, resp, kerr.InvalidRequest.Code, strp(fmt.Sprintf("Unknown election type %d", req.ElectionType)))
		return now(resp)
	}
	if req.Topics == nil {
		for _, t := range b.reg.list() {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = t.Name
			resp.Topics = append(resp.Topics, st)
		}
		return now(resp)
	}
	for _, rt := range req.Topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		meta, exists := b.topicMeta(rt.Topic)
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			switch {
			case !exists:
				sp.ErrorCode, sp.ErrorMessage = kerr.UnknownTopicOrPartition.Code, strp("No such topic as "+rt.Topic)
			case p < 0 || p >= meta.Partitions:
				sp.ErrorCode, sp.ErrorMessage = kerr.UnknownTopicOrPartition.Code, strp(fmt.Sprintf("No such partition as %s-%d", rt.Topic, p))
			default:
				sp.ErrorCode, sp.ErrorMessage = kerr.ElectionNotNeeded.Code, electionNotNeeded
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}

func electTopic(t *kmsg.ElectLeadersRequestTopic) (string, *[]int32) { return t.Topic, &t.Partitions }

// checkElectLeaders: ALTER on the cluster.
func checkElectLeaders(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationAlter) {
		return nil, nil, nil
	}
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	return respond(r, func(resp *kmsg.ElectLeadersResponse) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		electAll(req, resp, kerr.ClusterAuthorizationFailed.Code, nil)
	}), nil, nil
}
