package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log compaction (cleanup.policy=compact), used for __consumer_offsets.
// See doc.go ("Compaction") for the process and its crash safety.

const (
	// cleanedSuffix names a cleaned segment being written:
	// <base>.cleaned. Open deletes it: the segments it replaces are intact.
	cleanedSuffix = ".cleaned"
	// swapSuffix names a cleaned segment that has replaced the segments
	// with bases in [base, end): <base>-<end>.swap. Open completes the
	// replacement.
	swapSuffix = ".swap"
)

// CompactPolicy says which records compaction keeps.
type CompactPolicy struct {
	// HistoryRetention: a superseded record (a later record has the same
	// key) is kept while its timestamp is newer than now-HistoryRetention,
	// and also while the timestamp of the record that superseded it is: so
	// the record that was a key's latest at any moment of the window stays,
	// and the log tells where the key stood at any time of the window. 0
	// removes superseded records at once (Kafka's plain compaction).
	HistoryRetention time.Duration
	// DeleteRetention: a tombstone (nil value) that is the latest for its
	// key is kept this long (delete.retention.ms, default 1 day), then
	// removed with everything older for the key.
	DeleteRetention time.Duration
	// MinCleanableDirtyRatio (min.cleanable.dirty.ratio), optional: a run
	// that finds less than this fraction of the closed segments' bytes
	// written since the previous run does nothing, unless some record the
	// previous run kept has become removable since.
	MinCleanableDirtyRatio float64
	// MaxCompactionLag (max.compaction.lag.ms), optional: when > 0, an
	// active segment whose first record was appended longer ago than
	// this is rolled first, so that its records become cleanable.
	MaxCompactionLag time.Duration
	// DedupeBufferSize (log.cleaner.dedupe.buffer.size) bounds the
	// offset map a run holds its keys in, in bytes (0:
	// DefaultDedupeBufferSize). A run whose keys do not fit cleans in
	// several passes; the result is the same.
	DedupeBufferSize int64
}

// CompactStats describes one Compact run.
type CompactStats struct {
	Segments       int   // closed segments examined
	Rewritten      int   // of them, replaced by cleaned segments
	SegmentsAfter  int   // closed segments after the run
	BytesBefore    int64 // bytes of the examined segments before the run
	BytesAfter     int64 // and after
	RecordsRemoved int64
	Rolled         bool // MaxCompactionLag rolled the active segment
	// Skipped: nothing was written since the previous run and nothing it
	// kept has become removable, so the segments were not read.
	Skipped bool
	Passes  int   // offset ranges cleaned one after the other (1 when every key fits)
	MapSize int64 // bytes of the offset map the run used
}

// compactor is a log's compaction state (in memory only: after Open the
// first run reads everything). Guarded by mu, which serializes Compact.
type compactor struct {
	mu         sync.Mutex
	valid      bool
	policy     CompactPolicy
	cleanedEnd int64 // end offset of the closed segments the last run read
	nextDue    int64 // ms: when a record the last run kept becomes removable
}

