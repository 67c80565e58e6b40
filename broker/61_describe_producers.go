package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers: v0
//
// The producers each partition's log has state for (storage.Log.Producers):
// id, epoch, last sequence, timestamp of the last batch or marker,
// coordinator epoch of the last marker and the first offset of the open
// transaction (-1 for none), as Kafka's ReplicaManager.activeProducerState
// answers them; kafka-transactions.sh describe-producers and find-hanging
// read them. An unknown partition is UNKNOWN_TOPIC_OR_PARTITION, a fenced
// log KAFKA_STORAGE_ERROR. The response is reserved in
// --max-response-memory (respmem.go) before any partition is read: a
// partition's producers are bounded by the producer ids the broker has
// handed out and not yet expired.

func init() { regKey(61, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	var n respSize
	n.elems(len(req.Topics), sizeOf[kmsg.DescribeProducersResponseTopic](), 8)
	for _, t := range req.Topics {
		n.str(len(t.Topic))
		n.elems(len(t.Partitions), sizeOf[kmsg.DescribeProducersResponseTopicPartition](), 16)
	}
	if err := r.reserveResponse("DescribeProducers", n); err != nil {
		return reply{}, err
	}
	// Off the read loop: a partition's producer state waits for an append
	// in progress there, and a segment roll fsyncs.
	return reply{later: func() (kmsg.Response, error) { return describeProducers(b, req, resp), nil }}, nil
}

func describeProducers(b *Broker, req *kmsg.DescribeProducersRequest, resp *kmsg.DescribeProducersResponse) *kmsg.DescribeProducersResponse {
	resp.Topics = make([]kmsg.DescribeProducersResponseTopic, 0, len(req.Topics))
	for _, t := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = t.Topic
		for _, p := range t.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			l := b.partition(t.Topic, p)
			switch {
			case l == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case l.Err() != nil:
				sp.ErrorCode = kerr.KafkaStorageError.Code
			default:
				for _, ps := range l.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch = ps.ProducerID, int32(ps.ProducerEpoch)
					ap.LastSequence, ap.LastTimestamp = ps.LastSequence, ps.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = ps.CoordinatorEpoch, ps.TxnStartOffset
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
