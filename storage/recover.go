package storage

import (
	"cmp"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/rewindhq/rewind/storage/vfs"
)

// load reads the directory and recovers; see Open.
func (l *Log) load() error {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return ioErr("read log directory", err)
	}
	if changed, err := l.finishCompaction(entries); err != nil {
		return err
	} else if changed {
		if entries, err = l.fs.ReadDir(l.dir); err != nil {
			return ioErr("read log directory", err)
		}
	}
	var bases []int64
	names := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		names[name] = true
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			// An interrupted atomic replace: the original is intact.
			if err := l.fs.Remove(l.path(name)); err != nil {
				return ioErr("remove temporary file", err)
			}
		case strings.HasSuffix(name, logSuffix):
			if b, ok := parseBaseName(name, logSuffix); ok {
				bases = append(bases, b)
			}
		case strings.HasSuffix(name, snapshotSuffix):
			if b, ok := parseBaseName(name, snapshotSuffix); ok {
				l.snapshots = append(l.snapshots, b)
			}
		}
	}
	slices.Sort(bases)
	slices.Sort(l.snapshots)

	ck, ckErr := readCheckpoint(l.fs, l.dir)
	haveCk := ckErr == nil
	if ckErr != nil && !errors.Is(ckErr, fs.ErrNotExist) {
		if !errors.Is(ckErr, errBadCheckpoint) {
			return ioErr("read checkpoint", ckErr)
		}
		l.log.Warn("checkpoint unreadable, recovering every segment", "err", ckErr)
	}
	// A log holding less than its checkpoint recorded lost files to
	// something else than a crash: fenced, with the files and the
	// checkpoint (the record of what was there) left as they are.
	orphans := orphanIndexes(names)
	var short bool
	if haveCk {
		if err := checkLength(l.dir, ck, bases, orphans); err != nil {
			l.fence(missingErr(err))
			short = true
		}
	}
	// Other index files whose segment is gone are left over from an
	// interrupted deletion (the .log file is removed first).
	for _, b := range orphans {
		if short {
			break
		}
		for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if name := segmentName(b, suf); names[name] {
				if err := l.fs.Remove(l.path(name)); err != nil {
					return ioErr("remove orphan index", err)
				}
			}
		}
	}

	if len(bases) == 0 && short {
		// A handle opened on demand only, never creating the file: the
		// directory stays as it was found.
		p := l.path(segmentName(ck.activeBase, logSuffix))
		l.segs = []*segment{newSegment(ck.activeBase, p, l.opts.Handles.newHandle(l.fs, p, nil, false))}
	} else if len(bases) == 0 {
		base := int64(0)
		if haveCk {
			base = max(ck.logStart, ck.leo, 0)
		}
		s, err := l.openSegment(base, true)
		if err != nil {
			return err
		}
		l.segs = []*segment{s}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return ioErr("sync log directory", err)
		}
	} else {
		for _, b := range bases {
			s, err := l.openSegment(b, false)
			if err != nil {
				return err
			}
			l.segs = append(l.segs, s)
			// By name: no descriptor until the segment is used.
			fi, err := l.fs.Stat(s.path)
			if err != nil {
				return ioErr("stat segment", err)
			}
			s.size = fi.Size()
		}
		if last := l.segs[len(l.segs)-1]; haveCk && !short {
			if err := checkActiveSize(last.path, ck, last.base, last.size); err != nil {
				l.fence(missingErr(err))
				short = true
			}
		}
	}
	for i, s := range l.segs[:len(l.segs)-1] {
		s.end = l.segs[i+1].base
	}
	if haveCk && len(l.segs) > 1 && !short {
		// Segments wholly below the log start are left over from a
		// deletion interrupted after its checkpoint was written.
		n := 0
		for n < len(l.segs)-1 && l.segs[n].end <= ck.logStart {
			n++
		}
		// Released and taken out of l.segs before any removal can fail:
		// Open releases what is left in l.segs when load fails.
		dead := l.segs[:n]
		l.segs = l.segs[n:]
		for _, s := range dead {
			s.decRef()
		}
		for _, s := range dead {
			for _, p := range []string{s.path, s.indexPath(), s.timeIndexPath(), s.txnIndexPath()} {
				if err := l.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return ioErr("remove deleted segment", err)
				}
			}
		}
	}
	last := l.segs[len(l.segs)-1]
	now := l.nowMs()

	// Which segments need a recovery scan?
	clean := haveCk && ck.clean && ck.activeBase == last.base && ck.activeSize == last.size && ck.leo >= last.base
	first := len(l.segs) // index of the first segment to scan
	if clean {
		last.end = ck.leo
		if err := l.loadActiveIndexes(last); err != nil {
			l.log.Warn("active segment indexes unusable after clean shutdown, rebuilding", "segment", last.path, "err", err)
			first = len(l.segs) - 1
			last.end = last.base
		}
	} else {
		first = 0
		if haveCk {
			for i, s := range l.segs {
				if s.base <= ck.recoveryPoint {
					first = i
				}
			}
		}
		if len(l.segs) > 1 || last.size > 0 {
			l.log.Info("log was not shut down cleanly, recovering", "segments", len(l.segs)-first, "from_offset", l.segs[first].base)
		}
	}

	// Segments below the scan keep their index files; load what Open needs
	// (the largest timestamp) and rebuild them when missing or damaged.
	for _, s := range l.segs[:first] {
		if l.fenced != nil {
			break
		}
		if err := l.loadSealedMeta(s); err != nil {
			return err
		}
	}
	for i := first; i < len(l.segs) && l.fenced == nil; i++ {
		s := l.segs[i]
		isLast := i == len(l.segs)-1
		var durable int64
		if haveCk && !ck.clean && ck.activeBase == s.base {
			// The previous Open found (or made) this many bytes of the
			// segment durable: damage below is corruption, not a torn write.
			durable = min(ck.activeSize, s.size)
		}
		// Under FsyncNever a roll does not fsync the sealed segment, so a
		// power loss can tear the tail of any segment the scan reads, not
		// only the last one's.
		torn := isLast || l.opts.Fsync == FsyncNever
		if err := l.recoverSegment(s, isLast, torn, durable); err != nil {
			return err
		}
		if !isLast && l.fenced == nil {
			if err := l.writeIndexes(s, false); err != nil {
				return err
			}
		}
	}
	if first < len(l.segs) && l.fenced == nil && l.opts.Fsync != FsyncNever {
		// What recovery read may still be only in the page cache (the
		// process died, not the machine): make it durable before it
		// becomes visible.
		for _, s := range l.segs[first:] {
			if err := s.f.Sync(); err != nil {
				return ioErr("fsync recovered segment", err)
			}
		}
	}

	if last.size > 0 {
		l.setRollTime(last, now)
	}
	for _, s := range l.segs {
		l.size.Add(s.size)
	}
	l.leo = last.end
	l.hw, l.hwBase, l.hwPos = l.leo, last.base, last.size
	l.logStart = l.segs[0].base
	if haveCk {
		l.logStart = max(l.logStart, ck.logStart)
	}
	l.logStart = min(l.logStart, l.leo)

	if l.fenced == nil {
		// Aborted-transaction indexes: loaded from their files below the
		// recovery scan, rebuilt by the producer-state replay from it on.
		scanFrom := int64(math.MaxInt64)
		if first < len(l.segs) {
			scanFrom = l.segs[first].base
		}
		rebuildFrom := l.loadTxnIndexes(names, scanFrom)
		if err := l.loadProducers(rebuildFrom); err != nil {
			return err
		}
		for _, s := range l.segs {
			if s.txnRebuild {
				mergeFileTxns(s)
			}
		}
		if l.fenced == nil {
			for _, s := range l.segs[:len(l.segs)-1] {
				if s.txnRebuild {
					if err := l.writeTxnIndex(s, l.opts.Fsync != FsyncNever); err != nil {
						return err
					}
				}
			}
		}
		for _, s := range l.segs {
			s.txnRebuild = false
		}
	}

	if short {
		return nil // the checkpoint is the evidence: kept as it is
	}
	// The checkpoint now says "not clean" until the next Close, so a
	// crash from here on is recovered.
	rp := last.base
	if l.fenced != nil {
		rp = l.segs[0].base
	} else if l.opts.Fsync == FsyncNever && !clean {
		// Nothing was fsynced: the next recovery starts where this one did.
		rp = l.segs[min(first, len(l.segs)-1)].base
	}
	l.ck = checkpoint{logStart: l.logStart, recoveryPoint: rp}
	if l.fenced == nil && (clean || l.opts.Fsync != FsyncNever) {
		// Everything in the active segment now is durable (fsynced by the
		// last Close or by the recovery above): record how much, so that the
		// next recovery fences damage there instead of truncating it.
		l.ck.activeBase, l.ck.activeSize = last.base, last.size
	}
	if clean && l.fenced == nil {
		// The files are exactly as the clean checkpoint says, and stay so
		// until the first change. Open writes this checkpoint in the
		// background, before any change (see Open): a broker with
		// thousands of partitions serves at once instead of waiting for
		// thousands of fsyncs.
		l.ckDeferred = true
		return nil
	}
	if err := writeCheckpoint(l.fs, l.dir, l.ck); err != nil {
		return ioErr("write checkpoint", err)
	}
	return nil
}