// Compact rewrites the log's closed segments (never the active one),
// keeping for each key its latest record plus whatever the policy keeps,
// and merges adjacent small segments while the result stays within
// segment.bytes.
//
// Which records stay:
//   - a record without a key stays (there is nothing to supersede it);
//   - the latest record of its key (among the closed segments) stays,
//     unless it is a tombstone older than DeleteRetention: then every
//     record of the key goes;
//   - a superseded record stays while its timestamp, or that of the
//     record that superseded it, is within HistoryRetention;
//   - records below the log start offset go (DeleteRecords deleted them).
//
// Timestamps are the records' own (CreateTime as produced, or the append
// time under LogAppendTime); a record without one (-1) is as old as can be.
//
// Offsets of kept records never change; batches keep their base offset,
// last offset delta, partition leader epoch, producer id, epoch and base
// sequence, attributes and first timestamp, so records keep their offset
// and timestamp deltas and are copied byte for byte. A batch that keeps
// every record is copied unchanged; one that loses some is rewritten with
// the same codec, its record count, max timestamp (CreateTime: the largest
// kept) and CRC updated; one that loses all goes, unless it is the last
// batch of an idempotent producer: its header stays as an empty batch
// (Kafka's cleaner does the same) so that the producer's sequence state
// can still be rebuilt from the log. So does the last batch of the log
// while the active segment is empty (it can only lose all its records to
// an expired tombstone), so that fetching at the end does not hit a gap.
// Batches whose records cannot be decoded are kept as they are. The
// records of aborted transactions go, and commit and abort markers go in
// two steps once no record of their transaction is left, as Kafka's
// cleaner does (see compact_txn.go).
//
// Reads running during compaction see each segment either as it was or
// as cleaned, never a mix, and never miss a kept record. A crash at any
// point leaves files that Open turns back into a consistent log: either
// the old segments or the cleaned one. An I/O error before the cleaned
// segment is committed leaves the log as it was and usable; one after
// fences the log (reopening completes the replacement).
//
// Compact holds the append lock only to snapshot the log and to swap
// segments in; reading and writing segments run beside appends and reads.
// Concurrent Compact calls are serialized. Keys are held in an offset map
// of at most p.DedupeBufferSize bytes, which the runs of the process take
// one at a time; a run whose keys do not fit cleans in several passes
// (see doc.go), to the same result.
func (l *Log) Compact(p CompactPolicy) (CompactStats, error) {
	var st CompactStats
	l.cmp.mu.Lock()
	defer l.cmp.mu.Unlock()

	c, err := l.startCompaction(p, &st)
	if err != nil || c == nil {
		return st, err
	}
	defer c.release()
	var total, dirty int64
	for _, s := range c.segs {
		total += s.size
		if s.base >= l.cmp.cleanedEnd {
			dirty += s.size
		}
	}
	st.Segments, st.SegmentsAfter, st.BytesBefore, st.BytesAfter = len(c.segs), len(c.segs), total, total
	closedEnd := c.segs[len(c.segs)-1].end
	if l.cmp.valid && l.cmp.policy == p && c.now < l.cmp.nextDue &&
		(closedEnd <= l.cmp.cleanedEnd || float64(dirty) < p.MinCleanableDirtyRatio*float64(total)) {
		st.Skipped = true
		return st, nil
	}
	l.cmp.valid = false

	if err := c.scanTxns(); err != nil {
		return st, err
	}

	// Under FsyncNever closed segments may still be only in the page
	// cache: a record must not be removed because of a later one that a
	// power loss could take away.
	for _, s := range c.segs {
		if s.end > c.recoveryPoint {
			if err := s.f.Sync(); err != nil {
				err = ioErr("fsync "+s.path, err)
				l.fence(err)
				return st, err
			}
		}
	}

	// The offset map holds at most every record's worth of entries (a
	// key, or the timestamp of a record's successor), and twice that for
	// what a run reserves under a history window; bounded by the budget.
	span := closedEnd - c.segs[0].base
	if c.histMs > 0 {
		span *= 2
	}
	c.om = acquireOffsetMap(p.DedupeBufferSize, span)
	defer c.om.release()
	st.MapSize = c.om.bytes()

	// Each pass maps the keys of the offsets [lo, hi) that fit, and judges
	// only the records in that range, against what the map then knows
	// (see buildMap): every record is judged once, exactly as a single
	// pass with room for every key would.
	complete := true
	for lo := c.segs[0].base; lo < closedEnd; {
		if st.Passes > 0 {
			if err := c.resnapshot(closedEnd); err != nil {
				return st, err
			}
			if len(c.segs) == 0 {
				break // retention deleted them meanwhile
			}
			lo = max(lo, c.segs[0].base)
		}
		hi, err := c.buildMap(lo, closedEnd)
		if err != nil {
			return st, err
		}
		if hi <= lo {
			// Cannot happen: an empty map has room for any record.
			return st, fmt.Errorf("storage: compaction: the offset map holds no record at offset %d", lo)
		}
		if st.Passes == 0 && c.undecodable > 0 {
			l.log.Warn("compaction keeps batches it cannot decode as they are", "batches", c.undecodable)
		}
		st.Passes++
		c.lo, c.hi = lo, hi
		done, err := c.cleanRange(&st)
		if err != nil {
			return st, err
		}
		complete = complete && done
		lo = hi
	}
	if complete {
		if st.Rewritten > 0 && c.txnDropped {
			// A transactional batch this run removed may leave its
			// marker with no record of its transaction: the next run
			// must look (the marker only then gets its delete horizon,
			// as in Kafka).
			c.due = c.now
		}
		l.cmp.valid, l.cmp.policy, l.cmp.cleanedEnd, l.cmp.nextDue = true, p, closedEnd, c.due
	}
	if st.Rewritten > 0 {
		l.log.Info("compacted log", "segments", st.Segments, "rewritten", st.Rewritten, "segments_after", st.SegmentsAfter,
			"bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter, "records_removed", st.RecordsRemoved,
			"passes", st.Passes)
	}
	return st, nil
}

