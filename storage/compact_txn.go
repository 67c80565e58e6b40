package storage

import (
	"encoding/binary"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactions in compaction, as Kafka's LogCleaner and its
// CleanedTransactionMetadata do them:
//
//   - the records of aborted transactions go (startCompaction collects
//     the aborted transactions; judge drops their batches, buildMap keeps
//     them out of the offset map);
//   - a commit or abort marker stays while a data batch of its
//     transaction is still in the log when a run starts (Kafka: "the
//     cleaner traversed a batch of the transaction"). A run that finds
//     none sets the marker's delete horizon, now + delete.retention.ms
//     (the batch attribute Kafka uses for it, its first timestamp the
//     horizon), and drops the transaction's aborted-index entry; a run
//     after the horizon removes the marker. So a consumer that read the
//     transaction's records before they were cleaned has
//     delete.retention.ms to read its marker as well;
//   - a marker that is its producer's last entry (the producer has no
//     data batch of its current epoch) at the producer's epoch stays, as
//     an empty control batch once removable: it carries the epoch that
//     fences the producer's older instances. So does the log's last batch
//     while the active segment is empty.

// attrDeleteHorizon is Kafka's delete-horizon flag of a batch's
// attributes (bit 6): the batch's first timestamp is then its delete
// horizon, the time after which compaction may remove it.
const attrDeleteHorizon = 0x40

// deleteHorizon returns h's delete horizon, if it has one.
func deleteHorizon(h *BatchHeader) (int64, bool) {
	if h.Attributes&attrDeleteHorizon == 0 {
		return 0, false
	}
	return h.FirstTimestamp, true
}

// scanTxns reads the batch headers of the run's segments in offset order
// and notes each marker whose transaction still has a data batch in them
// (c.markerData): a transactional data batch of the marker's producer
// after that producer's previous marker.
func (c *cleaner) scanTxns() error {
	open := map[int64]bool{} // producer id -> a transactional data batch since its last marker
	for _, s := range c.segs {
		it := newBatchIter(s.f, 0, s.size, false)
		for {
			h, pos, _, done, err := it.next()
			if done {
				break
			}
			if err != nil {
				it.release()
				return c.l.scanErr(s, pos, err)
			}
			if h.ProducerID < 0 || !h.IsTransactional() {
				continue
			}
			if !h.IsControl() {
				open[h.ProducerID] = true
				continue
			}
			if open[h.ProducerID] {
				if c.markerData == nil {
					c.markerData = map[int64]bool{}
				}
				c.markerData[h.BaseOffset] = true
				delete(open, h.ProducerID)
			}
		}
		it.release()
	}
	return nil
}

// judgeMarker decides what becomes of the control batch h (in the pass's
// range).
func (c *cleaner) judgeMarker(h *BatchHeader) (v verdict, removed int64) {
	if !h.IsTransactional() || h.ProducerID < 0 || c.markerData[h.BaseOffset] && h.NumRecords > 0 {
		return keepWhole, 0
	}
	last := c.keepMarkerHeader(h)
	if h.NumRecords == 0 {
		// Emptied by an earlier run: nothing left to time.
		if last {
			return keepWhole, 0
		}
		return dropBatch, 0
	}
	horizon, has := deleteHorizon(h)
	switch {
	case !has:
		c.dueAt(c.now + c.delMs)
		return markHorizon, 0
	case horizon > c.now:
		c.dueAt(horizon)
		return keepWhole, 0
	case last:
		return keepEmpty, int64(h.NumRecords)
	}
	return dropBatch, int64(h.NumRecords)
}

// keepMarkerHeader says whether the control batch h must stay, emptied
// if need be: it is the log's last batch while the active segment is
// empty, or its producer has no data batch of its current epoch and h is
// of that epoch (Kafka's isBatchLastRecordOfProducer).
func (c *cleaner) keepMarkerHeader(h *BatchHeader) bool {
	if h.LastOffset() == c.tail {
		return true
	}
	epoch, ok := c.producerMarkerEpoch[h.ProducerID]
	return ok && epoch == h.ProducerEpoch
}

// keptTxns returns the aborted-index entries of the segments of group
// that stay: not those whose transaction a run found with no data batch
// left (their markers are on the way out; read_committed consumers have
// nothing left to drop).
func (c *cleaner) keptTxns(txns []AbortedTxn) []AbortedTxn {
	return slices.DeleteFunc(txns, func(t AbortedTxn) bool {
		return t.LastOffset >= c.lo && t.LastOffset < c.hi && !c.markerData[t.LastOffset]
	})
}

// buildHorizon returns the control batch b with its delete horizon set
// to now + delete.retention.ms: the attribute set, the first timestamp the
// horizon, and each record's timestamp delta moved so that its timestamp
// stays (as Kafka's MemoryRecordsBuilder rebuilds it). Markers are written
// uncompressed; a compressed control batch is returned as it is.
func (c *cleaner) buildHorizon(h *BatchHeader, b []byte) []byte {
	if h.Compression() != CodecNone {
		return b
	}
	horizon := c.now + c.delMs
	body := b[BatchHeaderSize:h.Size()]
	out := append(c.buf[:0], b[:BatchHeaderSize]...)
	for i := int32(0); i < h.NumRecords; i++ {
		var rec kmsg.Record
		n, k := binary.Varint(body)
		if k <= 0 || n < 0 || n > int64(len(body)-k) {
			return b
		}
		if err := rec.ReadFrom(body); err != nil {
			return b
		}
		body = body[k+int(n):]
		rec.TimestampDelta64 = h.FirstTimestamp + rec.TimestampDelta64 - horizon
		// The length prefix covers what follows it (as buildMarker).
		enc := rec.AppendTo(nil)
		_, lk := binary.Varint(enc)
		out = binary.AppendVarint(out, int64(len(enc)-lk))
		out = append(out, enc[lk:]...)
	}
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-logOverhead))
	binary.BigEndian.PutUint16(out[offAttributes:], uint16(h.Attributes)|attrDeleteHorizon)
	binary.BigEndian.PutUint64(out[offFirstTimestamp:], uint64(horizon))
	setCRC(out)
	c.buf = out
	return out
}
