package monitor

import (
	"context"
	"errors"
	"fmt"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Records are read with plain Fetch requests sent to each partition's
// leader (no consumer group, no fetch session) and decoded with storage's
// bounded batch decoders, the ones the broker's own message browser uses.

const (
	// timeFetchBytes is read per partition to date one record: enough for
	// a batch of small records; a larger first batch comes whole (Kafka's
	// at-least-one-batch rule) when the partition is fetched alone.
	timeFetchBytes = 64 << 10
	// maxFetchPartitions bounds the partitions of one dating request.
	maxFetchPartitions = 1000
)

// fetchReq is one partition to read from an offset.
type fetchReq struct {
	k        timeKey
	maxBytes int32
}

// fetchRaw reads the partitions of reqs from their offsets, one request
// per leader (at most maxFetchPartitions each), and returns each
// partition's record batches as sent, and its error code.
func (m *Monitor) fetchRaw(ctx context.Context, v *clusterView, reqs []fetchReq) (map[timeKey][]byte, error) {
	byLeader := map[int32][]fetchReq{}
	for _, r := range reqs {
		pv, ok := v.part(r.k.tp.topic, r.k.tp.part)
		if !ok || pv.leader < 0 {
			continue
		}
		byLeader[pv.leader] = append(byLeader[pv.leader], r)
	}
	out := map[timeKey][]byte{}
	var errs []error
	for leader, rs := range byLeader {
		for len(rs) > 0 {
			n := min(len(rs), maxFetchPartitions)
			batch := rs[:n]
			rs = rs[n:]
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 0, 32<<20
			req.SessionEpoch = -1
			idx := map[string]int{}
			for _, r := range batch {
				i, ok := idx[r.k.tp.topic]
				if !ok {
					rt := kmsg.NewFetchRequestTopic()
					rt.Topic = r.k.tp.topic
					if t := v.byName[r.k.tp.topic]; t != nil {
						rt.TopicID = t.id
					}
					req.Topics = append(req.Topics, rt)
					i = len(req.Topics) - 1
					idx[r.k.tp.topic] = i
				}
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = r.k.tp.part, r.k.offset, r.maxBytes
				rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
				req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
			}
			resp, err := m.cl.Broker(int(leader)).Request(ctx, req)
			if err != nil {
				errs = append(errs, fmt.Errorf("fetch from broker %d: %w", leader, err))
				continue
			}
			fr := resp.(*kmsg.FetchResponse)
			if err := kerr.ErrorForCode(fr.ErrorCode); err != nil {
				errs = append(errs, fmt.Errorf("fetch from broker %d: %w", leader, err))
				continue
			}
			names := map[[16]byte]string{}
			for _, t := range v.topics {
				names[t.id] = t.name
			}
			offsetOf := map[tpKey]int64{}
			for _, r := range batch {
				offsetOf[r.k.tp] = r.k.offset
			}
			for _, t := range fr.Topics {
				name := t.Topic
				if name == "" {
					name = names[t.TopicID]
				}
				for _, p := range t.Partitions {
					tp := tpKey{name, p.Partition}
					off, ok := offsetOf[tp]
					if !ok || p.ErrorCode != 0 {
						continue
					}
					out[timeKey{tp: tp, offset: off}] = p.RecordBatches
				}
			}
		}
	}
	return out, errors.Join(errs...)
}

// recordTimes dates the record at (or first after) each position: the
// record's own timestamp when its batch came whole, else the batch's
// first timestamp (a batch a fetch cut short: its records are at most a
// producer's linger apart). Positions whose batch did not come (a larger
// batch behind another partition's data) are fetched again alone.
func (m *Monitor) recordTimes(ctx context.Context, v *clusterView, ks []timeKey) (map[timeKey]int64, error) {
	out := map[timeKey]int64{}
	reqs := make([]fetchReq, len(ks))
	for i, k := range ks {
		reqs[i] = fetchReq{k, timeFetchBytes}
	}
	got, err := m.fetchRaw(ctx, v, reqs)
	var again []fetchReq
	for _, k := range ks {
		if ts, ok := firstRecordTime(got[k], k.offset); ok {
			out[k] = ts
		} else if _, fetched := got[k]; fetched && len(again) < 100 {
			again = append(again, fetchReq{k, 1 << 20})
		}
	}
	for _, r := range again {
		one, err := m.fetchRaw(ctx, v, []fetchReq{r})
		if err != nil {
			continue
		}
		if ts, ok := firstRecordTime(one[r.k], r.k.offset); ok {
			out[r.k] = ts
		}
	}
	return out, err
}

func firstRecordTime(data []byte, offset int64) (int64, bool) {
	for len(data) >= storage.BatchHeaderSize {
		h, err := storage.ParseBatchHeader(data)
		if err != nil {
			if h.Magic == 2 && h.LastOffset() >= offset {
				return h.FirstTimestamp, true // cut short by the fetch
			}
			return 0, false
		}
		batch := data[:h.Size()]
		data = data[h.Size():]
		if h.LastOffset() < offset || h.Attributes&0x20 != 0 { // before it, or a control batch
			continue
		}
		var ts int64
		found := false
		storage.PreviewBatch(batch, offset, storage.PreviewLimits{MaxDecoded: storage.DecompressLimit(0)}, func(p storage.RecordPreview) bool {
			ts, found = p.Timestamp, true
			return false
		})
		if found {
			return ts, true
		}
		return h.FirstTimestamp, true
	}
	return 0, false
}

// readRecords is the broker's ReadRecords over Fetch: up to max records
// from offset on, below the high watermark, within lim.
func (m *Monitor) readRecords(ctx context.Context, topic string, part int32, offset int64, max int, lim storage.PreviewLimits) ([]storage.RecordPreview, error) {
	v := m.viewNow()
	pv, ok := v.part(topic, part)
	if !ok {
		return nil, fmt.Errorf("unknown topic or partition %s/%d", topic, part)
	}
	if offset < pv.start {
		offset = pv.start
	}
	read := func(offset int64) ([]byte, error) {
		k := timeKey{tpKey{topic, part}, offset}
		got, err := m.fetchRaw(ctx, v, []fetchReq{{k, 1 << 20}})
		return got[k], err
	}
	src := storage.BatchSource{Read: read, Partial: true, SkipControl: true}
	return storage.PreviewRecords(src, offset, max, lim)
}