// cleanRange plans, writes and swaps in the segments holding records of
// [c.lo, c.hi). done is false if some segments could not be swapped in
// (retention deleted them meanwhile).
func (c *cleaner) cleanRange(st *CompactStats) (done bool, err error) {
	l := c.l
	// What each segment would become.
	var plans []segPlan
	for _, s := range c.segs {
		if s.end <= c.lo || s.base >= c.hi {
			continue
		}
		plans = append(plans, segPlan{s: s})
		pl := &plans[len(plans)-1]
		if err := c.eachBatch(s, func(h *BatchHeader, b []byte) error {
			v, removed := c.judge(h, b)
			pl.removed += removed
			pl.changed = pl.changed || v != keepWhole
			pl.est += c.estimate(v, h, b)
			return nil
		}); err != nil {
			return false, err
		}
	}
	// Write and swap in each group of adjacent segments that changes or
	// merges, oldest first.
	done = true
	for i := 0; i < len(plans); {
		j, size := i+1, plans[i].est
		for j < len(plans) && size+plans[j].est <= c.cfg.SegmentBytes &&
			plans[j].s.end-1-plans[i].s.base <= math.MaxInt32 {
			size += plans[j].est
			j++
		}
		group := plans[i:j]
		i = j
		if len(group) == 1 && !group[0].changed {
			continue
		}
		ns, removed, err := c.write(group)
		if err != nil {
			return false, err
		}
		old := make([]*segment, len(group))
		var oldSize int64
		for k := range group {
			old[k] = group[k].s
			oldSize += old[k].size
		}
		newSize := ns.size
		ok, err := c.install(old, ns)
		if err != nil {
			return false, err
		}
		if !ok {
			done = false
			continue
		}
		// Outside the append lock. Missing or partial index files are
		// rebuilt from the segment; should retention delete the segment
		// meanwhile, Open removes the orphaned index files.
		if err := l.writeIndexes(ns, true); err != nil {
			l.log.Warn("writing cleaned segment indexes", "segment", ns.path, "err", err)
		}
		st.Rewritten += len(group)
		st.SegmentsAfter -= len(group) - 1
		st.BytesAfter += newSize - oldSize
		st.RecordsRemoved += removed
	}
	return done, nil
}

// resnapshot replaces the run's segments by the log's current closed
// segments below end: the previous pass swapped some of them.
func (c *cleaner) resnapshot(end int64) error {
	l := c.l
	l.mu.RLock()
	err := l.usableLocked()
	segs := l.segs
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	var next []*segment
	for _, s := range segs[:len(segs)-1] {
		if s.base < end {
			s.incRef()
			next = append(next, s)
		}
	}
	c.release()
	c.segs = next
	return nil
}