// setRollTime restores the segment.ms clock of a reopened active segment.
// The wall-clock time of its first append is not stored; the first batch's
// timestamp stands in for it when plausible (within the last SegmentMs, as
// it is for LogAppendTime or for clients with sane clocks), else the clock
// restarts now. Kafka uses the first batch's timestamp unconditionally,
// which makes a log of old timestamps roll on every append.
func (l *Log) setRollTime(s *segment, now int64) {
	s.rollTime = now
	if s.size < BatchHeaderSize {
		return
	}
	var b [BatchHeaderSize]byte
	if _, err := s.f.ReadAt(b[:], 0); err == nil {
		if ts := decodeHeader(b[:]).MaxTimestamp; ts <= now && ts > now-l.cfg.SegmentMs {
			s.rollTime = ts
		}
	}
}

// loadActiveIndexes loads the active segment's index files after a clean
// shutdown.
func (l *Log) loadActiveIndexes(s *segment) error {
	idx, err := readWhole(l.fs, s.indexPath())
	if err != nil {
		return err
	}
	tidx, err := readWhole(l.fs, s.timeIndexPath())
	if err != nil {
		return err
	}
	if err := checkIndex(idx, s.base, s.end, s.size); err != nil {
		return err
	}
	if err := checkTimeIndex(tidx, s.base, s.end); err != nil {
		return err
	}
	if s.size > 0 && len(tidx) == 0 {
		return errors.New("empty time index")
	}
	s.idx, s.tidx, s.loaded = idx, tidx, true
	if ts, off, ok := lastTimeEntry(tidx, s.base); ok {
		s.maxTs, s.maxTsOff = ts, off
	}
	// Index entries are added every IndexIntervalBytes; resume counting
	// from the last one.
	if n := len(idx); n > 0 {
		pos, _ := indexLookup(idx, s.base, s.end)
		s.sinceIndex = s.size - pos
	} else {
		s.sinceIndex = s.size
	}
	return nil
}

