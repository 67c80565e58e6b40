package storage

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

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

	// segMu serializes the changes to sealed segments' files: compaction's
	// swap, retention's and DeleteRecordsBefore's deletions, Close. It is
	// taken before appendMu and never by Append, so that a compaction
	// swap, with its directory fsyncs, does not hold appends up.
	segMu sync.Mutex
	// appendMu serializes everything that changes the files but
	// compaction's swap: Append, rolls, retention, DeleteRecordsBefore,
	// SetConfig, Close. The fields below it are only touched with it held.
	appendMu  sync.Mutex
	cfg       Config
	producers producerMap
	stage     []staged
	started   []startedTxn // transactions the current Append opens
	snapshots []int64      // offsets of the producer snapshot files, ascending
	ck        checkpoint
	// ckDeferred: load left ck to be written by Open in the background
	// (writeOpenCheckpoint); a clean Close closes ckSkip to skip it.
	ckDeferred bool
	ckSkip     chan struct{}
	skipOnce   sync.Once

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
	changed  chan struct{}       // closed when hw advances; nil until someone waits
	durable  []durableWaiter     // OnDurable callbacks not yet due (durable.go)
	watchers map[*watch]struct{} // Watch callbacks (durable.go)
	dirty    []*segment          // segments with writes not yet fsynced (each holds a ref)
	spare    []*segment

	size   atomic.Int64 // bytes in .log files
	maxMsg atomic.Int32 // cfg.MaxMessageBytes
	keyed  atomic.Bool  // cfg.RequireKeys
	codec  atomic.Int32 // cfg.CompressionType's codec, -1: as produced
	// tsCheck is the record timestamp check of the config (nil: none),
	// read by Append before it takes appendMu.
	tsCheck     atomic.Pointer[Config]
	leaderEpoch atomic.Int32 // stamped into appended batches when >= 0

	txn txnState // open transactions (txn.go); guarded by mu, changed under appendMu too

	cmp compactor // Compact's state (compact.go)

	// jr is the journal of a journaled log (Options.Journal), jid its
	// partition there; jdur (under mu) the furthest append the journal
	// made durable, which the high watermark follows once the append's
	// own bookkeeping is done (advanceJournaledLocked).
	jr   *Journal
	jid  int32
	jdur jwait

	kick chan struct{} // wakes the syncer (FsyncAlways)
	stop chan struct{}
	wg   sync.WaitGroup
}

