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
// An offset above the high watermark gets OFFSET_OUT_OF_RANGE.

func init() { regKey(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
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
