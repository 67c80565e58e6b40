package storage

import (
	"errors"
	"io/fs"
	"slices"
)

// ApplyRetention enforces the topic configuration; the broker calls it
// periodically. In order:
//   - segment.ms: a non-empty active segment older than SegmentMs is rolled;
//   - retention.ms: sealed segments whose largest timestamp (the file's
//     modification time when no record has a timestamp) is older than
//     RetentionMs are deleted, oldest first; if every record of the log has
//     expired, the active segment is rolled so it can go too (as Kafka);
//   - retention.bytes: oldest sealed segments are deleted while the log
//     stays at least RetentionBytes without them;
//   - producer.id.expiration.ms: idle idempotent producer state is dropped.
//
// Only whole segments below the high watermark are deleted; the log start
// offset moves to the first remaining segment.
func (l *Log) ApplyRetention() error {
	l.segMu.Lock()
	defer l.segMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked()
	var active *segment
	var hw int64
	if err == nil {
		active, hw = l.segs[len(l.segs)-1], l.hw
	}
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	cfg := l.cfg
	now := l.nowMs()

	expired := func(s *segment) bool {
		if cfg.RetentionMs < 0 {
			return false
		}
		ts := s.maxTs
		if ts < 0 {
			fi, err := s.f.Stat()
			if err != nil {
				return false
			}
			ts = fi.ModTime().UnixMilli()
		}
		return ts < now-cfg.RetentionMs
	}

	if active.size > 0 && active.end <= hw {
		allExpired := expired(active)
		l.mu.RLock()
		for _, s := range l.segs[:len(l.segs)-1] {
			allExpired = allExpired && expired(s)
		}
		l.mu.RUnlock()
		if now-active.rollTime > cfg.SegmentMs || allExpired {
			if _, err := l.roll(active, now); err != nil {
				return err
			}
		}
	}

	l.mu.RLock()
	segs, hw := l.segs, l.hw
	l.mu.RUnlock()
	total := l.size.Load()
	n := 0
	for _, s := range segs[:len(segs)-1] {
		if s.end > hw {
			break
		}
		overSize := cfg.RetentionBytes >= 0 && total-s.size >= cfg.RetentionBytes
		if !overSize && !expired(s) {
			break
		}
		total -= s.size
		n++
	}
	var derr error
	if n > 0 {
		derr = l.deleteSegments(n, segs[n].base, "retention")
	}

	if cfg.ProducerIDExpirationMs >= 0 {
		for pid, e := range l.producers {
			// Never a producer with an open transaction (Kafka's
			// isProducerExpired): its first offset holds the LSO.
			if !e.inTxn && now-e.lastTime >= cfg.ProducerIDExpirationMs {
				delete(l.producers, pid)
			}
		}
	}
	return derr
}

// DeleteRecordsBefore advances the log start offset to offset (at most the
// high watermark; -1 means the high watermark) and deletes the whole
// segments below it. Records below the new start may remain on disk inside
// the first segment but are never returned as in range. It returns the new
// log start offset, which is durable when it returns.
func (l *Log) DeleteRecordsBefore(offset int64) (newLogStart int64, err error) {
	l.segMu.Lock()
	defer l.segMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err = l.usableLocked()
	hw, ls, leo := l.hw, l.logStart, l.leo
	var active *segment
	if err == nil {
		active = l.segs[len(l.segs)-1]
	}
	l.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return ls, wrapErr(ErrOffsetOutOfRange, "delete records before %d: outside [%d, %d]", offset, ls, hw)
	}
	if offset <= ls {
		return ls, nil
	}
	if offset == leo && active.size > 0 {
		// Everything goes: roll so that the active segment can be deleted.
		if _, err := l.roll(active, l.nowMs()); err != nil {
			return ls, err
		}
	}
	l.mu.Lock()
	l.logStart = offset
	segs := l.segs
	l.notifyLocked() // fetch sessions answer the new log start
	l.mu.Unlock()
	n := 0
	for _, s := range segs[:len(segs)-1] {
		if s.end > offset {
			break
		}
		n++
	}
	if err := l.deleteSegments(n, offset, "delete records"); err != nil {
		return offset, err
	}
	return offset, nil
}

// deleteSegments drops the n oldest segments and moves the log start to at
// least newStart; segMu and appendMu are held. The checkpoint is written
// first, so a crash part way leaves files below the log start that the
// next Open removes.
func (l *Log) deleteSegments(n int, newStart int64, why string) error {
	l.mu.Lock()
	dead := l.segs[:n]
	l.segs = slices.Clone(l.segs[n:])
	old := l.logStart
	l.logStart = max(l.logStart, newStart, l.segs[0].base)
	ls := l.logStart
	if ls != old {
		l.notifyLocked() // fetch sessions answer the new log start
	}
	l.mu.Unlock()

	ck := l.ck
	ck.clean = false
	ck.logStart = ls
	if err := writeCheckpoint(l.fs, l.dir, ck); err != nil {
		err = ioErr("write checkpoint", err)
		l.fence(err)
		return err
	}
	l.ck = ck
	var firstErr error
	for _, s := range dead {
		if s.refs.Load() > 1 {
			// A reader or a pending fsync still holds it (and no new
			// holder can come: it left l.segs): keep its file open for
			// them once the name is gone.
			if err := s.hold(); err != nil {
				l.log.Warn("keeping a deleted segment open for its readers", "segment", s.path, "err", err)
			}
		}
		for _, p := range []string{s.path, s.indexPath(), s.timeIndexPath(), s.txnIndexPath()} {
			if err := l.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
				firstErr = ioErr("delete segment", err)
			}
		}
		l.size.Add(-s.size)
		s.decRef()
	}
	if n > 0 {
		l.log.Info("deleted segments", "reason", why, "segments", n, "log_start_offset", ls)
	}
	return firstErr
}
