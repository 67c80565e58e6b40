package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/rewindhq/rewind/storage/vfs"
)

// jentry is one journal entry as read back; payload aliases the reader's
// buffer until the next entry.
type jentry struct {
	file    int   // index in Journal.found
	off     int64 // byte position in that file
	kind    byte
	id      int32
	base    int64
	payload []byte
}

func (e jentry) before(f int, off int64) bool { return e.file < f || e.file == f && e.off < off }

// scan calls fn for every valid entry of the files OpenJournal found, in
// the order written, and stops at the first torn or damaged one (torn
// true) or at the end. A file's end at an entry boundary is not torn, nor
// are the zeros of its preallocation there (Journal.grow): the next file
// goes on.
func (j *Journal) scan(fn func(jentry) error) (torn bool, err error) {
	for fi, f := range j.found {
		t, err := j.scanFile(fi, f, fn)
		if err != nil || t {
			return t, err
		}
	}
	return false, nil
}

func (j *Journal) scanFile(fi int, jf *jfile, fn func(jentry) error) (torn bool, err error) {
	f, err := j.fs.OpenFile(jf.path, os.O_RDONLY, 0)
	if err != nil {
		return false, ioErr("open journal file", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, ioErr("stat journal file", err)
	}
	r := &chunkReader{f: f, size: st.Size()}
	h, err := r.at(0, journalHeaderSize)
	if err != nil {
		return false, err
	}
	if h == nil || string(h[:4]) != journalMagic || binary.BigEndian.Uint16(h[4:]) != journalVersion ||
		binary.BigEndian.Uint64(h[8:]) != jf.gen || crc32.Checksum(h[:16], castagnoli) != binary.BigEndian.Uint32(h[16:]) {
		j.log.Warn("journal file header unreadable: the replay stops here", "file", jf.path)
		return true, nil
	}
	for off := int64(journalHeaderSize); off < r.size; {
		if zero, err := r.zeroFrom(off); err != nil || zero {
			return false, err
		}
		eh, err := r.at(off, 8)
		if err != nil {
			return false, err
		}
		if eh == nil {
			return j.tornAt(jf, off, "a partial entry header"), nil
		}
		n := int64(binary.BigEndian.Uint32(eh[4:]))
		if n < entryHeaderSize-8 || n > r.size-off-8 {
			return j.tornAt(jf, off, "an entry length past the file"), nil
		}
		crc := binary.BigEndian.Uint32(eh)
		b, err := r.at(off+8, n)
		if err != nil {
			return false, err
		}
		var lenField [4]byte // eh may be overwritten by the read of b
		binary.BigEndian.PutUint32(lenField[:], uint32(n))
		if entryCRC(jf.gen, lenField[:], b) != crc {
			return j.tornAt(jf, off, "a CRC mismatch"), nil
		}
		e := jentry{file: fi, off: off, kind: b[0], id: int32(binary.BigEndian.Uint32(b[1:])),
			base: int64(binary.BigEndian.Uint64(b[5:])), payload: b[13:]}
		if e.kind != entryBatches && e.kind != entryReset {
			return j.tornAt(jf, off, "an unknown entry kind"), nil
		}
		if err := fn(e); err != nil {
			return false, err
		}
		off += 8 + n
	}
	return false, nil
}

func (j *Journal) tornAt(jf *jfile, off int64, why string) bool {
	j.log.Warn("journal ends in a torn or damaged entry: the replay stops there", "file", jf.path, "position", off, "reason", why)
	return true
}

// chunkReader reads a file through a window of a few MiB.
type chunkReader struct {
	f interface {
		ReadAt([]byte, int64) (int, error)
	}
	size  int64
	start int64
	buf   []byte
}

// at returns n bytes at off, or nil if the file has fewer.
func (r *chunkReader) at(off, n int64) ([]byte, error) {
	if off+n > r.size {
		return nil, nil
	}
	if off < r.start || off+n > r.start+int64(len(r.buf)) {
		want := min(max(n, 4<<20), r.size-off)
		if int64(cap(r.buf)) < want {
			r.buf = make([]byte, want)
		}
		r.buf = r.buf[:want]
		if k, err := r.f.ReadAt(r.buf, off); err != nil && !(errors.Is(err, io.EOF) && int64(k) == want) {
			return nil, ioErr("read journal file", err)
		}
		r.start = off
	}
	return r.buf[off-r.start : off-r.start+n], nil
}

// zeroFrom says whether the file holds only zeros from off to its end.
// Only where an entry would begin with a zero CRC and length (or fewer
// than 8 bytes are left) is the rest read.
func (r *chunkReader) zeroFrom(off int64) (bool, error) {
	var zero [8]byte
	if n := min(8, r.size-off); n > 0 {
		b, err := r.at(off, n)
		if err != nil || !bytes.Equal(b, zero[:n]) {
			return false, err
		}
	}
	return allZero(r.f, off, r.size)
}

// jref locates the payload of one entry to replay.
type jref struct {
	file int   // index in Journal.found
	off  int64 // of the payload in the file
	n    int64
}

// index scans the files OpenJournal found and keeps, for each partition,
// the entries to replay: those after its last reset, up to the first torn
// or damaged entry of the journal.
func (j *Journal) index() error {
	type mark struct {
		file int
		off  int64
	}
	resets := map[int32]mark{}
	if _, err := j.scan(func(e jentry) error {
		j.seen[e.id] = true
		if e.kind == entryReset {
			resets[e.id] = mark{e.file, e.off}
		}
		return nil
	}); err != nil {
		return err
	}
	j.refs = map[int32][]jref{}
	_, err := j.scan(func(e jentry) error {
		if e.kind != entryBatches {
			return nil
		}
		if r, ok := resets[e.id]; ok && e.before(r.file, r.off) {
			return nil
		}
		j.refs[e.id] = append(j.refs[e.id], jref{e.file, e.off + entryHeaderSize, int64(len(e.payload))})
		return nil
	})
	return err
}

// replayBefore runs before Open of a journaled log while the journal
// recovers: the batches of its entries that continue the log are
// appended to its active segment as they were written, and fsynced, so
// that Open's recovery then checks and indexes them as it does whatever
// a crash left in a segment (and rebuilds the producer and transaction
// state from them). The log is first opened without the journal, to
// recover its end, and closed cleanly; the clean checkpoint no longer
// matches the longer file, so the Open that follows recovers. Batches
// below the log's end are skipped (the segment kept them); a batch past
// it is a gap, where the partition's replay stops (a crash lost an entry
// before it, so nothing from there on was acknowledged).
func (j *Journal) replayBefore(dir string, cfg Config, opts Options) error {
	id := opts.JournalPartition
	j.mu.Lock()
	refs := j.refs[id]
	delete(j.refs, id)
	started := j.started
	j.mu.Unlock()
	if started || len(refs) == 0 {
		return nil
	}
	o := opts
	o.Journal = nil
	l, err := Open(dir, cfg, o)
	if err != nil {
		return err
	}
	if l.Err() != nil {
		j.log.Error("journal entries of a fenced log dropped", "partition", id, "log", dir, "entries", len(refs))
		l.Close()
		return nil
	}
	l.mu.RLock()
	next, path := l.leo, l.segs[len(l.segs)-1].path
	l.mu.RUnlock()
	if err := l.Close(); err != nil && !isNoSpace(err) {
		// A full disk fails the clean close's index and checkpoint
		// writes (each written aside and renamed, so nothing is half
		// written): the Open that follows recovers the log as it would
		// after a crash, and the broker starts read-only.
		return err
	}
	files := map[int]vfs.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var seg vfs.File
	applied, skipped := 0, 0
	from := next
	for _, r := range refs {
		jf := files[r.file]
		if jf == nil {
			if jf, err = j.fs.OpenFile(j.found[r.file].path, os.O_RDONLY, 0); err != nil {
				return ioErr("open journal file", err)
			}
			files[r.file] = jf
		}
		p := make([]byte, r.n)
		if _, err := jf.ReadAt(p, r.off); err != nil {
			return ioErr("read journal file", err)
		}
		gap, before := false, next
		for len(p) > 0 {
			h, err := ParseBatchHeader(p)
			if err != nil {
				return corruptErr(j.found[r.file].path, r.off, "entry of %s: %v", dir, err)
			}
			b := p[:h.Size()]
			p = p[h.Size():]
			if h.LastOffset() < next {
				continue
			}
			if h.BaseOffset != next {
				gap = true
				break
			}
			if seg == nil {
				if seg, err = j.fs.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
					return ioErr("open segment to replay the journal", err)
				}
				defer seg.Close()
			}
			if _, err := seg.Write(b); err != nil {
				return ioErr("replay the journal into "+path, err)
			}
			next = h.LastOffset() + 1
		}
		if gap {
			break
		}
		if next > before {
			applied++
		} else {
			skipped++
		}
	}
	if seg == nil {
		return nil
	}
	if err := seg.Sync(); err != nil {
		return ioErr("fsync "+path, err)
	}
	j.log.Info("appends recovered from the journal", "partition", id, "log", dir,
		"entries", applied, "already_in_the_log", skipped, "offsets", fmt.Sprintf("[%d, %d)", from, next))
	return nil
}
