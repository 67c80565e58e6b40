package storage

import (
	"errors"
	"sort"
)

// OffsetForTimestamp returns the first offset at or after the log start
// whose record timestamp is >= ts, with that record's timestamp (ListOffsets
// by timestamp), or -1, -1 if there is none below the high watermark.
//
// It picks the first segment whose largest timestamp reaches ts, starts
// from the time index entry before ts, scans batch headers, and then looks
// at the records of the first batch whose MaxTimestamp reaches ts: their
// own timestamps for an uncompressed batch (walked in place), and for a
// compressed batch after decompressing it (this path is rare, so accuracy
// wins over batch granularity). LogAppendTime batches give every record the
// batch's timestamp.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	l.mu.RLock()
	if err := l.usableLocked(); err != nil {
		l.mu.RUnlock()
		return -1, -1, err
	}
	ls, hw, hwBase, hwPos := l.logStart, l.hw, l.hwBase, l.hwPos
	var s *segment
	var limit int64
	pick := func(from int) {
		s = nil
		for _, c := range l.segs[from:] {
			if c.base >= hw || c.base > hwBase {
				break
			}
			if c.maxTs >= ts && c.end > ls {
				s, limit = c, visibleLimit(c, hwBase, hwPos)
				s.incRef()
				return
			}
		}
	}
	pick(0)
	l.mu.RUnlock()

	for s != nil {
		off, t, err := l.offsetForTimestampIn(s, ts, ls, limit)
		prev := s
		s.decRef()
		if err != nil || off >= 0 {
			return off, t, err
		}
		// The segment's largest timestamp is not below the HW or the log
		// start: try the next one.
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			return -1, -1, ErrClosed
		}
		// The segment holding the offsets after it: the next one, or
		// the one Compact has merged the next ones into meanwhile.
		pick(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].end > prev.end }))
		l.mu.RUnlock()
	}
	return -1, -1, nil
}

func (l *Log) offsetForTimestampIn(s *segment, ts, ls, limit int64) (int64, int64, error) {
	if err := l.ensureIndex(s); err != nil {
		return -1, -1, err
	}
	s.imu.RLock()
	from := max(timeLookup(s.tidx, s.base, ts), ls)
	pos, _ := indexLookup(s.idx, s.base, from)
	s.imu.RUnlock()

	it := newBatchIter(s.f, pos, limit, false)
	defer it.release()
	for {
		h, bpos, _, done, err := it.next()
		if done {
			return -1, -1, nil
		}
		if err != nil {
			return -1, -1, l.scanErr(s, bpos, err)
		}
		if h.LastOffset() < from || h.MaxTimestamp < ts {
			continue
		}
		off, t, err := l.findInBatch(s, &h, bpos, from, func(_, rts int64) bool { return rts >= ts })
		if err != nil || off >= 0 {
			return off, t, err
		}
	}
}

// findInBatch returns the first record of the batch h at pos with offset
// >= from for which match(offset, timestamp) holds, or -1, -1.
func (l *Log) findInBatch(s *segment, h *BatchHeader, pos, from int64, match func(off, ts int64) bool) (int64, int64, error) {
	if h.IsLogAppendTime() {
		off := max(h.BaseOffset, from)
		if match(off, h.MaxTimestamp) {
			return off, h.MaxTimestamp, nil
		}
		return -1, -1, nil
	}
	b, err := readBatch(s.f, pos, h.Size())
	if err != nil {
		return -1, -1, l.scanErr(s, pos, err)
	}
	// Compaction leaves batches whose record i is not at BaseOffset+i.
	if h.Compression() != CodecNone || h.NumRecords != h.LastOffsetDelta+1 {
		// Streamed: a lookup holds a decoder, never the decompressed batch.
		foundOff, foundTs := int64(-1), int64(-1)
		_, err := PreviewBatch(b, from, PreviewLimits{MaxDecoded: storedDecompressLimit}, func(r RecordPreview) bool {
			if match(r.Offset, r.Timestamp) {
				foundOff, foundTs = r.Offset, r.Timestamp
				return false
			}
			return true
		})
		if err != nil {
			return -1, -1, l.scanErr(s, pos, errors.Join(errBadBatch, err))
		}
		return foundOff, foundTs, nil
	}
	foundOff, foundTs := int64(-1), int64(-1)
	err = walkRecords(b[BatchHeaderSize:], h.NumRecords, false, func(i int32, tsDelta, _ int64) bool {
		off, t := h.BaseOffset+int64(i), h.FirstTimestamp+tsDelta
		if off >= from && match(off, t) {
			foundOff, foundTs = off, t
			return false
		}
		return true
	})
	if err != nil {
		return -1, -1, l.scanErr(s, pos, errors.Join(errBadBatch, err))
	}
	return foundOff, foundTs, nil
}

