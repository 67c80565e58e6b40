package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rewindhq/rewind/storage/vfs"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	snapshotSuffix  = ".snapshot"
	tmpSuffix       = ".tmp"

	indexEntrySize     = 8  // relative offset uint32, position uint32
	timeIndexEntrySize = 12 // timestamp int64, relative offset uint32
)

func segmentName(base int64, suffix string) string {
	return fmt.Sprintf("%020d%s", base, suffix)
}

// parseBaseName parses "00000000000000000042.log" style names.
func parseBaseName(name, suffix string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, suffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(stem, 10, 64)
	return n, err == nil && n >= 0
}

// segment is one .log file with its indexes.
//
// Concurrency: base and path are immutable. size, end, maxTs, maxTsOff
// and rollTime are written by the appender under Log.mu (write lock) and
// read under Log.mu (read lock); once the segment is sealed they never
// change. The indexes are guarded by imu. refs counts the holders of the
// segment: the log's list holds one reference, each ReadResult, pending
// fsync and compaction run holds another; the file is closed for good when
// the count drops to zero.
//
// The file itself (f) is opened on demand and may be closed while idle to
// keep the broker-wide bound of open files (see Handles); its users pin it.
// A segment leaving the log while others still hold it (retention, or
// compaction replacing it) is held open from then on (hold), because its
// path is about to name no file, or another one: a holder reopening it by
// name would find nothing or the wrong data.
type segment struct {
	base int64
	path string // of the .log file, without directory changes after open
	f    *handle
	refs atomic.Int64
	held atomic.Bool // f carries a pin of the segment's own, released at the last decRef

	size     int64 // valid bytes
	end      int64 // offset after the last batch (base when empty)
	maxTs    int64 // largest batch MaxTimestamp, -1 if none
	maxTsOff int64 // base offset of the batch holding maxTs
	rollTime int64 // ms; time the segment.ms roll is measured from
	// txns is the segment's aborted-transaction index: the transactions
	// whose abort marker it holds, in marker order. Guarded by Log.mu;
	// only the active segment's grows.
	txns       []AbortedTxn
	txnRebuild bool         // Open only: txns is rebuilt by the producer replay
	fileTxns   []AbortedTxn // Open only: the entries of its file still to be merged

	imu         sync.RWMutex
	loaded      bool   // idx and tidx hold the whole index
	rebuild     bool   // the index files proved wrong: rebuild from the log
	idx         []byte // offset index entries, file format
	tidx        []byte // time index entries, file format
	sinceIndex  int64  // bytes appended since the last offset index entry (appender only)
	indexDirty  bool   // in-memory indexes differ from the files (appender only)
	closeLogger func(error)
}

func newSegment(base int64, path string, f *handle) *segment {
	s := &segment{base: base, path: path, f: f, end: base, maxTs: -1, maxTsOff: base}
	s.refs.Store(1)
	return s
}

func (s *segment) incRef() { s.refs.Add(1) }

func (s *segment) decRef() {
	if n := s.refs.Add(-1); n == 0 {
		if err := s.f.close(); err != nil && s.closeLogger != nil {
			s.closeLogger(err)
		}
	} else if n < 0 {
		panic("storage: segment reference count below zero")
	}
}

// hold keeps the segment's file open until its last reference goes: called
// before its path is removed or replaced while readers may still use it.
// Called with Log.segMu held.
func (s *segment) hold() error {
	if s.held.Load() {
		return nil
	}
	if _, err := s.f.pin(); err != nil {
		return err
	}
	s.held.Store(true)
	return nil
}

// unhold undoes hold when the path turned out to stay (an abandoned
// compaction). Called with Log.segMu held.
func (s *segment) unhold() {
	if s.held.Swap(false) {
		s.f.unpin()
	}
}

func (s *segment) indexPath() string { return strings.TrimSuffix(s.path, logSuffix) + indexSuffix }
func (s *segment) timeIndexPath() string {
	return strings.TrimSuffix(s.path, logSuffix) + timeIndexSuffix
}

