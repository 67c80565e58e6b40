package broker

import (
	"errors"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords: v0-2
//
// Advances a partition's log start offset; -1 means the high watermark.
// An offset above the high watermark gets OFFSET_OUT_OF_RANGE. A partition
// named more than once is done and answered once, with the offset of its
// last repetition (Kafka's handler keys the request by partition). The
// response is reserved in --max-response-memory (respmem.go); a request
// whose response alone would exceed it closes the connection.

func init() { regKey(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	req.Topics, _ = dedupTopicParts(req.Topics, deleteRecordsTopic, deleteRecordsPart)
	var n respSize
	n.elems(len(req.Topics), sizeOf[kmsg.DeleteRecordsResponseTopic](), 8)
	for _, rt := range req.Topics {
		n.str(len(rt.Topic))
	}
	n.elems(countParts(req.Topics, deleteRecordsTopic), sizeOf[kmsg.DeleteRecordsResponseTopicPartition](), 24)
	if err := r.reserveResponse("DeleteRecords", n); err != nil {
		return reply{}, err
	}
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, 0, len(req.Topics))
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, 0, len(rt.Partitions))
		meta, _ := b.topicMeta(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			l := b.partition(rt.Topic, rp.Partition)
			switch {
			case l == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case meta.Internal:
				sp.ErrorCode = kerr.PolicyViolation.Code
			default:
				off := rp.Offset
				if off == -1 {
					off = l.HighWatermark()
				}
				if off < 0 || off > l.HighWatermark() {
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
					break
				}
				lw, err := l.DeleteRecordsBefore(off)
				switch {
				case errors.Is(err, storage.ErrOffsetOutOfRange):
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
				case err != nil:
					b.log.Error("delete records failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
					sp.ErrorCode = kerr.KafkaStorageError.Code
				default:
					sp.LowWatermark = lw
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}

func deleteRecordsTopic(t *kmsg.DeleteRecordsRequestTopic) (string, *[]kmsg.DeleteRecordsRequestTopicPartition) {
	return t.Topic, &t.Partitions
}

func deleteRecordsPart(p *kmsg.DeleteRecordsRequestTopicPartition) int32 { return p.Partition }