// cleaner is the state of one Compact run.
type cleaner struct {
	l             *Log
	p             CompactPolicy
	cfg           Config
	now           int64
	histMs, delMs int64
	logStart      int64
	recoveryPoint int64
	segs          []*segment             // the cleanable closed segments, one reference each held
	producerLast  map[int64]int64        // idempotent producer id -> last offset of its last batch
	aborted       map[int64][]AbortedTxn // producer id -> its aborted transactions (marker order)
	// producerMarkerEpoch: producer id -> its epoch, for the producers
	// with no data batch of that epoch (their last entry is a marker).
	producerMarkerEpoch map[int64]int16
	markerData          map[int64]bool // marker offset -> a data batch of its transaction is in segs (scanTxns)
	txnDropped          bool           // a transactional data batch was removed whole
	tail                int64          // last offset of the log when the active segment is empty, else -1
	om                  *offsetMap
	lo, hi              int64 // the offsets the current pass judges
	pending             int   // keys in om whose latest record may still get a successor entry
	due                 int64 // ms: the earliest time a kept record becomes removable
	pass                int   // 1 while the first pass maps keys (counting undecodable batches)
	undecodable         int

	recs []cRecord // records of the current batch
	body []byte    // its records section, decompressed
	keep []bool
	buf  []byte
	raw  []byte // the kept records of the batch being rebuilt
}

type segPlan struct {
	s       *segment
	removed int64
	changed bool
	est     int64 // estimated size once cleaned
}

// startCompaction snapshots what a run needs under the append lock,
// rolling the active segment first if the policy says so. It returns nil
// when there is no closed segment to clean.
func (l *Log) startCompaction(p CompactPolicy, st *CompactStats) (*cleaner, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked()
	// Only what lies below the last stable offset is cleaned (Kafka's
	// first uncleanable offset): the records of an open transaction may
	// still be aborted, and must neither supersede others nor go.
	segs, hw := l.segs, l.lsoLocked()
	l.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	now := l.nowMs()
	// The appender's fields of the active segment only change under
	// appendMu, which is held.
	if lag := p.MaxCompactionLag.Milliseconds(); lag > 0 {
		active := segs[len(segs)-1]
		if active.size > 0 && active.end <= hw && now-active.rollTime > lag {
			if _, err := l.roll(active, now); err != nil {
				return nil, err
			}
			st.Rolled = true
			l.mu.RLock()
			segs, hw = l.segs, l.lsoLocked()
			l.mu.RUnlock()
		}
	}
	// Closed segments wholly below the LSO (a segment just rolled may be
	// the HW segment until the next fsync round; it is below the HW all
	// the same).
	n := 0
	for n < len(segs)-1 && segs[n].end <= hw {
		n++
	}
	if n == 0 {
		return nil, nil
	}
	c := &cleaner{
		l:             l,
		p:             p,
		cfg:           l.cfg,
		now:           now,
		histMs:        max(p.HistoryRetention.Milliseconds(), 0),
		delMs:         max(p.DeleteRetention.Milliseconds(), 0),
		logStart:      l.LogStartOffset(),
		recoveryPoint: l.ck.recoveryPoint,
		segs:          slices.Clone(segs[:n]),
		producerLast:  make(map[int64]int64, len(l.producers)),
		due:           math.MaxInt64,
		pass:          1,
	}
	c.tail = -1
	if active := segs[len(segs)-1]; active.size == 0 && active.base == c.segs[n-1].end {
		c.tail = active.base - 1
	}
	for _, s := range c.segs {
		s.incRef()
	}
	for pid, e := range l.producers {
		if e.n > 0 {
			c.producerLast[pid] = e.batches[e.n-1].lastOff
		} else if e.epoch >= 0 {
			if c.producerMarkerEpoch == nil {
				c.producerMarkerEpoch = map[int64]int16{}
			}
			c.producerMarkerEpoch[pid] = e.epoch
		}
	}
	// Aborted transactions, wherever their marker is: their records in the
	// cleaned segments go (below the LSO every transaction is decided).
	l.mu.RLock()
	for _, s := range segs {
		for _, t := range s.txns {
			if t.FirstOffset < c.segs[n-1].end {
				if c.aborted == nil {
					c.aborted = map[int64][]AbortedTxn{}
				}
				c.aborted[t.ProducerID] = append(c.aborted[t.ProducerID], t)
			}
		}
	}
	l.mu.RUnlock()
	return c, nil
}