// loadSealedMeta prepares a sealed segment that recovery does not scan:
// it needs the largest timestamp (from the time index's last entry). The
// indexes themselves are loaded on first use. Missing or misshapen index
// files are rebuilt now.
func (l *Log) loadSealedMeta(s *segment) error {
	bad := func(why string, err error) error {
		if err != nil {
			why += ": " + err.Error()
		}
		l.log.Warn("rebuilding segment indexes", "segment", s.path, "reason", why)
		return l.rebuildSealed(s)
	}
	ifi, err := l.fs.Stat(s.indexPath())
	if err != nil {
		return bad("offset index unreadable", err)
	}
	if ifi.Size()%indexEntrySize != 0 {
		return bad("offset index size", nil)
	}
	tf, err := l.fs.OpenFile(s.timeIndexPath(), os.O_RDONLY, 0)
	if err != nil {
		return bad("time index unreadable", err)
	}
	defer tf.Close()
	tfi, err := tf.Stat()
	if err != nil {
		return bad("time index unreadable", err)
	}
	n := tfi.Size()
	if n%timeIndexEntrySize != 0 || (n == 0 && s.size > 0) {
		return bad("time index size", nil)
	}
	if n > 0 {
		var e [timeIndexEntrySize]byte
		if _, err := tf.ReadAt(e[:], n-timeIndexEntrySize); err != nil {
			return bad("time index unreadable", err)
		}
		ts, off, _ := lastTimeEntry(e[:], s.base)
		if off >= s.end {
			return bad("time index entry past the segment", nil)
		}
		s.maxTs, s.maxTsOff = ts, off
	}
	return nil
}

// rebuildSealed rebuilds a sealed segment's indexes by scanning it. A bad
// batch there is corruption in the middle of the log: the log is fenced.
func (l *Log) rebuildSealed(s *segment) error {
	if err := l.recoverSegment(s, false, false, 0); err != nil || l.fenced != nil {
		return err
	}
	return l.writeIndexes(s, l.opts.Fsync != FsyncNever)
}

