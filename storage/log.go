package storage

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Log is one partition's durable log: a directory of segments. It is safe
// for concurrent use; Append calls are serialized, reads run concurrently
// with them. Logs share no locks with each other.
type Log struct {
	dir  string
	fs   vfs.FS
	opts Options
	log  *slog.Logger

	// appendMu serializes everything that changes the files: Append,
	// rolls, retention, DeleteRecordsBefore, SetConfig, Close. The fields
	// below it are only touched with it held.
	appendMu  sync.Mutex
	cfg       Config
	producers producerMap
	stage     []staged
	snapshots []int64 // offsets of the producer snapshot files, ascending
	ck        checkpoint

	// mu guards the state readers need. It is held only for short,
	// non-blocking sections, never across I/O.
	mu       sync.RWMutex
	segs     []*segment // oldest first, the last is active; copied on change
	logStart int64
	leo      int64 // log end offset: offset of the next appended record
	hw       int64 // high watermark: offsets below are visible and durable per policy
	hwBase   int64 // base offset of the segment the HW lies in
	hwPos    int64 // byte position of the HW in that segment
	fenced   error // set once; every later read or write returns it
	closed   bool
	changed  chan struct{} // closed when hw advances; nil until someone waits
	dirty    []*segment    // segments with writes not yet fsynced (each holds a ref)
	spare    []*segment

	size        atomic.Int64 // bytes in .log files
	maxMsg      atomic.Int32 // cfg.MaxMessageBytes
	leaderEpoch atomic.Int32 // stamped into appended batches when >= 0

	kick chan struct{} // wakes the syncer (FsyncAlways)
	stop chan struct{}
	wg   sync.WaitGroup
}

// Open opens the partition log in dir, creating it if needed, and recovers
// after a crash: without a clean-shutdown checkpoint it scans the segments
// written since the last recovery point batch by batch (length, magic,
// offsets, CRC-32C), truncates a torn or corrupt tail of the last segment,
// and rebuilds indexes. Missing or damaged index files are rebuilt from the
// .log file.
//
// Corruption anywhere but in the tail of the last segment does not make
// Open fail: the log is opened fenced, every data method then returns an
// error matching ErrStorage and ErrCorruption (see Err), and the files are
// left untouched for inspection. Open itself fails only on I/O errors.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	opts = opts.normalize()
	l := &Log{
		dir:       dir,
		fs:        opts.FS,
		opts:      opts,
		log:       opts.Logger.With("log", dir),
		cfg:       cfg.normalize(),
		producers: producerMap{},
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	l.maxMsg.Store(l.cfg.MaxMessageBytes)
	l.leaderEpoch.Store(-1)
	_, statErr := l.fs.Stat(dir)
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, ioErr("create log directory", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// A new partition directory must itself survive a crash.
		if err := l.fs.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, ioErr("sync parent directory", err)
		}
	}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.decRef()
		}
		return nil, err
	}
	switch l.opts.Fsync {
	case FsyncAlways:
		l.wg.Add(1)
		go l.syncLoop()
	case FsyncInterval:
		l.wg.Add(1)
		go l.intervalLoop()
	}
	return l, nil
}

func (l *Log) nowMs() int64 { return l.opts.Now().UnixMilli() }

func (l *Log) path(name string) string { return filepath.Join(l.dir, name) }

func (l *Log) openSegment(base int64, create bool) (*segment, error) {
	p := l.path(segmentName(base, logSuffix))
	flag := os.O_RDWR | os.O_APPEND
	if create {
		flag |= os.O_CREATE | os.O_TRUNC
	}
	f, err := l.fs.OpenFile(p, flag, 0o644)
	if err != nil {
		return nil, ioErr("open segment", err)
	}
	s := newSegment(base, p, f)
	s.closeLogger = func(err error) { l.log.Warn("closing segment", "segment", p, "err", err) }
	return s, nil
}

