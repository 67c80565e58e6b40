package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Journal is a write-ahead journal shared by several logs (the partitions
// of __consumer_offsets), so that one fdatasync makes the appends of all
// of them durable: group commit across logs, where each log alone would
// fsync its own segment for its own few appends.
//
// A log opened with Options.Journal (under FsyncAlways only) writes each
// Append to its segment as usual, without fsyncing it, and the same
// batches as one entry to the journal. The journal's syncer fdatasyncs
// the journal once per round for every entry written since the last one,
// then advances the high watermark of every log those entries belong to;
// WaitDurable and Changed work as for any log. A checkpoint (when the
// journal file passes JournalOptions.MaxBytes, and at a clean Close)
// fsyncs the segments of every attached log and only then removes the
// journal files it covered. At start, OpenJournal indexes the entries;
// the Open of each log appends those past its recovered end to its
// segment before its recovery reads it (replayBefore), and Recover then
// removes the old files and starts the syncer. See doc.go for the format
// and the argument why no acknowledged append is lost.
//
// A failed journal fsync or write (but ENOSPC rolled back) fences the
// journal and every attached log, and is never retried as a success.
type Journal struct {
	dir, name string
	fs        vfs.FS
	log       *slog.Logger
	maxBytes  int64
	prealloc  int64
	rounds    int // JournalOptions.RoundsInFlight

	mu   sync.Mutex
	cond *sync.Cond // broadcast when a round ends (files stop syncing)
	logs map[int32]*Log
	cur  *jfile   // the file appended to
	old  []*jfile // older files, kept until a checkpoint removes them
	// found: the files OpenJournal found, removed by Recover; refs: the
	// entries in them each partition's Open replays (replayBefore).
	found   []*jfile
	refs    map[int32][]jref
	gen     uint64 // highest generation in use
	pending []jwait
	buf     []byte
	// seen: partitions with entries in the live files; a log attaching
	// for one of them after Recover writes a reset first (attach).
	seen map[int32]bool
	// unsynced: partitions whose log detached without making its
	// segments durable (fenced): the live files hold the only durable copy
	// of their acknowledged appends, so no checkpoint removes them until
	// the partition is attached again (the next start replays them).
	unsynced map[int32]bool
	fenced   error
	started  bool
	closed   bool
	ckBusy   bool

	kick   chan struct{}
	ckKick chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

// JournalOptions configure a Journal.
type JournalOptions struct {
	FS     vfs.FS       // nil = vfs.Default
	Logger *slog.Logger // nil = slog.Default()
	// MaxBytes: a journal file larger than this is checkpointed (the
	// segments fsynced, the file removed). Default 64 MiB.
	MaxBytes int64
	// Prealloc: the journal file is grown ahead of its entries with
	// zeros, up to this many bytes at a time (64 KiB first, doubling; never
	// past MaxBytes), and its entries overwrite them. An fdatasync of a
	// file whose size did not change writes only the data, not the
	// inode, which on ext4 and xfs makes a commit's wait markedly shorter
	// than the machine's append-and-fdatasync. Default 4 MiB; negative:
	// no preallocation (every entry grows the file).
	Prealloc int64
	// RoundsInFlight: how many rounds of fdatasync may overlap, a round
	// starting while earlier ones are still syncing. Default 1 (see
	// DefaultJournalRounds).
	RoundsInFlight int
}

// DefaultJournalPrealloc is the default JournalOptions.Prealloc.
const DefaultJournalPrealloc = 4 << 20

// DefaultJournalMaxBytes is the default JournalOptions.MaxBytes.
const DefaultJournalMaxBytes = 64 << 20

type jfile struct {
	gen     uint64
	genCRC  uint32 // the CRC-32C of the generation, where every entry's CRC starts (entryCRC)
	path    string
	f       vfs.File
	size    int64 // where the next entry goes
	alloc   int64 // the file's length: size, then the zeros preallocated past it (grow)
	dirty   bool  // written since the last fsync
	syncing int   // rounds fsyncing it now
}

// jwait is an entry's log and the high watermark its append reaches.
// A wait with done set is waitRound's: done gets the round's outcome.
type jwait struct {
	l              *Log
	end, base, pos int64
	done           chan error
}

const (
	journalMagic      = "RWJL"
	journalVersion    = 1
	journalHeaderSize = 4 + 2 + 2 + 8 + 4
	journalSuffix     = ".journal"

	// An entry: crc32c (4) | length (4) | kind (1) | partition (4) |
	// base offset (8) | payload. The CRC covers the file's generation and
	// every byte after the CRC field; length counts the bytes after it.
	entryHeaderSize = 4 + 4 + 1 + 4 + 8
	entryBatches    = 1 // payload: the record batches of one Append
	entryReset      = 2 // the partition's earlier entries are void (attach)
)

// OpenJournal opens (creating dir if needed) the journal whose files are
// dir/name.<generation>.journal and indexes their entries. The logs then
// opened with it take their entries (replayBefore); nothing is written
// until Recover, which the caller runs once they are all open.
func OpenJournal(dir, name string, opts JournalOptions) (*Journal, error) {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultJournalMaxBytes
	}
	switch {
	case opts.Prealloc == 0:
		opts.Prealloc = DefaultJournalPrealloc
	case opts.Prealloc < 0:
		opts.Prealloc = 0
	}
	if opts.RoundsInFlight <= 0 {
		opts.RoundsInFlight = DefaultJournalRounds
	}
	j := &Journal{dir: dir, name: name, fs: opts.FS, log: opts.Logger.With("journal", name), maxBytes: opts.MaxBytes, prealloc: opts.Prealloc, rounds: opts.RoundsInFlight,
		logs: map[int32]*Log{}, seen: map[int32]bool{}, unsynced: map[int32]bool{},
		kick: make(chan struct{}, 1), ckKick: make(chan struct{}, 1), stop: make(chan struct{})}
	j.cond = sync.NewCond(&j.mu)
	if err := j.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, ioErr("create journal directory", err)
	}
	ents, err := j.fs.ReadDir(dir)
	if err != nil {
		return nil, ioErr("read journal directory", err)
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, journalSuffix+tmpSuffix) && strings.HasPrefix(n, name+".") {
			// A file being created when the power went: never used.
			if err := j.fs.Remove(filepath.Join(dir, n)); err != nil {
				return nil, ioErr("remove temporary journal file", err)
			}
			continue
		}
		stem, ok := strings.CutSuffix(n, journalSuffix)
		if !ok {
			continue
		}
		g, ok := strings.CutPrefix(stem, name+".")
		if !ok || len(g) != 20 {
			continue
		}
		gen, err := strconv.ParseUint(g, 10, 64)
		if err != nil {
			continue
		}
		j.found = append(j.found, &jfile{gen: gen, path: filepath.Join(dir, n)})
		j.gen = max(j.gen, gen)
	}
	slices.SortFunc(j.found, func(a, b *jfile) int { return cmpUint(a.gen, b.gen) })
	if err := j.index(); err != nil {
		return nil, err
	}
	return j, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (j *Journal) filePath(gen uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%s.%020d%s", j.name, gen, journalSuffix))
}