// recoverSegment scans s batch by batch, checking lengths, magic, offsets
// and CRCs, and rebuilds its in-memory indexes, size, end offset and
// largest timestamp. durable is how many leading bytes of s are known to
// have been durable before the crash.
//
// A bad batch in a segment a crash may have torn (torn: the last one, and
// under FsyncNever every segment the recovery scan reads, since rolls do
// not fsync them) is a torn tail and is truncated, unless it cannot be
// one: it lies in the durable prefix, or valid batches continuing the
// offsets follow it and the damage is not the zeroed sectors a lost
// page-cache write leaves (a crash tears only the end of what was
// written). That is corruption in the middle of the segment: the log is
// fenced and the files are left alone. In another segment a bad batch
// fences the log too, unless everything from it to the end of the file is
// zeros (a tail the OS never flushed), which is truncated.
func (l *Log) recoverSegment(s *segment, isLast, torn bool, durable int64) error {
	wantEnd := s.end
	s.idx, s.tidx = s.idx[:0], s.tidx[:0]
	s.end, s.maxTs, s.maxTsOff, s.sinceIndex = s.base, -1, s.base, 0
	it := newBatchIter(s.f, 0, s.size, true)
	defer it.release()
	var badPos int64 = -1
	var badErr error
	for {
		h, pos, _, done, err := it.next()
		if done {
			break
		}
		// Compaction leaves gaps between the batches of sealed segments;
		// the active segment is never compacted.
		if err == nil && (h.BaseOffset < s.end || isLast && h.BaseOffset != s.end) {
			err = wrapErr(errBadBatch, "base offset %d, expected %d", h.BaseOffset, s.end)
		}
		if err != nil {
			if !errors.Is(err, errBadBatch) {
				return ioErr("recover segment", err)
			}
			badPos, badErr = pos, err
			break
		}
		s.indexBatch(&h, pos, int64(l.cfg.IndexIntervalBytes))
		s.end = h.LastOffset() + 1
	}
	s.loaded = true
	s.indexDirty = true
	if badPos >= 0 {
		zeros, err := allZero(s.f, badPos, s.size)
		if err != nil {
			return ioErr("recover segment", err)
		}
		switch {
		case badPos < durable:
			l.fence(corruptErr(s.path, badPos, "%v, inside the %d bytes that were durable", badErr, durable))
			return nil
		case !torn && !zeros:
			l.fence(corruptErr(s.path, badPos, "%v", badErr))
			return nil
		case !zeros:
			next, found, err := resync(s.f, badPos, s.size, s.end)
			if err != nil {
				return ioErr("recover segment", err)
			}
			if found {
				lost, err := hasZeroSector(s.f, badPos, next)
				if err != nil {
					return ioErr("recover segment", err)
				}
				if !lost {
					l.fence(corruptErr(s.path, badPos, "%v, and valid batches follow at byte %d: corruption in the middle of the segment, not a torn tail", badErr, next))
					return nil
				}
			}
		}
		l.log.Warn("truncating torn segment tail", "segment", s.path, "position", badPos,
			"bytes", s.size-badPos, "end_offset", s.end, "reason", badErr)
		if err := s.f.Truncate(badPos); err != nil {
			return ioErr("truncate torn tail", err)
		}
		s.size = badPos
	}
	if !isLast && wantEnd > s.end && badPos >= 0 {
		l.log.Warn("segment ends before the next one starts; those offsets are lost", "segment", s.path,
			"end_offset", s.end, "next_base", wantEnd)
	}
	if !isLast && wantEnd < s.end {
		l.fence(corruptErr(s.path, s.size, "segment runs to offset %d, past the next segment's base %d", s.end, wantEnd))
		return nil
	}
	if !isLast {
		s.end = wantEnd
	}
	s.sealTimeIndex()
	return nil
}