// load reads the directory and recovers; see Open.
func (l *Log) load() error {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return ioErr("read log directory", err)
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
	// Index files whose segment is gone are left over from an interrupted
	// deletion (the .log file is removed first).
	for name := range names {
		for _, suf := range []string{indexSuffix, timeIndexSuffix} {
			if b, ok := parseBaseName(name, suf); ok && !names[segmentName(b, logSuffix)] {
				if err := l.fs.Remove(l.path(name)); err != nil {
					return ioErr("remove orphan index", err)
				}
			}
		}
	}

	ck, ckErr := readCheckpoint(l.fs, l.dir)
	haveCk := ckErr == nil
	if ckErr != nil && !errors.Is(ckErr, fs.ErrNotExist) {
		if !errors.Is(ckErr, errBadCheckpoint) {
			return ioErr("read checkpoint", ckErr)
		}
		l.log.Warn("checkpoint unreadable, recovering every segment", "err", ckErr)
	}

	if len(bases) == 0 {
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
			fi, err := s.f.Stat()
			if err != nil {
				return ioErr("stat segment", err)
			}
			s.size = fi.Size()
		}
	}
	for i, s := range l.segs[:len(l.segs)-1] {
		s.end = l.segs[i+1].base
	}
	if haveCk && len(l.segs) > 1 {
		// Segments wholly below the log start are left over from a
		// deletion interrupted after its checkpoint was written.
		n := 0
		for n < len(l.segs)-1 && l.segs[n].end <= ck.logStart {
			n++
		}
		for _, s := range l.segs[:n] {
			s.decRef()
			for _, p := range []string{s.path, s.indexPath(), s.timeIndexPath()} {
				if err := l.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return ioErr("remove deleted segment", err)
				}
			}
		}
		l.segs = l.segs[n:]
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
		if err := l.recoverSegment(s, isLast); err != nil {
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
		if err := l.loadProducers(); err != nil {
			return err
		}
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
	if err := l.recoverSegment(s, false); err != nil || l.fenced != nil {
		return err
	}
	return l.writeIndexes(s, l.opts.Fsync != FsyncNever)
}

// recoverSegment scans s batch by batch, checking lengths, magic, offsets
// and CRCs, and rebuilds its in-memory indexes, size, end offset and
// largest timestamp. A bad batch in the last segment is a torn tail and is
// truncated; in an older segment it fences the log, unless everything
// from it to the end of the file is zeros (a tail the OS never flushed,
// possible only under FsyncNever), which is truncated too.
func (l *Log) recoverSegment(s *segment, isLast bool) error {
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
		if err == nil && h.BaseOffset != s.end {
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
		if !isLast && !zeros {
			l.fence(corruptErr(s.path, badPos, "%v", badErr))
			return nil
		}
		l.log.Warn("truncating torn segment tail", "segment", s.path, "position", badPos,
			"bytes", s.size-badPos, "end_offset", s.end, "reason", badErr)
		if err := s.f.Truncate(badPos); err != nil {
			return ioErr("truncate torn tail", err)
		}
		s.size = badPos
	}
	if !isLast && wantEnd > s.end {
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

func allZero(f vfs.File, pos, end int64) (bool, error) {
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

// indexBatch updates s's in-memory state for the batch h at pos (not yet
// counted in s.size): offset index entry every interval bytes, largest
// timestamp, time index. Called with s.imu held or before s is shared.
func (s *segment) indexBatch(h *BatchHeader, pos int64, interval int64) {
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOff = h.MaxTimestamp, h.BaseOffset
	}
	if pos == 0 || s.sinceIndex >= interval {
		s.idx = appendIndexEntry(s.idx, uint32(h.BaseOffset-s.base), uint32(pos))
		s.sinceIndex = 0
		s.maybeTimeEntry()
	}
	s.sinceIndex += h.Size()
}

// maybeTimeEntry appends (maxTs, maxTsOff) to the time index if the
// largest timestamp grew since the last entry. The segment must hold at
// least one batch.
func (s *segment) maybeTimeEntry() {
	if ts, _, ok := lastTimeEntry(s.tidx, s.base); ok && s.maxTs <= ts {
		return
	}
	s.tidx = appendTimeEntry(s.tidx, s.maxTs, uint32(s.maxTsOff-s.base))
}

// sealTimeIndex adds the final time index entry (the segment's largest
// timestamp) so that a sealed segment's largest timestamp is its time
// index's last entry.
func (s *segment) sealTimeIndex() {
	if s.end > s.base {
		s.maybeTimeEntry()
	}
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
		if err == nil && h.BaseOffset != next {
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
// segment's index is built in memory from what was appended, so a wrong
// entry there means the log itself changed under us: that fences it.
func (l *Log) invalidateIndex(s *segment) {
	l.mu.RLock()
	active := len(l.segs) > 0 && l.segs[len(l.segs)-1] == s
	l.mu.RUnlock()
	if active {
		l.fence(corruptErr(s.path, 0, "active segment does not match its index"))
		return
	}
	s.imu.Lock()
	s.loaded, s.rebuild = false, true
	s.idx, s.tidx = nil, nil
	s.imu.Unlock()
}

// loadProducers restores idempotent producer state: the newest snapshot at
// or below the log end, then the batch headers after it.
func (l *Log) loadProducers() error {
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
		if loaded {
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
	return l.replayProducers(from)
}

// replayProducers applies the headers of the batches at offsets >= from.
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
				e = &producerEntry{}
				l.producers[h.ProducerID] = e
			}
			if h.ProducerEpoch >= e.epoch || e.n == 0 {
				e.update(&h, h.BaseOffset, h.MaxTimestamp, h.MaxTimestamp)
			}
		}
		it.release()
	}
	return nil
}

// fence makes the log unusable after an I/O error or corruption: every
// later read, append and WaitDurable returns err. It is never undone; an
// fsync failure in particular is never retried as a success.
func (l *Log) fence(err error) {
	l.mu.Lock()
	l.fenceLocked(err)
	l.mu.Unlock()
}

func (l *Log) fenceLocked(err error) {
	if l.fenced != nil {
		return
	}
	l.fenced = err
	l.log.Error("partition log fenced", "err", err)
	l.notifyLocked()
}

// Err returns the error that fenced the log, or nil.
func (l *Log) Err() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.fenced
}