// isAborted says whether the data batch h belongs to an aborted
// transaction (Kafka's cleaner discards those records and keeps them out
// of its offset map).
func (c *cleaner) isAborted(h *BatchHeader) bool {
	if !h.IsTransactional() || h.IsControl() || h.ProducerID < 0 {
		return false
	}
	for _, t := range c.aborted[h.ProducerID] {
		if h.BaseOffset >= t.FirstOffset && h.BaseOffset <= t.LastOffset {
			return true
		}
	}
	return false
}

func (c *cleaner) release() {
	for _, s := range c.segs {
		s.decRef()
	}
	c.segs = nil
}

// eachBatch calls fn for every batch of s, whole and CRC-checked. Bad data
// fences the log, as a read finding it would.
func (c *cleaner) eachBatch(s *segment, fn func(h *BatchHeader, b []byte) error) error {
	it := newBatchIter(s.f, 0, s.size, true)
	defer it.release()
	next := s.base
	for {
		h, pos, b, done, err := it.next()
		if done {
			return nil
		}
		if err == nil && (h.BaseOffset < next || h.LastOffset() >= s.end) {
			err = fmt.Errorf("%w: batch of offsets %d-%d outside [%d, %d)", errBadBatch, h.BaseOffset, h.LastOffset(), next, s.end)
		}
		if err != nil {
			return c.l.scanErr(s, pos, err)
		}
		next = h.LastOffset() + 1
		if err := fn(&h, b); err != nil {
			return err
		}
	}
}