// resync looks for a valid batch after a bad one at from: a position
// where a batch with a base offset above expected (the bad batch's) and at
// most one offset per byte further, a plausible length and a matching CRC
// starts. A torn write leaves nothing like that behind it.
func resync(f vfs.File, from, limit, expected int64) (pos int64, found bool, err error) {
	const chunk = 1 << 20
	buf := make([]byte, 0, chunk+BatchHeaderSize)
	for start := from + 1; start+BatchHeaderSize <= limit; start += chunk {
		n := min(int64(chunk+BatchHeaderSize), limit-start)
		buf = buf[:n]
		if _, err := f.ReadAt(buf, start); err != nil {
			return 0, false, err
		}
		for i := 0; i+BatchHeaderSize <= len(buf) && i < chunk; i++ {
			if buf[i+offMagic] != 2 {
				continue
			}
			p := start + int64(i)
			h := decodeHeader(buf[i:])
			if h.BaseOffset <= expected || h.BaseOffset > expected+(p-from) ||
				h.Length < minLength || p+h.Size() > limit || h.LastOffsetDelta < 0 {
				continue
			}
			b, err := readBatch(f, p, h.Size())
			if err != nil {
				return 0, false, err
			}
			if crc32.Checksum(b[offAttributes:], castagnoli) == h.CRC {
				return p, true, nil
			}
		}
	}
	return 0, false, nil
}

// sectorSize is the granularity at which a lost write shows up as zeros.
const sectorSize = 512

// hasZeroSector reports whether [from, to) holds a whole aligned 512-byte
// sector of zeros: what a block the file system allocated but never wrote
// reads as after a power loss. from is where the bad batch starts, the
// end of the file as an earlier write left it; the block holding it was
// written then with zeros past that end, and reads so again if the OS
// did not write it back before the power went while it wrote later ones.
// So zeros from from to the end of its sector count too, when they are
// more than a real batch could start with (its base offset and nonzero
// length: 12 bytes).
func hasZeroSector(f vfs.File, from, to int64) (bool, error) {
	first := (from + sectorSize - 1) / sectorSize * sectorSize
	var buf [sectorSize]byte
	if n := first - from; n >= offLeaderEpoch && first <= to {
		if _, err := f.ReadAt(buf[:n], from); err != nil {
			return false, err
		}
		if allZeroBytes(buf[:n]) {
			return true, nil
		}
	}
	for p := first; p+sectorSize <= to; p += sectorSize {
		if _, err := f.ReadAt(buf[:], p); err != nil {
			return false, err
		}
		if buf == [sectorSize]byte{} {
			return true, nil
		}
	}
	return false, nil
}

func allZero(f io.ReaderAt, pos, end int64) (bool, error) {
	buf := make([]byte, min(end-pos, 1<<20))
	for pos < end {
		n := min(int64(len(buf)), end-pos)
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return false, err
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		pos += n
	}
	return true, nil
}

// writeIndexes writes s's in-memory indexes to its index files.
func (l *Log) writeIndexes(s *segment, sync bool) error {
	s.imu.RLock()
	idx, tidx := s.idx, s.tidx
	s.imu.RUnlock()
	if err := writeFile(l.fs, s.indexPath(), idx, sync); err != nil {
		return ioErr("write offset index", err)
	}
	if err := writeFile(l.fs, s.timeIndexPath(), tidx, sync); err != nil {
		return ioErr("write time index", err)
	}
	s.indexDirty = false
	return nil
}

// ensureIndex loads a sealed segment's index files on first use,
// rebuilding them if they fail the sanity checks.
func (l *Log) ensureIndex(s *segment) error {
	s.imu.RLock()
	ok := s.loaded
	s.imu.RUnlock()
	if ok {
		return nil
	}
	// Lock order is Log.mu before segment.imu. Only sealed segments are
	// ever unloaded, and their end and size no longer change.
	l.mu.RLock()
	end, size := s.end, s.size
	l.mu.RUnlock()
	s.imu.Lock()
	defer s.imu.Unlock()
	if s.loaded {
		return nil
	}
	if s.rebuild {
		return l.rebuildIndexLocked(s, end, size)
	}
	idx, err := readWhole(l.fs, s.indexPath())
	if err == nil {
		err = checkIndex(idx, s.base, end, size)
	}
	var tidx []byte
	if err == nil {
		tidx, err = readWhole(l.fs, s.timeIndexPath())
	}
	if err == nil {
		err = checkTimeIndex(tidx, s.base, end)
	}
	if err == nil {
		s.idx, s.tidx, s.loaded = idx, tidx, true
		return nil
	}
	l.log.Warn("segment index unusable, rebuilding from the log", "segment", s.path, "err", err)
	return l.rebuildIndexLocked(s, end, size)
}