// usableLocked returns the error a data method must return, if any.
func (l *Log) usableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.fenced
}

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// notifyLocked wakes everyone waiting on Changed (and WaitDurable).
func (l *Log) notifyLocked() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// Changed returns a channel closed the next time the high watermark
// advances, or the log is fenced, truncated or closed. Fetch long-polls
// grab the channel, check the HW, then wait on it.
func (l *Log) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.fenced != nil {
		return closedCh
	}
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// HighWatermark returns the offset below which records are visible to
// readers. Under FsyncAlways it advances only after the fsync that makes
// them durable; under FsyncInterval and FsyncNever it equals LogEndOffset.
func (l *Log) HighWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hw
}

// LogStartOffset returns the first offset of the log.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

// LogEndOffset returns the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leo
}

// Size returns the bytes of the log's segment files.
func (l *Log) Size() int64 { return l.size.Load() }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the log's current (normalized) configuration.
func (l *Log) Config() Config {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.cfg
}

// SetConfig changes the topic configuration; it applies to later appends
// and to the next ApplyRetention.
func (l *Log) SetConfig(cfg Config) {
	l.appendMu.Lock()
	l.cfg = cfg.normalize()
	l.maxMsg.Store(l.cfg.MaxMessageBytes)
	l.appendMu.Unlock()
}

// SetLeaderEpoch makes Append stamp epoch into the PartitionLeaderEpoch
// field of every batch it appends from now on, as a Kafka leader does
// (the field is outside the CRC). A negative epoch, the default, stores
// the field as produced.
func (l *Log) SetLeaderEpoch(epoch int32) { l.leaderEpoch.Store(epoch) }