// createFile makes a new, durable, empty journal file of generation gen:
// written as name.tmp with its header, fsynced, renamed and the directory
// fsynced, so that nothing is appended to a file a crash could lose.
func (j *Journal) createFile(gen uint64) (*jfile, error) {
	p := j.filePath(gen)
	h := make([]byte, 0, journalHeaderSize)
	h = append(h, journalMagic...)
	h = binary.BigEndian.AppendUint16(h, journalVersion)
	h = binary.BigEndian.AppendUint16(h, 0)
	h = binary.BigEndian.AppendUint64(h, gen)
	h = binary.BigEndian.AppendUint32(h, crc32.Checksum(h, castagnoli))
	if err := writeFile(j.fs, p, h, true); err != nil {
		return nil, ioErr("create journal file", err)
	}
	// Not O_APPEND: entries are written at their position (WriteAt),
	// over the zeros grow preallocated.
	f, err := j.fs.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, ioErr("open journal file", err)
	}
	return &jfile{gen: gen, genCRC: entryCRC(gen), path: p, f: f, size: journalHeaderSize, alloc: journalHeaderSize}, nil
}

// journalZeros is what grow writes, a piece at a time.
var journalZeros = make([]byte, 64<<10)

// grow preallocates f with zeros so that an entry of n bytes, and the
// ones after it, are written inside the file's length: the fdatasync of a
// round then writes the data alone. Its steps double from 64 KiB to
// j.prealloc and stop at j.maxBytes: the checkpoint switches away from a
// file once its entries reach MaxBytes, so only the current file, the
// last one a replay reads, can end in zeros (scanFile). A full disk
// only ends the preallocation there: the zeros past the last entry are
// never read as one (scanFile), and the entry is written all the same,
// growing the file as it would without. Any other failed write is the
// journal's write failing, returned for writeLocked to fence it.
func (j *Journal) grow(f *jfile, n int64) error {
	if j.prealloc <= 0 || f.size+n <= f.alloc || f.size+n > j.maxBytes {
		return nil
	}
	step := min(j.prealloc, max(min(int64(len(journalZeros)), j.prealloc), f.alloc))
	to := min(f.size+n+step, j.maxBytes)
	for f.alloc < to {
		k, err := f.f.WriteAt(journalZeros[:min(int64(len(journalZeros)), to-f.alloc)], f.alloc)
		f.alloc += int64(k)
		if err != nil {
			if !isNoSpace(err) {
				return ioErr("preallocate "+f.path, err)
			}
			j.log.Debug("journal preallocation stopped: the disk is full", "file", f.path, "at", f.alloc)
			return nil
		}
	}
	f.dirty = true
	return nil
}

