package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rewindhq/rewind/storage/vfs"
)

// RepairOptions says how Repair works.
type RepairOptions struct {
	FS     vfs.FS       // default vfs.Default
	Logger *slog.Logger // default: discard
	// DryRun reports what Repair would do and changes nothing.
	DryRun bool
	// Kept is called for every record of the batches kept, in offset
	// order; Dropped for every record Repair can still decode in what it
	// drops: the damaged batch when its records decode in spite of the
	// damage (damaged is then set: its bytes may be wrong), and the valid
	// batches after it. The records alias buffers reused after the call:
	// copy what you keep.
	Kept    func(r Record)
	Dropped func(r Record, damaged bool)
}

// RepairReport is what Repair found and did. Offsets are those of the
// partition; [DroppedFrom, DroppedTo) is the range records were dropped
// from (DroppedTo is the highest end the files or the checkpoint still
// show): all of it after a cut; a missing middle segment is a gap, and the
// records of the segments after it stay.
type RepairReport struct {
	Dir            string   `json:"dir"`
	Problems       []string `json:"problems,omitempty"` // what was wrong, in log order
	KeptEnd        int64    `json:"kept_end_offset"`    // offset after the last batch kept
	DroppedFrom    int64    `json:"dropped_from_offset"`
	DroppedTo      int64    `json:"dropped_to_offset"`
	DroppedBytes   int64    `json:"dropped_bytes"`
	DroppedBatches int      `json:"dropped_readable_batches"` // of DroppedBytes, batches that could still be read
	DroppedRecords int      `json:"dropped_readable_records"`
	TruncatedFile  string   `json:"truncated_file,omitempty"`
	TruncatedAt    int64    `json:"truncated_at_byte,omitempty"`
	Removed        []string `json:"removed_files,omitempty"`
	Created        string   `json:"created_file,omitempty"`
	NextOffset     int64    `json:"next_offset"` // where the repaired log continues
	Changed        bool     `json:"changed"`     // false: nothing was wrong (or DryRun)
}

// OK reports whether the log was found undamaged.
func (r RepairReport) OK() bool { return len(r.Problems) == 0 }

// Repair makes the partition log in dir usable again after damage that
// fenced it, by giving up what cannot be trusted: it checks every batch of
// every segment in offset order (framing, CRC-32C, offsets, records) and
// truncates the log at the first bad one, removing the later segments;
// segment files missing (fewer than the checkpoint recorded) are accepted
// as lost. Offsets are never reused: when offsets past the cut are known
// (from the batches after it, later segment names or the checkpoint), the
// log continues after them, leaving a gap that consumers skip as after
// compaction. The indexes are rebuilt by the next Open, which scans every
// segment again.
//
// The log must not be open: the broker closes it first, and the offline
// tool holds the data directory's lock. Repair of an undamaged log changes
// nothing.
func Repair(dir string, o RepairOptions) (RepairReport, error) {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rep := RepairReport{Dir: dir}
	entries, err := o.FS.ReadDir(dir)
	if err != nil {
		return rep, ioErr("read log directory", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), cleanedSuffix) || strings.HasSuffix(e.Name(), ".swap") {
			if o.DryRun {
				return rep, fmt.Errorf("storage: %s holds an interrupted compaction (%s): run the repair without the dry run, or start the broker once", dir, e.Name())
			}
			l := &Log{dir: dir, fs: o.FS, log: o.Logger}
			if _, err := l.finishCompaction(entries); err != nil {
				return rep, err
			}
			if entries, err = o.FS.ReadDir(dir); err != nil {
				return rep, ioErr("read log directory", err)
			}
			break
		}
	}
	var bases, snaps []int64
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
		if b, ok := parseBaseName(e.Name(), logSuffix); ok {
			bases = append(bases, b)
		}
		if b, ok := parseBaseName(e.Name(), snapshotSuffix); ok {
			snaps = append(snaps, b)
		}
	}
	slices.Sort(bases)
	ck, ckErr := readCheckpoint(o.FS, dir)
	haveCk := ckErr == nil
	orphans := orphanIndexes(names)

	r := repairer{o: o, dir: dir, rep: &rep, bases: bases}
	if err := r.scan(); err != nil {
		return rep, err
	}
	if !r.bad {
		rep.DroppedFrom = rep.KeptEnd
	}
	logStart := int64(0)
	if len(bases) > 0 {
		logStart = bases[0]
	}
	if haveCk {
		logStart = max(logStart, ck.logStart)
		if err := checkLength(dir, ck, bases, orphans); err != nil {
			rep.Problems = append(rep.Problems, err.Error())
		}
		if n := len(bases); n > 0 {
			if err := checkActiveSize(r.path(segmentName(bases[n-1], logSuffix)), ck, bases[n-1], r.lastSize); err != nil {
				rep.Problems = append(rep.Problems, err.Error())
			}
		}
		// What the checkpoint says the log held bounds the offsets lost.
		if ck.clean {
			rep.DroppedTo = max(rep.DroppedTo, ck.leo)
		}
		if ck.activeSize > 0 && (len(bases) == 0 || bases[len(bases)-1] < ck.activeBase) {
			rep.DroppedTo = max(rep.DroppedTo, ck.activeBase+1)
		}
		switch {
		case len(bases) == 0:
			rep.KeptEnd, rep.DroppedFrom = ck.logStart, ck.logStart
			logStart = max(ck.logStart, ck.leo, ck.activeBase)
		case bases[0] > ck.logStart:
			// The first segments are gone: the log now starts at the
			// first one left.
			if !r.bad {
				rep.DroppedFrom = ck.logStart
			}
			logStart = bases[0]
		}
	}
	// A missing middle segment (its indexes remain): its offsets are a
	// gap; the segments after it stay.
	for _, b := range orphans {
		if haveCk && b >= ck.logStart && len(bases) > 0 && b < bases[len(bases)-1] {
			i, _ := slices.BinarySearch(bases, b)
			rep.DroppedFrom = min(rep.DroppedFrom, b)
			rep.DroppedTo = max(rep.DroppedTo, bases[i])
		}
	}
	rep.DroppedTo = max(rep.DroppedTo, rep.KeptEnd)
	rep.NextOffset = max(rep.DroppedTo, rep.KeptEnd)
	if rep.OK() {
		rep.DroppedFrom, rep.DroppedTo = rep.KeptEnd, rep.KeptEnd
		return rep, nil
	}
	if o.DryRun {
		return rep, nil
	}
	if err := r.apply(orphans, snaps, logStart); err != nil {
		return rep, err
	}
	rep.Changed = true
	o.Logger.Warn("partition log repaired", "dir", dir, "problems", rep.Problems,
		"dropped_offsets", fmt.Sprintf("[%d, %d)", rep.DroppedFrom, rep.DroppedTo), "dropped_bytes", rep.DroppedBytes,
		"next_offset", rep.NextOffset)
	return rep, nil
}