// WaitDurable blocks until every offset below end is durable per the fsync
// policy: fsynced under FsyncAlways (one fsync of the background syncer
// covers every append waiting, group commit), written under FsyncInterval
// and FsyncNever. It returns an error matching ErrStorage (and wrapping the
// cause) if the fsync failed; the log is then fenced and the failure is
// never turned into a success by a later fsync. It returns ctx.Err() if ctx
// ends first, and ErrClosed if the log is closed before end is durable.
func (l *Log) WaitDurable(ctx context.Context, end int64) error {
	for {
		l.mu.Lock()
		if l.hw >= end {
			l.mu.Unlock()
			return nil
		}
		if err := l.usableLocked(); err != nil {
			l.mu.Unlock()
			return err
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close flushes and fsyncs the log, writes its indexes, a producer state
// snapshot and a clean-shutdown checkpoint (so the next Open skips the
// recovery scan), and releases the files. Readers holding a ReadResult
// keep their files open until Release. Close after Close returns nil.
func (l *Log) Close() error { return l.close(true) }

// Delete closes the log and removes its directory (DeleteTopics).
func (l *Log) Delete() error {
	err := l.close(false)
	if err != nil && !errors.Is(err, ErrStorage) {
		return err
	}
	if rerr := l.fs.RemoveAll(l.dir); rerr != nil {
		return ioErr("remove log directory", rerr)
	}
	return nil
}

func (l *Log) close(clean bool) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	close(l.stop)
	l.wg.Wait()

	var err error
	if clean && l.Err() == nil {
		err = l.flushForClose()
	}

	l.mu.Lock()
	l.closed = true
	l.notifyLocked()
	segs, dirty := l.segs, l.dirty
	l.segs, l.dirty = nil, nil
	l.mu.Unlock()
	for _, s := range dirty {
		s.decRef()
	}
	for _, s := range segs {
		s.decRef()
	}
	return err
}

// flushForClose makes everything durable and writes the clean state.
func (l *Log) flushForClose() error {
	if l.opts.Fsync == FsyncNever {
		// Nothing tracks unsynced segments under FsyncNever: sync every
		// segment written since the recovery point.
		l.mu.RLock()
		segs := l.segs
		l.mu.RUnlock()
		for _, s := range segs[:len(segs)-1] {
			if s.end > l.ck.recoveryPoint {
				if err := s.f.Sync(); err != nil {
					err = ioErr("fsync "+s.path, err)
					l.fence(err)
					return err
				}
			}
		}
	}
	if err := l.syncRound(true); err != nil {
		return err
	}
	l.mu.RLock()
	active := l.segs[len(l.segs)-1]
	leo, logStart := l.leo, l.logStart
	l.mu.RUnlock()
	active.imu.Lock()
	active.sealTimeIndex()
	active.imu.Unlock()
	if err := l.writeIndexes(active, true); err != nil {
		return err
	}
	if err := l.snapshotProducers(leo, true); err != nil {
		return err
	}
	l.ck = checkpoint{clean: true, logStart: logStart, recoveryPoint: active.base, leo: leo, activeBase: active.base, activeSize: active.size}
	if err := writeCheckpoint(l.fs, l.dir, l.ck); err != nil {
		return ioErr("write checkpoint", err)
	}
	return nil
}

// snapshotProducers writes the producer state at offset and keeps the two
// newest snapshots.
func (l *Log) snapshotProducers(offset int64, sync bool) error {
	if err := writeSnapshot(l.fs, l.dir, offset, l.producers, sync); err != nil {
		return ioErr("write producer snapshot", err)
	}
	if n := len(l.snapshots); n == 0 || l.snapshots[n-1] != offset {
		l.snapshots = append(l.snapshots, offset)
	}
	for len(l.snapshots) > 2 {
		if err := l.fs.Remove(l.path(segmentName(l.snapshots[0], snapshotSuffix))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.log.Warn("removing old producer snapshot", "err", err)
		}
		l.snapshots = l.snapshots[1:]
	}
	return nil
}

// intervalLoop fsyncs every FsyncInterval (FsyncInterval policy).
func (l *Log) intervalLoop() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.syncRound(false)
		}
	}
}

// syncLoop is the group-commit syncer (FsyncAlways): each round fsyncs
// everything appended so far, however many appends that covers, then
// advances the high watermark.
func (l *Log) syncLoop() {
	defer l.wg.Done()
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
			l.syncRound(false)
		}
	}
}

// syncRound fsyncs the segments written since the last round and, under
// FsyncAlways, advances the HW to what was written when the round started.
// final (Close) also syncs the active segment and advances the HW under
// every policy.
func (l *Log) syncRound(final bool) error {
	l.mu.Lock()
	if l.fenced != nil {
		err := l.fenced
		l.mu.Unlock()
		return err
	}
	active := l.segs[len(l.segs)-1]
	target, tBase, tPos := l.leo, active.base, active.size
	segs := l.dirty
	l.dirty, l.spare = l.spare[:0], nil
	if final && (len(segs) == 0 || segs[len(segs)-1] != active) {
		active.incRef()
		segs = append(segs, active)
	}
	l.mu.Unlock()

	var err error
	for _, s := range segs {
		if err == nil {
			if serr := s.f.Sync(); serr != nil {
				err = ioErr("fsync "+s.path, serr)
			}
		}
		s.decRef()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.spare = segs[:0]
	if err != nil {
		l.fenceLocked(err)
		return err
	}
	if (l.opts.Fsync == FsyncAlways || final) && target > l.hw {
		l.hw, l.hwBase, l.hwPos = target, tBase, tPos
		l.notifyLocked()
	}
	return nil
}
