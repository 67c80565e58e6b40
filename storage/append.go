package storage

import (
	"encoding/binary"
	"errors"
	"math"
	"syscall"
)

// AppendResult describes a successful Append.
type AppendResult struct {
	BaseOffset, LastOffset int64 // offsets assigned (of the first and last record)
	LogAppendTime          int64 // -1 unless LogAppendTime; a Duplicate's is the original batch's timestamp
	LogStartOffset         int64
	Duplicate              bool // idempotent retry: offsets are those of the original append, nothing written
}

// Append validates and appends the record batches in records (a Produce
// partition's Records: one or more concatenated v2 batches).
//
// Append rewrites records in place: the base offset of every batch, under
// LogAppendTime the max timestamp, timestamp-type attribute and CRC, and
// the partition leader epoch if SetLeaderEpoch was called.
// The caller must not use records concurrently; the log does not keep it.
//
// Validation, before anything is written: lengths, magic 2, size against
// MaxMessageBytes, CRC-32C, record count; the structure of every record
// (compressed batches are decompressed to check it, then stored as
// produced); idempotent producer epoch and sequence. A retried
// batch of an idempotent producer gives Duplicate with the original
// offsets and writes nothing. Several batches of one call must be all new
// or all duplicates.
//
// Append does not wait for fsync: call WaitDurable(ctx, res.LastOffset+1).
// On an I/O error nothing of the call becomes visible; a write that
// failed with ENOSPC or EDQUOT and could be rolled back leaves the log
// usable, any other write or fsync failure fences it.
func (l *Log) Append(records []byte) (AppendResult, error) {
	maxMsg := l.maxMessageBytes()
	checks := l.recordChecks()
	nBatches, nRecords := 0, int64(0)
	for p := records; len(p) > 0; {
		h, err := parseProduced(p, maxMsg)
		if err != nil {
			return AppendResult{}, err
		}
		if err := validateBatch(&h, p, maxMsg, checks); err != nil {
			return AppendResult{}, err
		}
		nBatches++
		nRecords += int64(h.NumRecords)
		p = p[h.Size():]
	}
	if nBatches == 0 {
		return AppendResult{}, wrapErr(ErrInvalidRecord, "no record batches")
	}
	if codec := l.codec.Load(); codec >= 0 {
		var err error
		if records, err = recompress(records, int(codec), maxMsg); err != nil {
			return AppendResult{}, err
		}
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
	cfg := l.cfg
	nowMs := l.nowMs()
	res := AppendResult{BaseOffset: leo, LastOffset: leo + nRecords - 1, LogAppendTime: -1, LogStartOffset: logStart}
	if cfg.LogAppendTime {
		res.LogAppendTime = nowMs
	}

	// Idempotent producers: check every batch against the state as the
	// earlier batches of this call leave it.
	l.stage = l.stage[:0]
	l.started = l.started[:0]
	dups, off := 0, leo
	for p := records; len(p) > 0; {
		h := decodeHeader(p)
		p = p[h.Size():]
		base := off
		off += int64(h.NumRecords)
		if h.ProducerID < 0 {
			continue
		}
		st := l.staged(h.ProducerID)
		if st.known {
			if m, ok := st.e.findDuplicate(&h); ok {
				if dups == 0 {
					res.BaseOffset = m.firstOff
				}
				res.LastOffset = m.lastOff
				// As Kafka: the original batch's timestamp, whatever
				// the topic's timestamp type (its max timestamp under
				// CreateTime).
				res.LogAppendTime = m.ts
				dups++
				continue
			}
		}
		if err := st.e.check(st.known, &h); err != nil {
			return AppendResult{}, err
		}
		// Kafka's ProducerAppendInfo.appendDataBatch: a producer with an
		// open transaction writes only transactional batches until its
		// marker; its first transactional batch opens one.
		if st.e.inTxn && !h.IsTransactional() {
			return AppendResult{}, wrapErr(ErrInvalidTxnState, "producer %d has a transaction open since offset %d: expected a transactional batch", h.ProducerID, st.e.txnFirst)
		}
		ts := h.MaxTimestamp
		if cfg.LogAppendTime {
			ts = nowMs
		}
		st.e.update(&h, base, ts, nowMs)
		if !st.known {
			st.e.coordEpoch = -1
		}
		st.known = true
		if h.IsTransactional() && !st.e.inTxn {
			st.e.inTxn, st.e.txnFirst = true, base
			l.started = append(l.started, startedTxn{pid: h.ProducerID, first: base})
		}
	}
	if dups > 0 {
		if dups != nBatches {
			return AppendResult{}, wrapErr(ErrOutOfOrderSequence, "%d of %d batches are duplicates", dups, nBatches)
		}
		res.Duplicate = true
		return res, nil
	}

	if active, err = l.maybeRoll(active, int64(len(records)), res.LastOffset, nowMs); err != nil {
		return AppendResult{}, err
	}
	err = l.writeBatches(active, records, leo, nowMs, func() {
		for _, t := range l.started {
			l.txn.start(t.pid, t.first)
		}
	})
	if err != nil {
		return AppendResult{}, err
	}

	for i := range l.stage {
		st := &l.stage[i]
		if e := l.producers[st.pid]; e != nil {
			*e = st.e
		} else {
			e := st.e
			l.producers[st.pid] = &e
		}
	}
	return res, nil
}

// maybeRoll rolls the active segment if appending size bytes ending at
// offset last would pass segment.bytes, segment.ms or the 32-bit relative
// offsets of its indexes. Called with appendMu held.
func (l *Log) maybeRoll(active *segment, size, last, nowMs int64) (*segment, error) {
	cfg := l.cfg
	if active.size > 0 && (active.size+size > cfg.SegmentBytes ||
		nowMs-active.rollTime > cfg.SegmentMs ||
		last-active.base > math.MaxInt32) {
		return l.roll(active, nowMs)
	}
	return active, nil
}

// writeBatches writes the validated batches in records to the active
// segment at offset leo (rewriting their base offsets, and as configured
// their leader epoch and LogAppendTime), indexes them and moves the log
// end. publish runs under mu with the new log end, so that readers see
// the state it changes together with the records. On an error nothing
// became visible. Called with appendMu held.
func (l *Log) writeBatches(active *segment, records []byte, leo, nowMs int64, publish func()) error {
	cfg := l.cfg
	total := int64(len(records))
	off := leo
	epoch := l.leaderEpoch.Load()
	for p := records; len(p) > 0; {
		size := int64(binary.BigEndian.Uint32(p[offLength:])) + logOverhead
		b := p[:size]
		binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
		if epoch >= 0 {
			binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
		}
		if cfg.LogAppendTime {
			binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(nowMs))
			attrs := binary.BigEndian.Uint16(b[offAttributes:]) | attrLogAppendTime
			binary.BigEndian.PutUint16(b[offAttributes:], attrs)
			setCRC(b)
		}
		off += int64(binary.BigEndian.Uint32(b[offLastOffsetDelta:])) + 1
		p = p[size:]
	}

	f, err := active.f.pin()
	if err != nil {
		// Nothing written: the log stays usable.
		return ioErr("open "+active.path, err)
	}
	if n, werr := f.Write(records); werr != nil || n != len(records) {
		err := l.writeFailed(active, werr)
		active.f.unpin()
		return err
	}
	active.f.unpin()
	if l.jr != nil {
		// Durable through the journal (see Journal): its round advances
		// the high watermark.
		w := jwait{l: l, end: off, base: active.base, pos: active.size + total}
		if err := l.jr.write(l.jid, leo, records, w); err != nil {
			// The segment write goes too (and durably: see writeFailed).
			return l.writeFailed(active, err)
		}
	}

	l.mu.Lock()
	active.imu.Lock()
	pos := active.size
	interval := int64(cfg.IndexIntervalBytes)
	for p := records; len(p) > 0; {
		h := decodeHeader(p)
		active.indexBatch(&h, pos, interval)
		pos += h.Size()
		p = p[h.Size():]
	}
	active.indexDirty = true
	active.imu.Unlock()
	if active.size == 0 {
		active.rollTime = nowMs
	}
	active.size, active.end = pos, off
	l.leo = off
	if l.opts.Fsync != FsyncAlways {
		l.hw, l.hwBase, l.hwPos = off, active.base, pos
	}
	if publish != nil {
		publish()
	}
	l.pruneUnreplLocked()
	if l.opts.Fsync != FsyncAlways {
		l.notifyLocked()
	}
	if l.jr != nil {
		l.advanceJournaledLocked()
	}
	if l.opts.Fsync != FsyncNever && (len(l.dirty) == 0 || l.dirty[len(l.dirty)-1] != active) {
		active.incRef()
		active.f.dirty.Add(1) // its descriptor is closed last (Handles)
		l.dirty = append(l.dirty, active)
	}
	l.mu.Unlock()
	l.size.Add(total)

	if l.opts.Fsync == FsyncAlways && l.jr == nil {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// staged returns the staged state of pid for the current Append.
func (l *Log) staged(pid int64) *staged {
	for i := range l.stage {
		if l.stage[i].pid == pid {
			return &l.stage[i]
		}
	}
	st := staged{pid: pid}
	if e := l.producers[pid]; e != nil {
		st.known, st.e = true, *e
	}
	l.stage = append(l.stage, st)
	return &l.stage[len(l.stage)-1]
}

// maxMessageBytes is read without appendMu so that batches are validated
// (CRC over up to a megabyte) in parallel, outside the serialized section.
func (l *Log) maxMessageBytes() int32 { return l.maxMsg.Load() }

// parseProduced checks a produced batch's framing in Kafka's order: magic,
// length, size limit, then CRC. Magic 0 and 1 are older formats Produce
// v3+ may not carry (ErrUnsupportedVersion); any other magic is not a
// record batch at all (ErrCorruptMessage, as Kafka's "Invalid magic").
func parseProduced(p []byte, maxMsg int32) (BatchHeader, error) {
	if len(p) > offMagic && p[offMagic] != 2 {
		if m := int8(p[offMagic]); m != 0 && m != 1 {
			return BatchHeader{}, wrapErr(ErrCorruptMessage, "invalid magic %d", m)
		}
		return BatchHeader{}, wrapErr(ErrUnsupportedVersion, "magic %d", int8(p[offMagic]))
	}
	if len(p) < BatchHeaderSize {
		return BatchHeader{}, wrapErr(ErrCorruptMessage, "%d trailing bytes, less than a batch header", len(p))
	}
	h := decodeHeader(p)
	if h.Length < minLength {
		return h, wrapErr(ErrCorruptMessage, "batch length %d is below the minimum %d", h.Length, minLength)
	}
	if h.Size() > int64(maxMsg) {
		return h, wrapErr(ErrMessageTooLarge, "batch of %d bytes exceeds max.message.bytes %d", h.Size(), maxMsg)
	}
	return ParseBatchHeader(p)
}

// writeFailed handles a failed or short segment write: the partial bytes
// are truncated away. Running out of space is survivable once rolled back;
// anything else, or a failed rollback, fences the log.
func (l *Log) writeFailed(s *segment, werr error) error {
	if werr == nil {
		werr = errors.New("short write")
	}
	err := ioErr("append to "+s.path, werr)
	terr := s.f.Truncate(s.size)
	if terr == nil && l.jr != nil {
		// A journaled log's segment is fsynced only at checkpoints, which
		// run beside appends: one may have made the bytes rolled back
		// durable, and a crash must not bring them back in place of the
		// append that reuses their offsets.
		terr = s.f.Sync()
	}
	if terr == nil && (errors.Is(werr, syscall.ENOSPC) || errors.Is(werr, syscall.EDQUOT)) {
		l.log.Warn("append failed, rolled back", "err", werr)
		return err
	}
	if terr != nil {
		l.log.Error("rolling back a failed append", "err", terr)
	}
	l.fence(err)
	return err
}

// roll seals the active segment and starts a new one at the log end.
// Under FsyncAlways and FsyncInterval the old segment is fsynced first, so
// a crash only ever needs to recover the last segment, and the checkpoint's
// recovery point moves to the new segment. Called with appendMu held.
func (l *Log) roll(old *segment, nowMs int64) (*segment, error) {
	sync := l.opts.Fsync != FsyncNever
	newBase := l.leo // stable: only changed under appendMu
	if sync {
		if err := old.f.Sync(); err != nil {
			err = ioErr("fsync "+old.path, err)
			l.fence(err)
			return nil, err
		}
	}
	old.imu.Lock()
	old.sealTimeIndex()
	old.imu.Unlock()
	if err := l.writeIndexes(old, sync); err != nil {
		// Indexes are rebuilt from the log when missing or damaged.
		l.log.Warn("writing sealed segment indexes", "segment", old.path, "err", err)
	}
	// The aborted-transaction index is rebuilt only by a recovery that
	// scans the segment: until it is written, the recovery point stays.
	txnErr := l.writeTxnIndex(old, sync)
	if txnErr != nil {
		l.log.Warn("writing sealed segment transaction index", "segment", old.path, "err", txnErr)
	}
	ns, err := l.openSegment(newBase, true)
	if err != nil {
		return nil, err
	}
	if sync {
		if err := l.fs.SyncDir(l.dir); err != nil {
			ns.decRef()
			return nil, ioErr("sync log directory", err)
		}
	}
	ns.rollTime = nowMs
	l.mu.Lock()
	segs := make([]*segment, len(l.segs), len(l.segs)+1)
	copy(segs, l.segs)
	l.segs = append(segs, ns)
	if l.opts.Fsync == FsyncAlways && old.end > l.hw {
		l.hw, l.hwBase, l.hwPos = old.end, old.base, old.size
		l.notifyLocked()
	}
	l.mu.Unlock()
	l.log.Debug("rolled segment", "base", newBase)

	if err := l.snapshotProducers(newBase, sync); err != nil {
		l.log.Warn("writing producer snapshot", "err", err)
	}
	if sync && txnErr == nil {
		ck := l.ck
		ck.clean = false
		ck.recoveryPoint = newBase
		ck.logStart = l.LogStartOffset()
		if err := writeCheckpoint(l.fs, l.dir, ck); err != nil {
			l.log.Warn("writing checkpoint", "err", err)
		} else {
			l.ck = ck
		}
	}
	return ns, nil
}
