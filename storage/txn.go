package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactions, after Kafka's ProducerStateManager and TransactionIndex.
//
// A producer's first transactional batch starts its transaction (its
// offset is the transaction's first offset); a control batch written by
// AppendMarker ends it. While a transaction is open (and until its marker
// is below the high watermark) the last stable offset (LSO) cannot pass its
// first offset: read_committed consumers read only below the LSO. An
// aborted transaction is recorded in the aborted-transaction index of the
// segment holding its marker, so that read_committed consumers can drop
// its records.

// AbortedTxn is an entry of the aborted-transaction index (Kafka's
// AbortedTxn): the producer, the transaction's first offset and its abort
// marker's offset, and the last stable offset once the marker was written
// (the first offset of the oldest transaction still open then, or the
// marker's offset + 1), which tells a search that no earlier-started
// transaction can follow.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// The .txnindex file: Kafka's format, a sequence of 34-byte entries
// (version int16 = 0 | producerId int64 | firstOffset int64 |
// lastOffset int64 | lastStableOffset int64), in marker order.
const (
	txnIndexSuffix    = ".txnindex"
	txnIndexEntrySize = 34
	txnIndexVersion   = 0
)

func encodeTxnIndex(txns []AbortedTxn) []byte {
	b := make([]byte, 0, len(txns)*txnIndexEntrySize)
	for _, t := range txns {
		b = binary.BigEndian.AppendUint16(b, txnIndexVersion)
		b = binary.BigEndian.AppendUint64(b, uint64(t.ProducerID))
		b = binary.BigEndian.AppendUint64(b, uint64(t.FirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(t.LastOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(t.LastStableOffset))
	}
	return b
}

// decodeTxnIndex decodes a .txnindex file, keeping the entries whose
// marker lies in [base, end): a file written for a compaction that did not
// commit may name markers of the segments after its own.
func decodeTxnIndex(b []byte, base, end int64) ([]AbortedTxn, error) {
	if len(b)%txnIndexEntrySize != 0 {
		return nil, fmt.Errorf("transaction index of %d bytes is not a multiple of %d", len(b), txnIndexEntrySize)
	}
	var out []AbortedTxn
	prev := int64(-1)
	for ; len(b) > 0; b = b[txnIndexEntrySize:] {
		if v := binary.BigEndian.Uint16(b); v != txnIndexVersion {
			return nil, fmt.Errorf("transaction index entry of version %d", v)
		}
		t := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		}
		// The LSO may lie before the first offset (another producer's
		// transaction open since earlier), never past the marker.
		if t.FirstOffset > t.LastOffset || t.LastOffset <= prev || t.LastStableOffset > t.LastOffset+1 {
			return nil, fmt.Errorf("transaction index entry %+v out of order", t)
		}
		prev = t.LastOffset
		if t.LastOffset >= base && t.LastOffset < end {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *segment) txnIndexPath() string {
	return strings.TrimSuffix(s.path, logSuffix) + txnIndexSuffix
}

// writeTxnIndex writes s's aborted-transaction index (removing the file
// when there is none, as Kafka creates it only for a first entry).
func (l *Log) writeTxnIndex(s *segment, sync bool) error {
	l.mu.RLock()
	txns := s.txns
	l.mu.RUnlock()
	if len(txns) == 0 {
		if err := l.fs.Remove(s.txnIndexPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ioErr("remove transaction index", err)
		}
		return nil
	}
	if err := writeFile(l.fs, s.txnIndexPath(), encodeTxnIndex(txns), sync); err != nil {
		return ioErr("write transaction index", err)
	}
	return nil
}

// txnState is the log's view of open transactions, guarded by Log.mu
// (changed with appendMu held too).
type txnState struct {
	ongoing  map[int64]int64 // producer id -> first offset of its open transaction
	firstOpn int64           // smallest value of ongoing, -1 if none
	// unrepl holds the transactions whose marker is not yet below the
	// high watermark: until it is, a crash could lose the marker, so the
	// LSO stays at their first offset (Kafka's unreplicatedTxns).
	unrepl []completedTxn
}

type completedTxn struct{ first, last int64 }

type startedTxn struct{ pid, first int64 }

// pruneUnreplLocked drops the transactions whose marker is below the high
// watermark now (Log.mu held).
func (l *Log) pruneUnreplLocked() {
	l.txn.unrepl = slices.DeleteFunc(l.txn.unrepl, func(c completedTxn) bool { return c.last < l.hw })
}

func (t *txnState) start(pid, first int64) {
	if t.ongoing == nil {
		t.ongoing = map[int64]int64{}
	}
	t.ongoing[pid] = first
	if t.firstOpn < 0 || first < t.firstOpn {
		t.firstOpn = first
	}
}

func (t *txnState) end(pid int64) {
	first, ok := t.ongoing[pid]
	if !ok {
		return
	}
	delete(t.ongoing, pid)
	if first == t.firstOpn {
		t.firstOpn = -1
		for _, f := range t.ongoing {
			if t.firstOpn < 0 || f < t.firstOpn {
				t.firstOpn = f
			}
		}
	}
}

// lsoLocked is the last stable offset (Log.mu held): the first offset of
// the oldest open transaction, or of one whose marker is not yet durable,
// capped by the high watermark and at least the log start (as Kafka's
// UnifiedLog keeps its first unstable offset at or above the log start).
func (l *Log) lsoLocked() int64 {
	lso := l.hw
	if f := l.txn.firstOpn; f >= 0 && f < lso {
		lso = f
	}
	for _, c := range l.txn.unrepl {
		if c.last >= l.hw && c.first < lso {
			lso = c.first
		}
	}
	return min(max(lso, l.logStart), l.hw)
}

// LastStableOffset returns the offset below which every transaction is
// decided (committed or aborted, with its marker durable): read_committed
// consumers read up to it. Without transactions it is the high watermark.
func (l *Log) LastStableOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lsoLocked()
}

// AbortedTransactions returns the aborted transactions a read_committed
// consumer reading [from, upTo) must know of: those whose marker is at or
// after from and whose first offset is below upTo, oldest marker first
// (Kafka's collectAbortedTransactions). The slice is the caller's.
func (l *Log) AbortedTransactions(from, upTo int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []AbortedTxn
	i := max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > from })-1, 0)
	for k, s := range l.segs[i:] {
		txns := s.txns
		if k == 0 {
			// Entries are in marker order: skip those ending before from.
			txns = txns[sort.Search(len(txns), func(j int) bool { return txns[j].LastOffset >= from }):]
		}
		for _, t := range txns {
			if t.LastOffset >= from && t.FirstOffset < upTo {
				out = append(out, t)
			}
			if t.LastStableOffset >= upTo {
				// Every transaction open at this marker started at or
				// after upTo, and later ones start later still.
				return out
			}
		}
	}
	return out
}