type repairer struct {
	o     RepairOptions
	dir   string
	rep   *RepairReport
	bases []int64

	bad      bool  // a bad batch was found
	badSeg   int   // in bases[badSeg]
	badPos   int64 // at this byte
	lastSize int64 // size of the last segment, -1 if unknown
}

func (r *repairer) path(name string) string { return filepath.Join(r.dir, name) }

// scan walks the segments until the first bad batch, then on through what
// follows to count and decode what is dropped.
func (r *repairer) scan() error {
	rep := r.rep
	r.lastSize = -1
	if len(r.bases) > 0 {
		rep.KeptEnd = r.bases[0]
	}
	expected := rep.KeptEnd
	for i, base := range r.bases {
		f, err := r.o.FS.OpenFile(r.path(segmentName(base, logSuffix)), os.O_RDONLY, 0)
		if err != nil {
			return ioErr("open segment", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return ioErr("stat segment", err)
		}
		size := fi.Size()
		if i == len(r.bases)-1 {
			r.lastSize = size
		}
		if r.bad {
			rep.DroppedBytes += size
			rep.DroppedTo = max(rep.DroppedTo, base)
			err = r.salvage(f, 0, size, base-1, true)
			f.Close()
			if err != nil {
				return err
			}
			continue
		}
		next := int64(math.MaxInt64)
		if i+1 < len(r.bases) {
			next = r.bases[i+1]
		}
		if expected < base || i == 0 {
			expected = base
		}
		isLast := i == len(r.bases)-1
		it := newBatchIter(f, 0, size, true)
		for {
			h, pos, batch, done, err := it.next()
			if done {
				break
			}
			if err == nil && (h.BaseOffset < expected || isLast && h.BaseOffset != expected) {
				err = wrapErr(errBadBatch, "base offset %d, expected %d", h.BaseOffset, expected)
			}
			if err == nil && h.LastOffset() >= next {
				err = wrapErr(errBadBatch, "batch runs to offset %d, past the next segment's base %d", h.LastOffset(), next)
			}
			var recs []Record
			if err == nil {
				if recs, err = DecodeRecords(batch); err != nil {
					err = wrapErr(errBadBatch, "records do not decode: %w", err)
				}
			}
			if err != nil {
				if !errors.Is(err, errBadBatch) {
					it.release()
					f.Close()
					return ioErr("repair: read segment", err)
				}
				r.bad, r.badSeg, r.badPos = true, i, pos
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s at byte %d: %v",
					r.path(segmentName(base, logSuffix)), pos, err))
				rep.TruncatedFile, rep.TruncatedAt = r.path(segmentName(base, logSuffix)), pos
				rep.DroppedFrom, rep.DroppedTo = expected, expected
				rep.DroppedBytes += size - pos
				break
			}
			if r.o.Kept != nil {
				for _, rec := range recs {
					r.o.Kept(rec)
				}
			}
			expected = h.LastOffset() + 1
			rep.KeptEnd = expected
		}
		it.release()
		if r.bad {
			r.damaged(f, r.badPos, size, expected)
			err = r.salvage(f, r.badPos, size, expected-1, false)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// damaged decodes what it can of the bad batch at pos, for Dropped: the
// records of a batch whose CRC fails may still decode (a flipped byte in a
// value), and tell whose data is lost. Its offsets are not trusted.
func (r *repairer) damaged(f vfs.File, pos, size, expected int64) {
	if r.o.Dropped == nil || size-pos < BatchHeaderSize {
		return
	}
	var hb [BatchHeaderSize]byte
	if _, err := f.ReadAt(hb[:], pos); err != nil {
		return
	}
	h := decodeHeader(hb[:])
	if h.Magic != 2 || h.Length < minLength || pos+h.Size() > size || h.Size() > 64<<20 {
		return
	}
	b, err := readBatch(f, pos, h.Size())
	if err != nil {
		return
	}
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	recs, err := DecodeRecords(b)
	if err != nil {
		return
	}
	r.rep.DroppedBatches++
	r.rep.DroppedRecords += len(recs)
	for _, rec := range recs {
		r.o.Dropped(rec, true)
	}
}

// salvage walks the valid batches of [from, size) after a bad one (whose
// offsets started at or after expected), for the report and Dropped. With
// direct it first reads batches from from on (a later segment), else it
// starts by looking for the next batch with a valid CRC; so it does after
// each bad batch.
func (r *repairer) salvage(f vfs.File, from, size, expected int64, direct bool) error {
	for from < size {
		if !direct {
			p, found, err := resync(f, from, size, expected)
			if err != nil {
				return ioErr("repair: read segment", err)
			}
			if !found {
				return nil
			}
			from = p
		}
		direct = false
		it := newBatchIter(f, from, size, true)
		for {
			h, pos, batch, done, err := it.next()
			if done {
				it.release()
				return nil
			}
			if err != nil {
				it.release()
				if !errors.Is(err, errBadBatch) {
					return ioErr("repair: read segment", err)
				}
				from = pos
				break
			}
			r.rep.DroppedBatches++
			r.rep.DroppedTo = max(r.rep.DroppedTo, h.LastOffset()+1)
			expected = h.LastOffset()
			if recs, err := DecodeRecords(batch); err == nil {
				r.rep.DroppedRecords += len(recs)
				if r.o.Dropped != nil {
					for _, rec := range recs {
						r.o.Dropped(rec, false)
					}
				}
			}
		}
	}
	return nil
}

// apply changes the files: cut at the bad batch, remove what follows and
// the orphan indexes, start an empty segment after the last known offset,
// and write a checkpoint that makes the next Open scan everything.
func (r *repairer) apply(orphans, snaps []int64, logStart int64) error {
	rep, fsys := r.rep, r.o.FS
	remove := func(name string) error {
		if err := fsys.Remove(r.path(name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return ioErr("repair: remove "+name, err)
		}
		rep.Removed = append(rep.Removed, name)
		return nil
	}
	// The report listed the orphans it found; list what is really removed.
	rep.Removed = rep.Removed[:0]
	kept := slices.Clone(r.bases)
	if r.bad {
		kept = r.bases[:r.badSeg+1]
		for _, b := range r.bases[r.badSeg+1:] {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if err := remove(segmentName(b, suf)); err != nil {
					return err
				}
			}
		}
		cut := r.bases[r.badSeg]
		for _, suf := range []string{indexSuffix, timeIndexSuffix} {
			if err := remove(segmentName(cut, suf)); err != nil {
				return err
			}
		}
		if r.badPos == 0 && len(kept) > 1 {
			if err := remove(segmentName(cut, logSuffix)); err != nil {
				return err
			}
			kept = kept[:len(kept)-1]
		} else {
			f, err := fsys.OpenFile(r.path(segmentName(cut, logSuffix)), os.O_RDWR, 0)
			if err != nil {
				return ioErr("repair: open segment", err)
			}
			err = f.Truncate(r.badPos)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return ioErr("repair: truncate segment", err)
			}
		}
	}
	for _, b := range orphans {
		for _, suf := range []string{indexSuffix, timeIndexSuffix} {
			if err := remove(segmentName(b, suf)); err != nil {
				return err
			}
		}
	}
	for _, s := range snaps {
		if s > rep.KeptEnd {
			if err := remove(segmentName(s, snapshotSuffix)); err != nil {
				return err
			}
		}
	}
	// Appends continue after every offset known to have been used, so a
	// consumer's committed position past the cut stays valid.
	if len(kept) == 0 || rep.NextOffset > rep.KeptEnd {
		name := segmentName(rep.NextOffset, logSuffix)
		f, err := fsys.OpenFile(r.path(name), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
		if err != nil {
			return ioErr("repair: create segment", err)
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return ioErr("repair: create segment", err)
		}
		rep.Created = name
		kept = append(kept, rep.NextOffset)
	}
	if len(kept) > 0 {
		logStart = max(logStart, kept[0])
	}
	logStart = min(logStart, rep.NextOffset)
	ck := checkpoint{logStart: logStart, recoveryPoint: kept[0]}
	if err := writeCheckpoint(fsys, r.dir, ck); err != nil {
		return ioErr("repair: write checkpoint", err)
	}
	if err := fsys.SyncDir(r.dir); err != nil {
		return ioErr("repair: sync log directory", err)
	}
	return nil
}