// attach registers l, the log of partition id. A partition seen in the
// journal since Recover (a log closed and opened again, as a repair does)
// first gets a durable reset entry: the entries of the log it replaces
// must never be replayed on this one.
func (j *Journal) attach(l *Log, id int32) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	if j.logs[id] != nil {
		j.mu.Unlock()
		return fmt.Errorf("storage: journal %s: partition %d is already open", j.name, id)
	}
	reset := j.started && j.seen[id]
	j.logs[id] = l
	if !reset {
		j.mu.Unlock()
		return nil
	}
	l.mu.RLock()
	leo := l.leo
	l.mu.RUnlock()
	err := j.writeLocked(entryReset, id, leo, nil, jwait{base: -1})
	j.mu.Unlock()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = j.waitRound(ctx)
		cancel()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		delete(j.logs, id)
		return err
	}
	delete(j.unsynced, id)
	return nil
}

// waitRound waits until a syncer round that started after the call has
// ended: everything written before is then durable, or the journal is
// fenced (its error returned).
func (j *Journal) waitRound(ctx context.Context) error {
	done := make(chan error, 1)
	j.mu.Lock()
	if err := j.fenced; err != nil {
		j.mu.Unlock()
		return err
	}
	j.pending = append(j.pending, jwait{done: done})
	j.mu.Unlock()
	j.kickSyncer()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// detach unregisters l (its Close). synced says whether its segments were
// made durable: if not, its entries in the live files must stay.
func (j *Journal) detach(l *Log, id int32, synced bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.logs[id] == l {
		delete(j.logs, id)
	}
	if !synced && j.seen[id] {
		j.unsynced[id] = true
	}
}

func (j *Journal) kickSyncer() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// write appends one entry of partition id (records as appended at base)
// and queues w for the round that makes it durable.
func (j *Journal) write(id int32, base int64, records []byte, w jwait) error {
	j.mu.Lock()
	err := j.writeLocked(entryBatches, id, base, records, w)
	j.mu.Unlock()
	return err
}

func (j *Journal) writeLocked(kind byte, id int32, base int64, payload []byte, w jwait) error {
	switch {
	case j.fenced != nil:
		return j.fenced
	case j.closed:
		return ErrClosed
	case !j.started:
		return fmt.Errorf("storage: journal %s: append before Recover", j.name)
	}
	if j.cur == nil {
		// Recover found no room for a file (see there); I/O under j.mu,
		// but only until the disk has room again.
		nf, err := j.createFile(j.gen + 1)
		if err != nil {
			return err
		}
		j.gen++
		j.cur = nf
	}
	b := j.buf[:0]
	b = append(b, make([]byte, entryHeaderSize)...)
	b[8] = kind
	binary.BigEndian.PutUint32(b[9:], uint32(id))
	binary.BigEndian.PutUint64(b[13:], uint64(base))
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[4:], uint32(len(b)-8))
	binary.BigEndian.PutUint32(b, crc32.Update(j.cur.genCRC, castagnoli, b[4:]))
	if cap(b) <= 1<<20 {
		j.buf = b
	}
	f := j.cur
	if err := j.grow(f, int64(len(b))); err != nil {
		j.fenceLocked(err)
		return err
	}
	n, werr := f.f.WriteAt(b, f.size)
	if werr != nil || n != len(b) {
		if werr == nil {
			werr = errors.New("short write")
		}
		err := ioErr("append to "+f.path, werr)
		// Whatever part was written goes, with the preallocation (the
		// zeros it wrote over are not all there); if that fails the
		// file's end is unknown and the journal is fenced.
		if terr := f.f.Truncate(f.size); terr != nil {
			j.fenceLocked(ioErr("roll back "+f.path, terr))
			return err
		}
		// The next round fsyncs the rollback too: a file that ends in
		// part of an entry after a power loss stops the replay there,
		// before the entries of a later file (the file switches after
		// this write, and its later rounds take dirty old files along).
		f.alloc, f.dirty = f.size, true
		if !isNoSpace(werr) {
			j.fenceLocked(err)
		}
		return err
	}
	f.size += int64(n)
	f.alloc = max(f.alloc, f.size)
	f.dirty = true
	j.seen[id] = true
	j.pending = append(j.pending, w)
	j.kickSyncer()
	if f.size >= j.maxBytes {
		select {
		case j.ckKick <- struct{}{}:
		default:
		}
	}
	return nil
}