// rebuildIndexLocked rebuilds a sealed segment's indexes from its batches
// (s.imu held). Bad data fences the log.
func (l *Log) rebuildIndexLocked(s *segment, end, size int64) error {
	var idx, tidx []byte
	var sinceIndex int64
	maxTs, maxTsOff := int64(-1), s.base
	next := s.base
	it := newBatchIter(s.f, 0, size, true)
	defer it.release()
	for {
		h, pos, _, done, err := it.next()
		if done {
			break
		}
		if err == nil && h.BaseOffset < next { // compaction leaves gaps
			err = wrapErr(errBadBatch, "base offset %d, expected %d", h.BaseOffset, next)
		}
		if err != nil {
			if errors.Is(err, errBadBatch) {
				err = corruptErr(s.path, pos, "%v", err)
				l.fence(err)
				return err
			}
			return ioErr("rebuild index", err)
		}
		if h.MaxTimestamp > maxTs {
			maxTs, maxTsOff = h.MaxTimestamp, h.BaseOffset
		}
		if pos == 0 || sinceIndex >= int64(l.cfg.IndexIntervalBytes) {
			idx = appendIndexEntry(idx, uint32(h.BaseOffset-s.base), uint32(pos))
			sinceIndex = 0
			if ts, _, ok := lastTimeEntry(tidx, s.base); !ok || maxTs > ts {
				tidx = appendTimeEntry(tidx, maxTs, uint32(maxTsOff-s.base))
			}
		}
		sinceIndex += h.Size()
		next = h.LastOffset() + 1
	}
	if ts, _, ok := lastTimeEntry(tidx, s.base); next > s.base && (!ok || maxTs > ts) {
		tidx = appendTimeEntry(tidx, maxTs, uint32(maxTsOff-s.base))
	}
	s.idx, s.tidx, s.loaded, s.rebuild = idx, tidx, true, false
	// Rewriting the files is an optimization for the next Open; a failure
	// is not fatal, the in-memory index is correct.
	if err := writeFile(l.fs, s.indexPath(), idx, false); err != nil {
		l.log.Warn("writing rebuilt offset index", "segment", s.path, "err", err)
	}
	if err := writeFile(l.fs, s.timeIndexPath(), tidx, false); err != nil {
		l.log.Warn("writing rebuilt time index", "segment", s.path, "err", err)
	}
	return nil
}

// invalidateIndex drops a sealed segment's loaded index after a lookup
// proved it wrong; the next use rebuilds it from the log. The active
// segment's index is rebuilt at once (see rebuildActiveIndex).
func (l *Log) invalidateIndex(s *segment) {
	l.mu.RLock()
	active := len(l.segs) > 0 && l.segs[len(l.segs)-1] == s
	l.mu.RUnlock()
	if active {
		l.rebuildActiveIndex(s)
		return
	}
	s.imu.Lock()
	s.loaded, s.rebuild = false, true
	s.idx, s.tidx = nil, nil
	s.imu.Unlock()
}

// rebuildActiveIndex rebuilds the active segment's indexes and largest
// timestamp from its file, after a lookup found an entry that does not
// match the log. That index was loaded from its files at a clean start (it
// is otherwise built from what was appended), so the files were damaged;
// they are rebuilt as a sealed segment's would be. Appends wait (appendMu
// keeps the segment's size still); if the file itself is bad, the log is
// fenced.
func (l *Log) rebuildActiveIndex(s *segment) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	active := len(l.segs) > 0 && l.segs[len(l.segs)-1] == s
	size, end := s.size, s.end
	l.mu.RUnlock()
	if !active || l.Err() != nil {
		return // rolled meanwhile (sealed: rebuilt on next use), or fenced
	}
	tmp := &segment{base: s.base, maxTs: -1, maxTsOff: s.base}
	next := s.base
	it := newBatchIter(s.f, 0, size, false)
	defer it.release()
	for {
		h, pos, _, done, err := it.next()
		if done {
			break
		}
		if err == nil && h.BaseOffset != next {
			err = wrapErr(errBadBatch, "base offset %d, expected %d", h.BaseOffset, next)
		}
		if err != nil {
			if errors.Is(err, errBadBatch) {
				err = corruptErr(s.path, pos, "%v", err)
			} else {
				err = ioErr("rebuild active segment index", err)
			}
			l.fence(err)
			return
		}
		tmp.indexBatch(&h, pos, int64(l.cfg.IndexIntervalBytes))
		next = h.LastOffset() + 1
	}
	if next != end {
		l.fence(corruptErr(s.path, size, "segment ends at offset %d, the log at %d", next, end))
		return
	}
	l.log.Warn("rebuilt the active segment's indexes from the log", "segment", s.path)
	l.mu.Lock()
	s.imu.Lock()
	s.idx, s.tidx, s.sinceIndex = tmp.idx, tmp.tidx, tmp.sinceIndex
	s.maxTs, s.maxTsOff = tmp.maxTs, tmp.maxTsOff
	s.loaded, s.rebuild, s.indexDirty = true, false, true
	s.imu.Unlock()
	l.mu.Unlock()
}

