package broker

import (
	"fmt"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions: v0-3
//
// Grows a topic; the count must increase (INVALID_PARTITIONS otherwise).
// Manual assignments may only name node 0. v1 is v0; v2 flexible; v3 same.
// All or nothing (registry.addPartitions): if a new partition cannot be opened the
// answer is KAFKA_STORAGE_ERROR and the topic keeps its old count, with no
// new directory. Past --max-broker-partitions: POLICY_VIOLATION.
//
// As Kafka's controller, a topic named more than once is not changed and is
// answered once with INVALID_REQUEST. The response is reserved in
// --max-response-memory (respmem.go); a request whose response alone would
// exceed it closes the connection and changes nothing.
//
// The controller mutation quota (quota_mutation.go) charges each topic the
// partitions it adds once it is found valid (ValidateOnly too); strict in
// v3: a topic met with the quota exhausted gets THROTTLING_QUOTA_EXCEEDED.

func init() { regKey(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	var n respSize
	n.set(len(seen))
	n.elems(len(seen), sizeOf[kmsg.CreatePartitionsResponseTopic](), 64)
	for name := range seen {
		n.str(len(name))
	}
	if err := r.reserveResponse("CreatePartitions", n); err != nil {
		return reply{}, err
	}
	mq := r.mutationQuota(3)
	resp.Topics = make([]kmsg.CreatePartitionsResponseTopic, 0, len(seen))
	for _, rt := range req.Topics {
		if seen[rt.Topic] < 0 {
			continue // a repeated name, answered at its first
		}
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if seen[rt.Topic] > 1 {
			seen[rt.Topic] = -1
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, dupTopicName
		} else {
			st.ErrorCode, st.ErrorMessage = createPartitionsOne(b, rt, req.ValidateOnly, mq)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.throttleMutations(mq)
	return now(resp)
}

// createPartitionsOne grows one topic of a CreatePartitions request (and of
// the admin listener's, with no quota), charging mq, and returns the
// answer's code and message.
func createPartitionsOne(b *Broker, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool, mq *mutationQuota) (int16, *string) {
	meta, ok := b.topicMeta(rt.Topic)
	switch {
	case !ok:
		return kerr.UnknownTopicOrPartition.Code, nil
	case meta.Internal:
		return kerr.InvalidTopicException.Code, strp("internal topic " + rt.Topic + " cannot be changed")
	case !validAssignment(b.cfg.NodeID, rt.Assignment):
		return kerr.InvalidReplicaAssignment.Code, strp(fmt.Sprintf("the only broker is node %d", b.cfg.NodeID))
	case !validateOnly && b.disk.writable() != nil:
		return kerr.KafkaStorageError.Code, strp(b.disk.writable().Error())
	}
	return catalogErrorCode(b.reg.addPartitions(rt.Topic, rt.Count, validateOnly, mq.admit))
}

func validAssignment(node int32, as []kmsg.CreatePartitionsRequestTopicAssignment) bool {
	for _, a := range as {
		if len(a.Replicas) != 1 || a.Replicas[0] != node {
			return false
		}
	}
	return true
}