// write writes the cleaned form of the group's segments to <base>.cleaned
// and fsyncs it. The returned segment (named for its final .log path) has
// its indexes built in memory.
func (c *cleaner) write(group []segPlan) (ns *segment, removed int64, err error) {
	l := c.l
	base, end := group[0].s.base, group[len(group)-1].s.end
	for _, pl := range group {
		// Readers still holding a replaced segment must never load its
		// index from files that will by then be the cleaned segment's.
		if err := l.ensureIndex(pl.s); err != nil {
			return nil, 0, err
		}
	}
	name := l.path(segmentName(base, cleanedSuffix))
	f, err := l.opts.Handles.openFile(l.fs, name, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, ioErr("compact: create "+name, err)
	}
	// Its handle is named for the final .log path, which still names the
	// segment it replaces: it stays pinned (never closed and reopened by
	// that name) until install has renamed it there, or its last decRef.
	ns = newSegment(base, l.path(segmentName(base, logSuffix)), l.opts.Handles.newHandle(l.fs, l.path(segmentName(base, logSuffix)), f, true))
	ns.closeLogger = func(err error) { l.log.Warn("closing segment", "segment", ns.path, "err", err) }
	fail := func(err error) (*segment, int64, error) {
		ns.decRef()
		if rerr := l.fs.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			l.log.Warn("removing an abandoned cleaned segment", "file", name, "err", rerr)
		}
		return nil, 0, err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	var pos int64
	interval := int64(c.cfg.IndexIntervalBytes)
	for _, pl := range group {
		err := c.eachBatch(pl.s, func(h *BatchHeader, b []byte) error {
			v, rm := c.judge(h, b)
			out, err := c.build(v, h, b)
			if err != nil || out == nil {
				removed += rm
				return err
			}
			if _, err := w.Write(out); err != nil {
				return ioErr("compact: write "+name, err)
			}
			nh := decodeHeader(out)
			ns.indexBatch(&nh, pos, interval)
			pos += int64(len(out))
			removed += rm
			return nil
		})
		if err != nil {
			return fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(ioErr("compact: write "+name, err))
	}
	if err := f.Sync(); err != nil {
		return fail(ioErr("compact: fsync "+name, err))
	}
	ns.size, ns.end = pos, end
	if pos > 0 {
		ns.sealTimeIndex()
	}
	// The merged segment's aborted-transaction index holds the old ones'
	// entries. It is written over <base>.txnindex before the commit: if
	// the compaction does not commit, the first old segment keeps its
	// file, and Open keeps only the entries whose marker it holds.
	l.mu.RLock()
	for _, pl := range group {
		ns.txns = append(ns.txns, pl.s.txns...)
	}
	l.mu.RUnlock()
	ns.txns = c.keptTxns(ns.txns)
	if len(ns.txns) > 0 {
		if err := writeFile(l.fs, ns.txnIndexPath(), encodeTxnIndex(ns.txns), true); err != nil {
			return fail(ioErr("compact: write transaction index", err))
		}
	} else if err := l.fs.Remove(ns.txnIndexPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// The first old segment's entries, if any, are those of
		// transactions with no record left (keptTxns): should the
		// compaction not commit, losing them loses nothing a consumer
		// needs.
		return fail(ioErr("compact: remove transaction index", err))
	}
	ns.loaded, ns.indexDirty = true, true
	return ns, removed, nil
}

// install replaces the segments old by ns (written by write), if they are
// still in the log, exactly as they were. The steps, each durable before
// the next:
//
//  1. rename <base>.cleaned to <base>-<end>.swap: the commit point;
//  2. remove the old segments' index files and .log files but the first;
//  3. rename the swap file over <base>.log;
//
// then the in-memory switch. A crash after 1 is
// completed by Open (finishCompaction); an I/O error after 1 fences the
// log so that nothing else touches the files before that.
//
// It holds segMu, not appendMu: appends (commits to __consumer_offsets
// in particular) go on through the directory fsyncs, since they only
// touch the active segment and add segments after the ones replaced,
// while whatever deletes or replaces sealed segments waits. The switch
// itself is a short section under mu. (startCompaction took appendMu,
// so Open's checkpoint is durable before any of this.)
func (c *cleaner) install(old []*segment, ns *segment) (bool, error) {
	l := c.l
	base, end := ns.base, ns.end
	cleaned := l.path(segmentName(base, cleanedSuffix))
	abandon := func() {
		ns.decRef()
		if err := l.fs.Remove(cleaned); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.log.Warn("removing an abandoned cleaned segment", "file", cleaned, "err", err)
		}
	}
	l.segMu.Lock()
	defer l.segMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked()
	segs := l.segs
	l.mu.RUnlock()
	if err != nil {
		abandon()
		return false, err
	}
	// Rolls may add segments from now on, but only after these: none of
	// old can leave the log while segMu is held.
	k := slices.Index(segs, old[0])
	if k < 0 || k+len(old) >= len(segs) || !slices.Equal(segs[k:k+len(old)], old) || segs[k+len(old)].base != end {
		// Retention or DeleteRecords deleted some of them meanwhile.
		abandon()
		return false, nil
	}
	// Readers may still take the old segments until the switch below,
	// and their paths are about to name nothing or the cleaned data:
	// keep their files open for those readers from now on.
	for i, s := range old {
		if err := s.hold(); err != nil {
			for _, s := range old[:i] {
				s.unhold()
			}
			abandon()
			return false, ioErr("compact: open "+s.path, err)
		}
	}
	swap := l.path(swapName(base, end))
	if err := l.fs.Rename(cleaned, swap); err != nil {
		for _, s := range old {
			s.unhold()
		}
		abandon()
		return false, ioErr("compact: rename "+cleaned, err)
	}
	fail := func(op string, err error) (bool, error) {
		err = ioErr("compact: "+op, err)
		l.fence(err)
		ns.decRef()
		return false, err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fail("sync log directory", err)
	}
	for i, s := range old {
		paths := []string{s.indexPath(), s.timeIndexPath()}
		if i > 0 {
			// <base>.txnindex is the merged segment's already.
			paths = append(paths, s.path, s.txnIndexPath())
		}
		for _, p := range paths {
			if err := l.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fail("remove "+p, err)
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fail("sync log directory", err)
	}
	if err := l.fs.Rename(swap, ns.path); err != nil {
		return fail("rename "+swap, err)
	}

	var oldSize int64
	for _, s := range old {
		oldSize += s.size
	}
	l.mu.Lock()
	k = slices.Index(l.segs, old[0]) // unchanged: only later segments were added
	segs = make([]*segment, 0, len(l.segs)-len(old)+1)
	segs = append(segs, l.segs[:k]...)
	segs = append(segs, ns)
	l.segs = append(segs, l.segs[k+len(old):]...)
	if l.hwBase >= base && l.hwBase < end {
		// The HW lies at the end of a replaced segment (one just rolled,
		// before the next fsync round): the same position is the start
		// of the next segment.
		l.hwBase, l.hwPos = end, 0
	}
	l.mu.Unlock()
	ns.f.unpin() // its path names its file now (see write)
	l.size.Add(ns.size - oldSize)
	for _, s := range old {
		s.decRef() // the log's reference; readers keep theirs
	}
	return true, nil
}

func swapName(base, end int64) string {
	return fmt.Sprintf("%020d-%020d%s", base, end, swapSuffix)
}

func parseSwapName(name string) (base, end int64, ok bool) {
	stem, ok := strings.CutSuffix(name, swapSuffix)
	if !ok || len(stem) != 41 || stem[20] != '-' {
		return 0, 0, false
	}
	b, err1 := strconv.ParseInt(stem[:20], 10, 64)
	e, err2 := strconv.ParseInt(stem[21:], 10, 64)
	return b, e, err1 == nil && err2 == nil && b >= 0 && e > b
}

// finishCompaction runs first in Open, on the directory's entries: it
// deletes cleaned segments whose compaction did not commit and completes
// the ones that did. changed says the directory must be read again.
func (l *Log) finishCompaction(entries []os.DirEntry) (changed bool, err error) {
	type swap struct {
		name      string
		base, end int64
	}
	var swaps []swap
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, cleanedSuffix) {
			if err := l.fs.Remove(l.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, ioErr("remove unfinished compaction", err)
			}
			changed = true
		} else if b, end, ok := parseSwapName(name); ok {
			swaps = append(swaps, swap{name, b, end})
		}
	}
	for _, sw := range swaps {
		l.log.Info("completing an interrupted compaction", "base", sw.base, "end", sw.end)
		for _, e := range entries {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
				// The merged <base>.txnindex was written before the commit.
				if b, ok := parseBaseName(e.Name(), suf); ok && b >= sw.base && b < sw.end && (suf != txnIndexSuffix || b > sw.base) {
					if err := l.fs.Remove(l.path(e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
						return false, ioErr("complete compaction", err)
					}
				}
			}
		}
		// The old segments must be gone for good before the cleaned one
		// takes their place: both at once would overlap.
		if err := l.fs.SyncDir(l.dir); err != nil {
			return false, ioErr("sync log directory", err)
		}
		if err := l.fs.Rename(l.path(sw.name), l.path(segmentName(sw.base, logSuffix))); err != nil {
			return false, ioErr("complete compaction", err)
		}
	}
	if len(swaps) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return false, ioErr("sync log directory", err)
		}
	}
	return changed || len(swaps) > 0, nil
}