// loadTxnIndexes loads the aborted-transaction index files and marks the
// segments whose index the producer-state replay must rebuild instead:
// those the recovery scan reads (from scanFrom) that have no file (the
// active segment's is written only at a roll or a clean Close, so it is
// always rebuilt after a crash), and any whose file is damaged. A sealed
// segment below the scan without a file has no aborted transaction (the
// file is written, and fsynced, before the recovery point passes it). It
// returns the base of the first segment to rebuild (MaxInt64: none).
//
// A segment's file is trusted over its data where both exist: compaction
// removes aborted records, after which the log alone no longer tells
// which transactions were aborted.
func (l *Log) loadTxnIndexes(names map[string]bool, scanFrom int64) int64 {
	rebuildFrom := int64(math.MaxInt64)
	for i, s := range l.segs {
		s.txns, s.txnRebuild = nil, false
		last := i == len(l.segs)-1
		has := names[segmentName(s.base, txnIndexSuffix)]
		switch {
		case s.base >= scanFrom && (last || !has):
			s.txnRebuild = true
		case has && s.base >= scanFrom:
			// A segment the scan read (the active one's file is handled
			// above) may have lost writes under FsyncNever: its file
			// (written unsynced at the roll: empty or missing entries)
			// and its tail (the markers the file names). It is rebuilt,
			// and the file's entries whose abort marker is still there
			// are added where the rebuild found none: those of
			// transactions whose records compaction removed.
			s.txnRebuild = true
			b, err := readWhole(l.fs, s.txnIndexPath())
			if err == nil {
				s.fileTxns, err = decodeTxnIndex(b, s.base, s.end)
			}
			if err == nil {
				err = l.keepMarked(s)
			}
			if err != nil {
				l.log.Warn("transaction index unusable, rebuilding it from the log", "segment", s.path, "err", err)
				s.fileTxns = nil
			}
		case has:
			b, err := readWhole(l.fs, s.txnIndexPath())
			if err == nil {
				s.txns, err = decodeTxnIndex(b, s.base, s.end)
			}
			if err != nil {
				l.log.Warn("transaction index unusable, rebuilding it from the log (aborted transactions whose records compaction removed cannot be)", "segment", s.path, "err", err)
				s.txns, s.txnRebuild = nil, true
			}
		}
		if s.txnRebuild {
			rebuildFrom = min(rebuildFrom, s.base)
		}
	}
	return rebuildFrom
}

// keepMarked keeps the entries of s.fileTxns that name an abort marker of
// their producer at their last offset in s (whose in-memory index the
// recovery scan built).
func (l *Log) keepMarked(s *segment) error {
	kept := s.fileTxns[:0]
	for _, t := range s.fileTxns {
		pos, _ := indexLookup(s.idx, s.base, t.LastOffset)
		it := newBatchIter(s.f, pos, s.size, false)
		found := false
		for {
			h, bpos, _, done, err := it.next()
			if done || err != nil || h.BaseOffset > t.LastOffset {
				break
			}
			if h.BaseOffset == t.LastOffset && h.IsControl() && h.ProducerID == t.ProducerID {
				b, err := readBatch(s.f, bpos, h.Size())
				if err != nil {
					it.release()
					return err
				}
				m, ok := parseMarker(&h, b)
				found = ok && !m.commit
				break
			}
		}
		it.release()
		if found {
			kept = append(kept, t)
		}
	}
	s.fileTxns = kept
	return nil
}

// mergeFileTxns adds to s's rebuilt index the entries of its file that the
// rebuild did not find, in marker order.
func mergeFileTxns(s *segment) {
	for _, t := range s.fileTxns {
		if !slices.ContainsFunc(s.txns, func(r AbortedTxn) bool { return r.LastOffset == t.LastOffset }) {
			s.txns = append(s.txns, t)
		}
	}
	slices.SortFunc(s.txns, func(a, b AbortedTxn) int { return cmp.Compare(a.LastOffset, b.LastOffset) })
	s.fileTxns = nil
}