// scanErr turns a scan failure into the error to return: bad data on
// disk fences the log.
func (l *Log) scanErr(s *segment, pos int64, err error) error {
	if errors.Is(err, errBadBatch) {
		cerr := corruptErr(s.path, pos, "%v", err)
		l.fence(cerr)
		return cerr
	}
	return ioErr("read "+s.path, err)
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp below the high watermark (ListOffsets -3, KIP-734), the
// earliest such record on ties; -1, -1 for an empty log.
func (l *Log) MaxTimestamp() (offset, timestamp int64, err error) {
	l.mu.RLock()
	if err := l.usableLocked(); err != nil {
		l.mu.RUnlock()
		return -1, -1, err
	}
	hw, hwBase, hwPos, ls := l.hw, l.hwBase, l.hwPos, l.logStart
	var best *segment
	bestTs, bestOff := int64(-1), int64(-1)
	var scan *segment // the HW segment, when its largest timestamp is above the HW
	for _, s := range l.segs {
		if s.base > hwBase || s.base >= hw {
			break
		}
		if s.base == hwBase && s.maxTsOff >= hw {
			scan = s
			s.incRef()
			break
		}

		if s.maxTs > bestTs {
			best, bestTs, bestOff = s, s.maxTs, s.maxTsOff
		}
	}
	var held [2]*segment // references taken under the lock
	held[0], held[1] = best, scan
	if best != nil {
		best.incRef()
	}
	l.mu.RUnlock()
	defer func() {
		for _, s := range held {
			if s != nil {
				s.decRef()
			}
		}
	}()

	if scan != nil {
		// Rare (FsyncAlways, between an append and its fsync): walk the
		// visible part of the HW segment's headers.
		it := newBatchIter(scan.f, 0, hwPos, false)
		for {
			h, bpos, _, done, err := it.next()
			if done {
				break
			}
			if err != nil {
				it.release()
				return -1, -1, l.scanErr(scan, bpos, err)
			}
			if h.MaxTimestamp > bestTs {
				best, bestTs, bestOff = scan, h.MaxTimestamp, h.BaseOffset
			}
		}
		it.release()
	}
	if best == nil || bestTs < 0 {
		return -1, -1, nil
	}

	// Find the batch at bestOff and the record in it.
	if err := l.ensureIndex(best); err != nil {
		return -1, -1, err
	}
	best.imu.RLock()
	pos, _ := indexLookup(best.idx, best.base, bestOff)
	best.imu.RUnlock()
	l.mu.RLock()
	limit := visibleLimit(best, hwBase, hwPos)
	l.mu.RUnlock()
	it := newBatchIter(best.f, pos, limit, false)
	defer it.release()
	for {
		h, bpos, _, done, err := it.next()
		if done {
			return -1, -1, nil
		}
		if err != nil {
			return -1, -1, l.scanErr(best, bpos, err)
		}
		if h.BaseOffset < bestOff {
			continue
		}
		off, t, err := l.findInBatch(best, &h, bpos, ls, func(_, rts int64) bool { return rts == bestTs })
		if err != nil || off >= 0 {
			return off, t, err
		}
		// A producer's MaxTimestamp that no record carries: the batch
		// is the best answer there is.
		return max(h.BaseOffset, ls), bestTs, nil
	}
}