// entryCRC is the CRC-32C of an entry: the file's generation, then the
// entry's bytes after its CRC field (given in parts).
func entryCRC(gen uint64, parts ...[]byte) uint32 {
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], gen)
	crc := crc32.Checksum(g[:], castagnoli)
	for _, p := range parts {
		crc = crc32.Update(crc, castagnoli, p)
	}
	return crc
}

// fenceLocked fences the journal and every attached log (lock order:
// j.mu before a log's mu, never the other way).
func (j *Journal) fenceLocked(err error) {
	if j.fenced != nil {
		return
	}
	j.fenced = err
	j.log.Error("journal fenced: every log using it is fenced", "err", err)
	for _, l := range j.logs {
		l.fence(err)
	}
	for _, w := range j.pending {
		if w.done != nil {
			w.done <- err
		}
	}
	j.pending = nil
}

// Err returns the error that fenced the journal, or nil.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fenced
}

func (j *Journal) syncLoop() {
	defer j.wg.Done()
	// Rounds may overlap, up to j.rounds: a round starts as soon
	// as entries wait, even while earlier ones are still in fdatasync.
	// A round is applied only after every earlier one: the high
	// watermarks move in order, and a failed fsync fences the journal
	// before any later round acknowledges anything.
	sem := make(chan struct{}, j.rounds)
	var rounds sync.WaitGroup
	defer rounds.Wait()
	var prev chan struct{} // closed once the previous round is applied
	for {
		select {
		case <-j.stop:
			return
		case <-j.kick:
		}
		select {
		case sem <- struct{}{}:
		case <-j.stop:
			return
		}
		waits, files, ok := j.beginRound()
		if !ok {
			<-sem
			continue
		}
		done := make(chan struct{})
		rounds.Add(1)
		go func(prev chan struct{}) {
			defer rounds.Done()
			var err error
			for _, f := range files {
				if serr := f.f.Sync(); serr != nil && err == nil {
					err = ioErr("fsync "+f.path, serr)
				}
			}
			if prev != nil {
				<-prev
			}
			j.endRound(waits, files, err)
			close(done)
			<-sem
		}(prev)
		prev = done
	}
}

// DefaultJournalRounds is the default JournalOptions.RoundsInFlight. One
// at a time measured best (rewind bench --scenarios commits, ext4 on
// virtio): a second fdatasync of the file while one runs gained nothing,
// and 4 committers reached 11,300-12,200 commits/s with one round in
// flight against 10,000 with two, at the same rate with 64.
const DefaultJournalRounds = 1