// loadProducers restores idempotent and transactional producer state: the
// newest snapshot at or below the log end and rebuildFrom (the first
// segment whose aborted-transaction index is rebuilt, which needs the
// state as of its start), then the batches after it.
func (l *Log) loadProducers(rebuildFrom int64) error {
	from := l.segs[0].base
	var keep []int64
	loaded := false
	for i := len(l.snapshots) - 1; i >= 0; i-- {
		off := l.snapshots[i]
		name := l.path(segmentName(off, snapshotSuffix))
		if off > l.leo {
			// Written before a tail we have since truncated.
			if err := l.fs.Remove(name); err != nil {
				return ioErr("remove stale producer snapshot", err)
			}
			continue
		}
		keep = append(keep, off)
		if loaded || off > rebuildFrom {
			continue
		}
		b, err := readWhole(l.fs, name)
		if err == nil {
			var pm producerMap
			var soff int64
			if soff, pm, err = decodeSnapshot(b); err == nil && soff == off {
				l.producers, from, loaded = pm, max(off, from), true
				continue
			}
		}
		l.log.Warn("ignoring unreadable producer snapshot", "snapshot", name, "err", err)
	}
	slices.Reverse(keep)
	l.snapshots = keep
	l.txn = txnState{firstOpn: -1}
	for pid, e := range l.producers {
		if e.inTxn {
			l.txn.start(pid, e.txnFirst)
		}
	}
	return l.replayProducers(from)
}

// replayProducers applies the batches at offsets >= from to the producer
// state, as Kafka's recovery does (epochs not checked but not moved back):
// transactional batches open transactions, markers end them, and an
// abort is added to the transaction index of its segment if that is
// being rebuilt (loadTxnIndexes).
func (l *Log) replayProducers(from int64) error {
	for _, s := range l.segs {
		if s.end <= from || s.size == 0 {
			continue
		}
		it := newBatchIter(s.f, 0, s.size, false)
		for {
			h, pos, _, done, err := it.next()
			if done {
				break
			}
			if err != nil {
				it.release()
				if errors.Is(err, errBadBatch) {
					l.fence(corruptErr(s.path, pos, "%v", err))
					return nil
				}
				return ioErr("replay producer state", err)
			}
			if h.BaseOffset < from || h.ProducerID < 0 {
				continue
			}
			e := l.producers[h.ProducerID]
			if e == nil {
				e = &producerEntry{epoch: -1, coordEpoch: -1}
				l.producers[h.ProducerID] = e
			}
			if h.IsControl() {
				b, err := readBatch(s.f, pos, h.Size())
				if err != nil {
					it.release()
					return ioErr("replay producer state", err)
				}
				m, ok := parseMarker(&h, b)
				if !ok {
					// Emptied by compaction, or not a transaction marker.
					// Compaction keeps a producer's last marker as an
					// empty batch for its epoch, which fences the
					// producer's older instances: take it (Kafka relies
					// on its snapshot for that).
					if h.NumRecords == 0 && !e.inTxn && h.ProducerEpoch > e.epoch {
						e.endTxn(h.ProducerEpoch, e.coordEpoch, h.MaxTimestamp)
					}
					continue
				}
				if e.inTxn {
					pid, first := h.ProducerID, e.txnFirst
					l.txn.end(pid)
					if !m.commit && s.txnRebuild {
						lso := h.BaseOffset + 1
						if l.txn.firstOpn >= 0 {
							lso = l.txn.firstOpn
						}
						s.txns = append(s.txns, AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: h.BaseOffset, LastStableOffset: lso})
					}
				}
				if h.ProducerEpoch >= e.epoch {
					e.endTxn(h.ProducerEpoch, m.coordEpoch, h.MaxTimestamp)
				} else {
					e.inTxn, e.txnFirst = false, 0
				}
				continue
			}
			if h.ProducerEpoch >= e.epoch || e.n == 0 {
				e.update(&h, h.BaseOffset, h.MaxTimestamp, h.MaxTimestamp)
			}
			if h.IsTransactional() && !e.inTxn {
				e.inTxn, e.txnFirst = true, h.BaseOffset
				l.txn.start(h.ProducerID, h.BaseOffset)
			}
		}
		it.release()
	}
	return nil
}

func allZeroBytes(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
