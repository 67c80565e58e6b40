package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets: v0-11
//
// v0 is still served although Kafka 4.0 removed it (KIP-896): Burrow 1.2,
// the Debian package of the compatibility matrix, lists topic offsets with
// it and would fail otherwise (it fails on Kafka 4.x; the differential
// suite lists the difference).
//
// Timestamps: -1 latest (the high watermark; for read_committed, v2+, the
// last stable offset), -2 earliest (log start),
// -3 the record with the largest timestamp (v7+), -4 earliest local (v8+,
// the log start: all data is local), -5 latest tiered (v9+, KIP-1005) and
// -6 earliest pending upload (v11+, KIP-1023), which are no offset (-1,
// no error) without tiered storage, as Kafka answers them without it; a
// special timestamp below its version, or any other negative one, is
// UNSUPPORTED_VERSION, as in Kafka 4.4; otherwise the first offset whose
// timestamp is at or after the one asked, via the time index; offset -1 and
// timestamp -1 when there is none. For read_committed, as Kafka, an offset
// found by timestamp (or -3) at or after the LSO is answered as none.
//
// As in Kafka (ListOffsetsRequest.duplicatePartitions), a partition named
// more than once is answered once, with INVALID_REQUEST; a topic named more
// than once is answered as one topic. The response is reserved in
// --max-response-memory (respmem.go); one that alone would exceed it closes
// the connection (no top-level error code).
//
// Version notes:
//   - v0: OldStyleOffsets (one offset, or none).
//   - v4: CurrentLeaderEpoch (ours is 0) and LeaderEpoch in the response.
//   - v10: TimeoutMillis, for remote storage lookups: none here.

func init() { regKey(2, 0, 11, handleListOffsets) }

// specialTimestampVersion is the first ListOffsets version serving each
// special timestamp (Kafka's ListOffsetsRequest constants).
var specialTimestampVersion = map[int64]int16{-1: 0, -2: 0, -3: 7, -4: 8, -5: 9, -6: 11}

func specialTimestampServed(ts int64, v int16) bool {
	from, ok := specialTimestampVersion[ts]
	return ok && v >= from
}

func handleListOffsets(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	var repeated map[tpKey]bool
	req.Topics, repeated = dedupTopicParts(req.Topics, listOffsetsTopic, listOffsetsPart)
	var n respSize
	n.elems(len(req.Topics), sizeOf[kmsg.ListOffsetsResponseTopic](), 8)
	for _, rt := range req.Topics {
		n.str(len(rt.Topic))
	}
	parts := countParts(req.Topics, listOffsetsTopic)
	n.elems(parts, sizeOf[kmsg.ListOffsetsResponseTopicPartition]()+8, 40) // + OldStyleOffsets
	if repeated != nil {
		n.set(parts)
	}
	if err := r.reserveResponse("ListOffsets", n); err != nil {
		return reply{}, err
	}
	committed := req.Version >= 2 && req.IsolationLevel == 1
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, 0, len(req.Topics))
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, 0, len(rt.Partitions))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, 0
			l := b.partition(rt.Topic, rp.Partition)
			switch {
			case repeated[tpKey{rt.Topic, rp.Partition}]:
				sp.ErrorCode = kerr.InvalidRequest.Code
			case l == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case l.Err() != nil:
				// Fenced: its offsets cannot be trusted either.
				sp.ErrorCode = kerr.KafkaStorageError.Code
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.Timestamp < 0 && !specialTimestampServed(rp.Timestamp, req.Version):
				sp.ErrorCode = kerr.UnsupportedVersion.Code
			case rp.Timestamp == -5, rp.Timestamp == -6:
				// No tiered storage: nothing uploaded, nothing pending.
			case rp.Timestamp == -1 && committed:
				sp.Offset = l.LastStableOffset()
			case rp.Timestamp == -1:
				sp.Offset = l.HighWatermark()
			case rp.Timestamp == -2, rp.Timestamp == -4:
				sp.Offset = l.LogStartOffset()
			case rp.Timestamp == -3:
				off, ts, err := l.MaxTimestamp()
				if err != nil {
					sp.ErrorCode = kerr.KafkaStorageError.Code
					break
				}
				sp.Offset, sp.Timestamp = off, ts
			default:
				off, ts, err := l.OffsetForTimestamp(rp.Timestamp)
				if err != nil {
					sp.ErrorCode = kerr.KafkaStorageError.Code
					break
				}
				sp.Offset, sp.Timestamp = off, ts
			}
			if committed && rp.Timestamp != -1 && rp.Timestamp != -2 && rp.Timestamp != -4 && sp.Offset >= l.LastStableOffset() {
				// As Kafka's fetchOffsetForTimestamp: for read_committed,
				// an offset found at or after the LSO is no answer.
				sp.Offset, sp.Timestamp = -1, -1
			}
			if req.Version == 0 && sp.ErrorCode == 0 && sp.Offset >= 0 && rp.MaxNumOffsets > 0 {
				sp.OldStyleOffsets = []int64{sp.Offset}
			}
			if sp.ErrorCode != 0 || sp.Offset < 0 {
				sp.LeaderEpoch = -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}

func listOffsetsTopic(t *kmsg.ListOffsetsRequestTopic) (string, *[]kmsg.ListOffsetsRequestTopicPartition) {
	return t.Topic, &t.Partitions
}

func listOffsetsPart(p *kmsg.ListOffsetsRequestTopicPartition) int32 { return p.Partition }