// Transaction versions of AppendMarker (the transaction.version feature):
// from version 2 (KIP-890) the coordinator bumps the producer epoch before
// writing the markers, so a marker must carry a newer epoch than the
// producer's last batch.
const TxnVersion2 = 2

// AppendMarker ends producer pid's transaction in this partition with a
// commit or abort marker: a control batch (attributes transactional and
// control) holding one record whose key is a ControlRecordKey (type 1
// commit, 0 abort) and whose value an EndTxnMarker with coordinatorEpoch,
// as Kafka writes it. It is what WriteTxnMarkers appends.
//
// The checks are Kafka 4.4's (ProducerAppendInfo.appendEndTxnMarker): an
// epoch older than the producer's, or under txnVersion >= TxnVersion2 the
// producer's own epoch while its transaction is open here (a late marker:
// version 2 bumps the epoch before writing them), gives
// ErrInvalidProducerEpoch; a coordinatorEpoch older than the
// producer's last marker's gives ErrTransactionCoordinatorFenced. A
// marker for a producer with no open transaction here is written all the
// same (Kafka does: it moves the producer's epoch) but starts and ends
// nothing. An abort of an open transaction adds an entry to the
// aborted-transaction index.
//
// As Append, it does not wait for fsync: call WaitDurable(ctx,
// res.LastOffset+1). The LSO moves past the transaction only once the
// marker is below the high watermark.
func (l *Log) AppendMarker(pid int64, epoch int16, coordinatorEpoch int32, commit bool, txnVersion int8) (AppendResult, error) {
	if pid < 0 || epoch < 0 {
		return AppendResult{}, wrapErr(ErrInvalidRecord, "marker for producer %d epoch %d", pid, epoch)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked()
	var active *segment
	leo, logStart := l.leo, l.logStart
	if err == nil {
		active = l.segs[len(l.segs)-1]
	}
	l.mu.RUnlock()
	if err != nil {
		return AppendResult{}, err
	}

	cur, known := producerEntry{epoch: -1, coordEpoch: -1}, false
	if e := l.producers[pid]; e != nil {
		cur, known = *e, true
	}
	// Kafka 4.4's ProducerAppendInfo.checkProducerEpoch: under version 2
	// a marker of the current epoch is a late or duplicate one, allowed
	// only as a retry once the transaction is over (nothing is open), or
	// at the last epoch (32767), which cannot be bumped.
	sameEpochOK := !cur.inTxn || epoch == math.MaxInt16
	if epoch < cur.epoch || txnVersion >= TxnVersion2 && epoch == cur.epoch && !sameEpochOK {
		cmp := "older than"
		if epoch == cur.epoch {
			cmp = "not newer than"
		}
		return AppendResult{}, wrapErr(ErrInvalidProducerEpoch, "marker of producer %d: epoch %d is %s the current epoch %d (transaction version %d)", pid, epoch, cmp, cur.epoch, txnVersion)
	}
	if cur.coordEpoch > coordinatorEpoch {
		return AppendResult{}, wrapErr(ErrTransactionCoordinatorFenced, "marker of producer %d: coordinator epoch %d is older than %d", pid, coordinatorEpoch, cur.coordEpoch)
	}

	cfg := l.cfg
	nowMs := l.nowMs()
	b := buildMarker(pid, epoch, coordinatorEpoch, commit, nowMs)
	if active, err = l.maybeRoll(active, int64(len(b)), leo, nowMs); err != nil {
		return AppendResult{}, err
	}
	res := AppendResult{BaseOffset: leo, LastOffset: leo, LogAppendTime: -1, LogStartOffset: logStart}
	if cfg.LogAppendTime {
		res.LogAppendTime = nowMs
	}
	wasOpen, first := cur.inTxn, cur.txnFirst
	cur.endTxn(epoch, coordinatorEpoch, nowMs)
	err = l.writeBatches(active, b, leo, nowMs, func() {
		if !wasOpen {
			return
		}
		l.txn.end(pid)
		l.txn.unrepl = append(l.txn.unrepl, completedTxn{first, leo})
		if !commit {
			lso := leo + 1
			if l.txn.firstOpn >= 0 {
				lso = l.txn.firstOpn
			}
			active.txns = append(active.txns, AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: leo, LastStableOffset: lso})
		}
	})
	if err != nil {
		return AppendResult{}, err
	}
	if known {
		*l.producers[pid] = cur
	} else {
		l.producers[pid] = &cur
	}
	return res, nil
}

