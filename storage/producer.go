package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
	"slices"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Idempotent producer state, after Kafka's ProducerStateManager: per
// producer id the current epoch and the metadata of its last five batches,
// enough to recognize a retried batch and to check that sequences follow.

const producerBatchesKept = 5

type batchMeta struct {
	firstSeq, lastSeq int32
	firstOff, lastOff int64
	ts                int64 // batch MaxTimestamp as stored (the append time under LogAppendTime)
}

type producerEntry struct {
	epoch    int16
	n        uint8
	batches  [producerBatchesKept]batchMeta // oldest first
	lastTime int64                          // ms, wall clock of the last append, for expiration
	// coordEpoch is the coordinator epoch of the producer's last marker
	// (-1 before any): a marker from an older coordinator is fenced.
	coordEpoch int32
	// inTxn says the producer has an ongoing transaction, whose first
	// record is at txnFirst (Kafka's currentTxnFirstOffset).
	inTxn    bool
	txnFirst int64
}

func (e *producerEntry) lastSeq() int32 {
	if e.n == 0 {
		return -1
	}
	return e.batches[e.n-1].lastSeq
}

func (e *producerEntry) findDuplicate(h *BatchHeader) (batchMeta, bool) {
	if h.ProducerEpoch != e.epoch {
		return batchMeta{}, false
	}
	last := h.LastSequence()
	for _, b := range e.batches[:e.n] {
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b, true
		}
	}
	return batchMeta{}, false
}

func inSequence(last, next int32) bool {
	return next == last+1 || (next == 0 && last == math.MaxInt32)
}

// check validates h against the producer's state (e, known says whether
// the log has state for it), as ProducerAppendInfo.checkProducerEpoch and
// checkSequence do in Kafka.
func (e *producerEntry) check(known bool, h *BatchHeader) error {
	if !known {
		// No state (new producer, or its batches were all deleted):
		// accept any sequence, as Kafka does since KIP-360.
		return nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return wrapErr(ErrInvalidProducerEpoch, "producer %d: epoch %d is older than the current epoch %d", h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return wrapErr(ErrOutOfOrderSequence, "producer %d: new epoch %d must start at sequence 0, got %d", h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
	default:
		if last := e.lastSeq(); !inSequence(last, h.BaseSequence) {
			return wrapErr(ErrOutOfOrderSequence, "producer %d epoch %d: expected sequence %d, got %d", h.ProducerID, e.epoch, incSeq(last, 1), h.BaseSequence)
		}
	}
	return nil
}

// update records h, stored at offsets base..base+LastOffsetDelta.
func (e *producerEntry) update(h *BatchHeader, base, ts, now int64) {
	if h.ProducerEpoch != e.epoch {
		e.epoch = h.ProducerEpoch
		e.n = 0
	}
	if e.n == producerBatchesKept {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = batchMeta{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOff: base, lastOff: base + int64(h.LastOffsetDelta), ts: ts,
	}
	e.n++
	e.lastTime = now
}

// endTxn records a transaction marker: the producer's epoch becomes the
// marker's (dropping the batch metadata of an older epoch, as Kafka's
// ProducerStateEntry.update does), its transaction is over.
func (e *producerEntry) endTxn(epoch int16, coordEpoch int32, now int64) {
	if epoch != e.epoch {
		e.epoch = epoch
		e.n = 0
	}
	e.inTxn, e.txnFirst = false, 0
	e.coordEpoch = coordEpoch
	e.lastTime = now
}

type producerMap map[int64]*producerEntry

// Snapshot file: see doc.go.
const (
	snapshotMagic   = "RWPS"
	snapshotVersion = 2 // 2 adds the coordinator epoch and the ongoing transaction
)

func encodeSnapshot(offset int64, pm producerMap) []byte {
	b := make([]byte, 0, 20+len(pm)*(31+producerBatchesKept*32)+4)
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint16(b, snapshotVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(pm)))
	pids := make([]int64, 0, len(pm))
	for pid := range pm {
		pids = append(pids, pid)
	}
	slices.Sort(pids) // deterministic files
	for _, pid := range pids {
		e := pm[pid]
		b = binary.BigEndian.AppendUint64(b, uint64(pid))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordEpoch))
		txnFirst := int64(-1)
		if e.inTxn {
			txnFirst = e.txnFirst
		}
		b = binary.BigEndian.AppendUint64(b, uint64(txnFirst))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTime))
		b = append(b, e.n)
		for _, m := range e.batches[:e.n] {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOff))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOff))
			b = binary.BigEndian.AppendUint64(b, uint64(m.ts))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadSnapshot = errors.New("bad producer snapshot")

func decodeSnapshot(b []byte) (offset int64, pm producerMap, err error) {
	if len(b) < 24 || string(b[:4]) != snapshotMagic {
		return 0, nil, errBadSnapshot
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return 0, nil, fmt.Errorf("%w: CRC mismatch", errBadSnapshot)
	}
	v := binary.BigEndian.Uint16(b[4:])
	if v != 1 && v != snapshotVersion {
		return 0, nil, fmt.Errorf("%w: version %d", errBadSnapshot, v)
	}
	fixed := 19 // version 1: no coordinator epoch, no transaction
	if v >= 2 {
		fixed = 31
	}
	offset = int64(binary.BigEndian.Uint64(b[8:]))
	n := binary.BigEndian.Uint32(b[16:])
	p := b[20 : len(b)-4]
	pm = make(producerMap, n)
	for range n {
		if len(p) < fixed {
			return 0, nil, errBadSnapshot
		}
		pid := int64(binary.BigEndian.Uint64(p))
		e := &producerEntry{epoch: int16(binary.BigEndian.Uint16(p[8:])), coordEpoch: -1}
		q := p[10:]
		if v >= 2 {
			e.coordEpoch = int32(binary.BigEndian.Uint32(q))
			if first := int64(binary.BigEndian.Uint64(q[4:])); first >= 0 {
				e.inTxn, e.txnFirst = true, first
			}
			q = q[12:]
		}
		e.lastTime, e.n = int64(binary.BigEndian.Uint64(q)), q[8]
		p = p[fixed:]
		if e.n > producerBatchesKept || len(p) < int(e.n)*32 {
			return 0, nil, errBadSnapshot
		}
		for i := range e.batches[:e.n] {
			e.batches[i] = batchMeta{
				firstSeq: int32(binary.BigEndian.Uint32(p)),
				lastSeq:  int32(binary.BigEndian.Uint32(p[4:])),
				firstOff: int64(binary.BigEndian.Uint64(p[8:])),
				lastOff:  int64(binary.BigEndian.Uint64(p[16:])),
				ts:       int64(binary.BigEndian.Uint64(p[24:])),
			}
			p = p[32:]
		}
		pm[pid] = e
	}
	if len(p) != 0 {
		return 0, nil, errBadSnapshot
	}
	return offset, pm, nil
}

func writeSnapshot(fsys vfs.FS, dir string, offset int64, pm producerMap, sync bool) error {
	return writeFile(fsys, filepath.Join(dir, segmentName(offset, snapshotSuffix)), encodeSnapshot(offset, pm), sync)
}

// staged is a producer's state as this Append would leave it; it is applied
// to the map only once the write succeeded.
type staged struct {
	pid   int64
	known bool
	e     producerEntry
}