// indexLookup returns the file position to start scanning from for target:
// that of the last offset index entry at or below target, or 0.
func indexLookup(idx []byte, base, target int64) (pos int64, entryOff int64) {
	rel := target - base
	n := len(idx) / indexEntrySize
	// First entry with relative offset > rel.
	i := sort.Search(n, func(i int) bool {
		return int64(binary.BigEndian.Uint32(idx[i*indexEntrySize:])) > rel
	})
	if i == 0 {
		return 0, base
	}
	e := idx[(i-1)*indexEntrySize:]
	return int64(binary.BigEndian.Uint32(e[4:])), base + int64(binary.BigEndian.Uint32(e))
}

// timeLookup returns the offset to start scanning from for the first record
// with timestamp >= ts: that of the last time index entry whose timestamp is
// strictly below ts (every record up to it is older than ts), or base.
func timeLookup(tidx []byte, base, ts int64) int64 {
	n := len(tidx) / timeIndexEntrySize
	i := sort.Search(n, func(i int) bool {
		return int64(binary.BigEndian.Uint64(tidx[i*timeIndexEntrySize:])) >= ts
	})
	if i == 0 {
		return base
	}
	return base + int64(binary.BigEndian.Uint32(tidx[(i-1)*timeIndexEntrySize+8:]))
}

func lastTimeEntry(tidx []byte, base int64) (ts, off int64, ok bool) {
	if len(tidx) < timeIndexEntrySize {
		return -1, base, false
	}
	e := tidx[len(tidx)-timeIndexEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), base + int64(binary.BigEndian.Uint32(e[8:])), true
}

func appendIndexEntry(idx []byte, rel uint32, pos uint32) []byte {
	idx = binary.BigEndian.AppendUint32(idx, rel)
	return binary.BigEndian.AppendUint32(idx, pos)
}

func appendTimeEntry(tidx []byte, ts int64, rel uint32) []byte {
	tidx = binary.BigEndian.AppendUint64(tidx, uint64(ts))
	return binary.BigEndian.AppendUint32(tidx, rel)
}

// checkIndex is the sanity check of an offset index against its segment:
// whole entries, strictly increasing offsets and positions, all inside the
// segment.
func checkIndex(idx []byte, base, end, size int64) error {
	if len(idx)%indexEntrySize != 0 {
		return fmt.Errorf("offset index of %d bytes is not a multiple of %d", len(idx), indexEntrySize)
	}
	prevRel, prevPos := int64(-1), int64(-1)
	for i := 0; i < len(idx); i += indexEntrySize {
		rel := int64(binary.BigEndian.Uint32(idx[i:]))
		pos := int64(binary.BigEndian.Uint32(idx[i+4:]))
		if rel <= prevRel || pos <= prevPos || base+rel >= max(end, base+1) || pos >= max(size, 1) {
			return fmt.Errorf("offset index entry %d (%d at %d) is out of order or outside the segment", i/indexEntrySize, base+rel, pos)
		}
		prevRel, prevPos = rel, pos
	}
	return nil
}

// checkTimeIndex is the sanity check of a time index: whole entries,
// non-decreasing timestamps, increasing offsets inside the segment.
func checkTimeIndex(tidx []byte, base, end int64) error {
	if len(tidx)%timeIndexEntrySize != 0 {
		return fmt.Errorf("time index of %d bytes is not a multiple of %d", len(tidx), timeIndexEntrySize)
	}
	prevTs, prevRel := int64(-1<<63), int64(-1)
	for i := 0; i < len(tidx); i += timeIndexEntrySize {
		ts := int64(binary.BigEndian.Uint64(tidx[i:]))
		rel := int64(binary.BigEndian.Uint32(tidx[i+8:]))
		if ts < prevTs || rel < prevRel || base+rel >= max(end, base+1) {
			return fmt.Errorf("time index entry %d (%d at %d) is out of order or outside the segment", i/timeIndexEntrySize, ts, base+rel)
		}
		prevTs, prevRel = ts, rel
	}
	return nil
}

// readWhole reads a small file entirely; a missing file gives (nil, err
// matching os.ErrNotExist).
func readWhole(fsys vfs.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && len(b) > 0 {
		return nil, err
	}
	return b, nil
}

// writeFile replaces name with data: written to name.tmp, optionally
// fsynced, then renamed over name (and the directory fsynced when sync).
func writeFile(fsys vfs.FS, name string, data []byte, sync bool) error {
	tmp := name + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	if sync {
		return fsys.SyncDir(filepath.Dir(name))
	}
	return nil
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