// openCheckpoints bounds the background checkpoint writes of Open (a few
// fsyncs each) running at once. A goroutine blocked in fsync holds on to
// its P (the Go scheduler's processor) until the runtime hands it off,
// which can take milliseconds: with as many fsyncs in flight as Ps, the
// requests a broker is already serving wait for them. Half the Ps leaves
// the other half to the network.
var openCheckpoints = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

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
	if j := opts.Journal; j != nil && opts.Fsync == FsyncAlways {
		// While the journal recovers: what it holds past the log's end
		// goes into the segment first, for the recovery below to read.
		if err := j.replayBefore(dir, cfg, opts); err != nil {
			return nil, err
		}
	}
	l := &Log{
		dir:       dir,
		fs:        opts.FS,
		opts:      opts,
		log:       opts.Logger.With("log", dir),
		cfg:       cfg.normalize(),
		producers: producerMap{},
		txn:       txnState{firstOpn: -1},
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	l.maxMsg.Store(l.cfg.MaxMessageBytes)
	l.keyed.Store(l.cfg.RequireKeys)
	l.storeCodec()
	l.storeTimestampCheck()
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
	err := l.load()
	if j := l.opts.Journal; err == nil && j != nil && l.opts.Fsync == FsyncAlways {
		if err = j.attach(l, l.opts.JournalPartition); err == nil {
			l.jr, l.jid = j, l.opts.JournalPartition
		}
	}
	if err != nil {
		for _, s := range l.segs {
			s.decRef()
		}
		return nil, err
	}
	if l.ckDeferred {
		// After a clean shutdown the checkpoint that says "not clean" is
		// written in the background, holding appendMu: every change to
		// the files (appends, rolls, retention, compaction, Close) takes
		// appendMu, so none can happen before it is durable, while reads
		// are served at once. A failure fences the log.
		l.appendMu.Lock()
		l.ckSkip = make(chan struct{})
		go l.writeOpenCheckpoint()
	}

	switch l.opts.Fsync {
	case FsyncAlways:
		if l.jr != nil {
			break // the journal's syncer makes appends durable
		}
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

// openSegment returns the segment at base. A created one (O_TRUNC: a new
// active segment) is open at once; an existing one is opened when first
// used, so that a log holds no descriptor until it is read or written.
func (l *Log) openSegment(base int64, create bool) (*segment, error) {
	p := l.path(segmentName(base, logSuffix))
	var f vfs.File
	if create {
		var err error
		f, err = l.opts.Handles.openFile(l.fs, p, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, ioErr("create segment", err)
		}
	}
	s := newSegment(base, p, l.opts.Handles.newHandle(l.fs, p, f, false))
	s.closeLogger = func(err error) { l.log.Warn("closing segment", "segment", p, "err", err) }
	return s, nil
}

// writeOpenCheckpoint writes the checkpoint Open deferred, once
// Options.OpenedAll is closed and a slot of openCheckpoints is free, then
// releases appendMu (taken by Open). A clean Close coming first skips it:
// the files are still as the clean checkpoint says, and Close writes a
// new one.
func (l *Log) writeOpenCheckpoint() {
	defer l.appendMu.Unlock()
	if l.opts.OpenedAll != nil {
		select {
		case <-l.opts.OpenedAll:
		case <-l.ckSkip:
			return
		}
	}
	select {
	case openCheckpoints <- struct{}{}:
	case <-l.ckSkip:
		return
	}
	defer func() { <-openCheckpoints }()
	if err := writeCheckpoint(l.fs, l.dir, l.ck); err != nil {
		l.fence(ioErr("write checkpoint", err))
	}
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
	l.keyed.Store(l.cfg.RequireKeys)
	l.storeCodec()
	l.storeTimestampCheck()
	l.appendMu.Unlock()
}

func (l *Log) storeTimestampCheck() {
	if !l.cfg.CheckTimestamps || l.cfg.LogAppendTime {
		l.tsCheck.Store(nil)
		return
	}
	c := l.cfg
	l.tsCheck.Store(&c)
}

// storeCodec records the codec appends are rewritten in (-1: none); an
// unknown compression.type (refused by the catalog) stores as produced.
func (l *Log) storeCodec() {
	c, err := compressionCodec(l.cfg.CompressionType)
	if err != nil {
		c = -1
	}
	l.codec.Store(int32(c))
}

// recordChecks are the checks of every record an append now makes (nil:
// none beyond its structure).
func (l *Log) recordChecks() *recordChecks {
	ts, keyed := l.timestampBounds(), l.keyed.Load()
	if ts == nil && !keyed {
		return nil
	}
	return &recordChecks{ts: ts, keyed: keyed}
}

// timestampBounds are the record timestamps an append now may carry (nil:
// any).
func (l *Log) timestampBounds() *tsBounds {
	c := l.tsCheck.Load()
	if c == nil {
		return nil
	}
	return timestampBounds(*c, l.nowMs())
}

// SetLeaderEpoch makes Append stamp epoch into the PartitionLeaderEpoch
// field of every batch it appends from now on, as a Kafka leader does
// (the field is outside the CRC). A negative epoch, the default, stores
// the field as produced.
func (l *Log) SetLeaderEpoch(epoch int32) { l.leaderEpoch.Store(epoch) }

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
	if clean {
		l.skipOnce.Do(func() {
			if l.ckSkip != nil {
				close(l.ckSkip) // see writeOpenCheckpoint
			}
		})
	}
	l.segMu.Lock()
	defer l.segMu.Unlock()
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
		s.f.dirty.Add(-1) // marked by Append
		s.decRef()
	}
	for _, s := range segs {
		s.decRef()
	}
	if l.jr != nil {
		// A deleted log's entries are void; a cleanly closed one's are in
		// its segments; a fenced one's may be only in the journal.
		l.jr.detach(l, l.jid, !clean || err == nil && l.Err() == nil)
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
				// Its aborted-transaction index was written unsynced at
				// the roll, and the clean checkpoint makes the next Open
				// trust it: it cannot be rebuilt once the checkpoint says
				// the segment needs no recovery.
				if err := l.writeTxnIndex(s, true); err != nil {
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
	if err := l.writeTxnIndex(active, true); err != nil {
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
