package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: v2-4 (Kafka 4.0 removed v0-1, KIP-896)
//
// Clients send it after a metadata change to check that their position
// is still in the log (KIP-320): the answer is the end offset of the
// leader epoch they last saw. A Rewind partition has had one leader, at
// epoch 0 (what Metadata and ListOffsets report), so:
//
//   - epoch 0: leader epoch 0 and the log end offset, as Kafka answers for
//     its current epoch;
//   - a later epoch, or a negative one: leader epoch and end offset -1
//     with no error (Kafka's UNDEFINED_EPOCH_OFFSET);
//   - a CurrentLeaderEpoch above 0 (a client that saw a newer leader):
//     UNKNOWN_LEADER_EPOCH, as Kafka answers an epoch it has not reached;
//   - an unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION; a fenced
//     (damaged) partition: KAFKA_STORAGE_ERROR.
//
// As in Kafka, a partition named twice is answered twice (each with its
// own leader epoch). ReplicaID (a follower's id) changes nothing: there
// are no followers. The response is reserved in --max-response-memory
// (respmem.go); one that alone would exceed it closes the connection (no
// top-level error code). With --authorizer, DESCRIBE on each topic
// (TOPIC_AUTHORIZATION_FAILED otherwise), as KafkaApis checks.
//
// Version notes: v2 added CurrentLeaderEpoch and the throttle, v3 the
// replica id, v4 is flexible.

func init() {
	regKey(23, 2, 4, handleOffsetForLeaderEpoch)
	regAuth(23, checkOffsetForLeaderEpoch)
}

func handleOffsetForLeaderEpoch(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	var n respSize
	n.elems(len(req.Topics), sizeOf[kmsg.OffsetForLeaderEpochResponseTopic](), 8)
	parts := 0
	for _, rt := range req.Topics {
		n.str(len(rt.Topic))
		parts += len(rt.Partitions)
	}
	n.elems(parts, sizeOf[kmsg.OffsetForLeaderEpochResponseTopicPartition](), 24)
	if err := r.reserveResponse("OffsetForLeaderEpoch", n); err != nil {
		return reply{}, err
	}
	resp.Topics = make([]kmsg.OffsetForLeaderEpochResponseTopic, 0, len(req.Topics))
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, 0, len(rt.Partitions))
		for _, rp := range rt.Partitions {
			st.Partitions = append(st.Partitions, epochEnd(b, rt.Topic, rp))
		}
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}

// epochEnd answers one partition.
func epochEnd(b *Broker, topic string, rp kmsg.OffsetForLeaderEpochRequestTopicPartition) kmsg.OffsetForLeaderEpochResponseTopicPartition {
	sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
	sp.Partition = rp.Partition
	sp.LeaderEpoch, sp.EndOffset = -1, -1
	l := b.partition(topic, rp.Partition)
	switch {
	case l == nil:
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
	case l.Err() != nil:
		sp.ErrorCode = kerr.KafkaStorageError.Code
	case rp.CurrentLeaderEpoch > 0:
		sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
	case rp.LeaderEpoch == 0:
		sp.LeaderEpoch, sp.EndOffset = 0, l.LogEndOffset()
	}
	return sp
}

// checkOffsetForLeaderEpoch: DESCRIBE on each topic; a request with none
// authorized is answered without the handler.
func checkOffsetForLeaderEpoch(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	denied := split(&req.Topics, func(t *kmsg.OffsetForLeaderEpochRequestTopic) string { return t.Topic },
		r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic).ok)
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range denied {
			st := kmsg.NewOffsetForLeaderEpochResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				sp.LeaderEpoch, sp.EndOffset = -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			or.Topics = append(or.Topics, st)
		}
	}
	if len(req.Topics) == 0 {
		return respond(r, func(resp *kmsg.OffsetForLeaderEpochResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}