// beginRound takes the waiting entries and the files written since the
// last round began (ok false: nothing waits, or the journal is fenced).
func (j *Journal) beginRound() (waits []jwait, files []*jfile, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fenced != nil || len(j.pending) == 0 {
		return nil, nil, false
	}
	waits, j.pending = j.pending, nil
	for _, f := range append(j.old[:len(j.old):len(j.old)], j.cur) {
		if f != nil && f.dirty {
			f.dirty = false
			f.syncing++
			files = append(files, f)
		}
	}
	return waits, files, true
}

// endRound applies a round whose fdatasyncs returned err, after every
// earlier round: its entries are durable (and so is everything written
// before them), and the high watermarks of their logs advance.
func (j *Journal) endRound(waits []jwait, files []*jfile, err error) {
	j.mu.Lock()
	for _, f := range files {
		f.syncing--
	}
	j.cond.Broadcast()
	if err == nil {
		err = j.fenced // an earlier round failed
	}
	if err != nil {
		// Not acknowledged: failed with the journal.
		j.fenceLocked(err)
		for _, w := range waits {
			if w.done != nil {
				w.done <- j.fenced
			}
		}
		j.mu.Unlock()
		return
	}
	j.mu.Unlock()
	// A log's entries are written in its append order, so its last wait
	// of the round is the furthest: one journalDurable per log, however
	// many of its appends the round covers.
	last := make(map[*Log]int, len(waits))
	for i, w := range waits {
		if w.done != nil {
			w.done <- nil
		} else if w.base >= 0 {
			last[w.l] = i
		}
	}
	for i, w := range waits {
		if w.done == nil && w.base >= 0 && last[w.l] == i {
			w.l.journalDurable(w)
		}
	}
}

// checkpointLoop runs a checkpoint whenever the current file passes
// MaxBytes; a checkpoint that could not finish is tried again a second
// later.
func (j *Journal) checkpointLoop() {
	defer j.wg.Done()
	var retry <-chan time.Time
	delay := time.Second
	for {
		select {
		case <-j.stop:
			return
		case <-j.ckKick:
		case <-retry:
		}
		retry = nil
		if err := j.checkpoint(); err != nil {
			// A fenced log keeps failing until it is repaired: back off.
			j.log.Warn("journal checkpoint", "err", err, "retry_in", delay)
			retry = time.After(delay)
			delay = min(2*delay, time.Minute)
		} else {
			delay = time.Second
		}
	}
}

// checkpoint switches appends to a new file and, once every attached log
// has fsynced its segments (each holds everything it wrote to the older
// files: it wrote the segment first), removes the older files.
func (j *Journal) checkpoint() error {
	j.mu.Lock()
	if j.fenced != nil || j.closed || j.ckBusy {
		err := j.fenced
		j.mu.Unlock()
		return err
	}
	j.ckBusy = true
	switchFile := len(j.old) == 0 && j.cur != nil && j.cur.size >= j.maxBytes
	gen := j.gen + 1
	if switchFile {
		j.gen = gen
	}
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		j.ckBusy = false
		j.mu.Unlock()
	}()

	if switchFile {
		nf, err := j.createFile(gen)
		if err != nil {
			return err
		}
		j.mu.Lock()
		if j.fenced != nil || j.closed {
			j.mu.Unlock()
			nf.f.Close()
			return j.fenced
		}
		j.old = append(j.old, j.cur)
		j.cur = nf
		j.mu.Unlock()
	}
	return j.removeOld()
}