// buildMarker encodes a control batch (base offset 0, rewritten by the
// append) ending pid's transaction, uncompressed as Kafka writes markers
// (MemoryRecords.withEndTransactionMarker).
func buildMarker(pid int64, epoch int16, coordinatorEpoch int32, commit bool, nowMs int64) []byte {
	key := kmsg.NewControlRecordKey()
	key.Type = kmsg.ControlRecordKeyTypeAbort
	if commit {
		key.Type = kmsg.ControlRecordKeyTypeCommit
	}
	val := kmsg.NewEndTxnMarker()
	val.CoordinatorEpoch = coordinatorEpoch
	rec := kmsg.Record{Key: key.AppendTo(nil), Value: val.AppendTo(nil)}
	// The length prefix covers what follows it: encode without it, then
	// prefix (as BuildBatch).
	enc := rec.AppendTo(nil)
	_, k := binary.Varint(enc)
	body := binary.AppendVarint(nil, int64(len(enc)-k))
	body = append(body, enc[k:]...)
	rb := kmsg.RecordBatch{
		Length:               int32(minLength + len(body)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrTransactional | attrControl,
		FirstTimestamp:       nowMs,
		MaxTimestamp:         nowMs,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        -1, // markers have no sequence
		NumRecords:           1,
		Records:              body,
	}
	out := rb.AppendTo(make([]byte, 0, BatchHeaderSize+len(body)))
	setCRC(out)
	return out
}

// marker is a decoded end-transaction marker.
type marker struct {
	commit     bool
	coordEpoch int32
}

// parseMarker decodes the control batch b (whole, uncompressed: markers
// are written so). ok is false for a control batch that is not an
// end-transaction marker or that compaction emptied.
func parseMarker(h *BatchHeader, b []byte) (m marker, ok bool) {
	if h.NumRecords == 0 || h.Compression() != CodecNone || int64(len(b)) < h.Size() {
		return marker{}, false
	}
	var rec kmsg.Record
	body := b[BatchHeaderSize:h.Size()]
	if n, k := binary.Varint(body); k <= 0 || n < 0 || n > int64(len(body)-k) {
		return marker{}, false
	}
	if err := rec.ReadFrom(body); err != nil {
		return marker{}, false
	}
	var key kmsg.ControlRecordKey
	if err := key.ReadFrom(rec.Key); err != nil {
		return marker{}, false
	}
	switch key.Type {
	case kmsg.ControlRecordKeyTypeAbort, kmsg.ControlRecordKeyTypeCommit:
	default:
		return marker{}, false
	}
	var val kmsg.EndTxnMarker
	if err := val.ReadFrom(rec.Value); err != nil {
		return marker{}, false
	}
	return marker{commit: key.Type == kmsg.ControlRecordKeyTypeCommit, coordEpoch: val.CoordinatorEpoch}, true
}

// ProducerState describes one producer of the partition, as
// DescribeProducers reports it.
type ProducerState struct {
	ProducerID       int64
	ProducerEpoch    int16
	LastSequence     int32 // -1 if no batch of the current epoch is known
	LastTimestamp    int64 // of its last batch or marker
	CoordinatorEpoch int32 // of its last marker, -1 if none
	TxnStartOffset   int64 // first offset of its open transaction, -1 if none
}

// Producer returns the state of producer pid, if the log has any.
func (l *Log) Producer(pid int64) (ProducerState, bool) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	e := l.producers[pid]
	if e == nil {
		return ProducerState{}, false
	}
	return e.state(pid), true
}

func (e *producerEntry) state(pid int64) ProducerState {
	ps := ProducerState{ProducerID: pid, ProducerEpoch: e.epoch, LastSequence: e.lastSeq(), LastTimestamp: e.lastTime, CoordinatorEpoch: e.coordEpoch, TxnStartOffset: -1}
	if e.n > 0 {
		ps.LastTimestamp = e.batches[e.n-1].ts
	}
	if e.inTxn {
		ps.TxnStartOffset = e.txnFirst
	}
	return ps
}

// Producers returns the partition's producers (the idempotent and
// transactional producers the log has state for), ordered by id. Like
// Producer, it waits for an append in progress (a segment roll's fsync
// included): call it off a connection's read loop.
func (l *Log) Producers() []ProducerState {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	out := make([]ProducerState, 0, len(l.producers))
	for pid, e := range l.producers {
		out = append(out, e.state(pid))
	}
	slices.SortFunc(out, func(a, b ProducerState) int {
		switch {
		case a.ProducerID < b.ProducerID:
			return -1
		case a.ProducerID > b.ProducerID:
			return 1
		}
		return 0
	})
	return out
}