// removeOld fsyncs every attached log's segments and removes the files
// older than the current one, unless a log that has entries in them is
// gone without making them durable, or an fsync failed.
func (j *Journal) removeOld() error {
	j.mu.Lock()
	logs := make([]*Log, 0, len(j.logs))
	for _, l := range j.logs {
		logs = append(logs, l)
	}
	j.mu.Unlock()
	var errs []error
	for _, l := range logs {
		if err := l.journalCheckpoint(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	j.mu.Lock()
	if len(j.unsynced) > 0 {
		n := len(j.unsynced)
		j.mu.Unlock()
		return fmt.Errorf("storage: journal %s: %d partitions closed with appends not in their segments; the journal files are kept until they are opened again", j.name, n)
	}
	for _, f := range j.old {
		for f.syncing > 0 {
			j.cond.Wait()
		}
	}
	old := j.old
	j.old = nil
	j.mu.Unlock()
	var err error
	for _, f := range old {
		f.f.Close()
		if rerr := j.fs.Remove(f.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = ioErr("remove journal file", rerr)
		}
	}
	if len(old) > 0 && err == nil {
		// Not needed for safety (a file that comes back holds only
		// entries the segments have), but it keeps replays short.
		if serr := j.fs.SyncDir(j.dir); serr != nil {
			err = ioErr("sync journal directory", serr)
		}
	}
	return err
}

// Recover ends the journal's recovery and starts it: the logs using it
// must be open (each replayed the journal's entries past its recovered
// end into its segment and fsynced them before its recovery read them:
// see replayBefore). The entries of partitions no open log took, and of
// logs fenced at Open, are dropped (logged), a new journal file is made
// and the old ones removed (if they cannot be, Recover fails and takes no
// appends); appends are taken from then on.
func (j *Journal) Recover() error {
	j.mu.Lock()
	if j.started || j.closed {
		j.mu.Unlock()
		return fmt.Errorf("storage: journal %s: Recover called twice or after Close", j.name)
	}
	left := j.refs
	j.refs = nil
	j.mu.Unlock()
	for id, refs := range left {
		j.log.Error("journal entries of a partition that is not open dropped", "partition", id, "entries", len(refs))
	}
	nf, err := j.createFile(j.gen + 1)
	if err != nil && !isNoSpace(err) {
		return err
	}
	if err != nil {
		// A start on a full disk serves read-only: appends fail (ENOSPC)
		// until the first one that finds room creates the file.
		j.log.Warn("no room for a new journal file: appends wait for space", "err", err)
	}
	j.mu.Lock()
	if nf != nil {
		j.gen++
		j.cur = nf
	}
	old := j.found
	j.found = nil
	j.started = true
	j.mu.Unlock()
	// The replayed files must go, durably, before anything is appended:
	// one left in place comes before the new file at the next start, and
	// the torn entry that ends it (the crash this start recovers from)
	// would stop that replay before the new file's entries. So a start
	// that cannot remove them all fails; what it could not remove is
	// replayed again (and skipped) by the next start.
	var rmErr error
	for _, f := range old {
		if rerr := j.fs.Remove(f.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && rmErr == nil {
			rmErr = ioErr("remove replayed journal file", rerr)
		}
	}
	if len(old) > 0 && rmErr == nil {
		if serr := j.fs.SyncDir(j.dir); serr != nil {
			rmErr = ioErr("sync journal directory", serr)
		}
	}
	if rmErr != nil {
		return fmt.Errorf("storage: journal %s: %w", j.name, rmErr)
	}
	j.wg.Add(2)
	go j.syncLoop()
	go j.checkpointLoop()
	return nil
}

// Close stops the journal. If every log it served was closed cleanly
// (their segments durable), the journal files are replaced by one empty
// file; otherwise they are kept for the next Recover.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	started := j.started
	j.mu.Unlock()
	if started {
		close(j.stop)
		j.wg.Wait()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, w := range j.pending {
		if w.done != nil {
			w.done <- ErrClosed
		}
	}
	j.pending = nil
	files := j.old
	if j.cur != nil {
		files = append(files, j.cur)
	}
	clean := started && j.fenced == nil && len(j.logs) == 0 && len(j.unsynced) == 0
	var err error
	if clean {
		var nf *jfile
		if nf, err = j.createFile(j.gen + 1); err == nil {
			nf.f.Close()
			for _, f := range files {
				f.f.Close()
				if rerr := j.fs.Remove(f.path); rerr != nil && err == nil {
					err = ioErr("remove journal file", rerr)
				}
			}
			if err == nil {
				if serr := j.fs.SyncDir(j.dir); serr != nil {
					err = ioErr("sync journal directory", serr)
				}
			}
			return err
		}
		if isNoSpace(err) {
			// Every log's segments are durable: the files left hold
			// nothing the next replay does not skip.
			j.log.Warn("journal files left on a full disk; the next start skips them", "err", err)
			err = nil
		}
	}
	for _, f := range files {
		f.f.Close()
	}
	if !clean && started && j.fenced == nil {
		j.log.Warn("journal kept for the next start: not every log using it was closed cleanly", "open", len(j.logs), "unsynced", len(j.unsynced))
	}
	return err
}
