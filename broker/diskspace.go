package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewindhq/rewind/storage/vfs"
)

// A full disk must leave a way out. Deleting topics and records, lowering
// retention and restarting all write a little (the catalog, checkpoints),
// so on a file system with no space at all nothing could be freed without
// growing it. The broker therefore keeps a reserve file of --disk-reserve
// bytes in the data directory and goes read-only when the file system
// fills up:
//
//   - It goes read-only when a write fails with ENOSPC or EDQUOT (seen by
//     diskFS, whatever wrote), or when less than the reserve's size is free
//     at a check (every DiskCheckInterval, and at start). The reserve file
//     is removed at once: its space is what the catalog writes, deletions
//     and checkpoints that follow use.
//   - While read-only, Produce answers KAFKA_STORAGE_ERROR (as Kafka does
//     for a partition whose log directory failed), OffsetCommit too (not
//     NOT_COORDINATOR: a single node has no other coordinator to find),
//     CreateTopics and CreatePartitions are refused, Metadata does not
//     auto-create topics and compaction waits. Fetch, ListOffsets,
//     Metadata, DeleteTopics, DeleteRecords, config changes and
//     retention work, and group membership while its records take at
//     most a quarter of the reserve (groupRecords).
//   - It becomes writable by itself once twice the reserve is free: the
//     reserve is created again and one reserve's worth is left for data,
//     so it does not flap at the threshold.
//
// A --disk-reserve of 0 turns all of this off.

// WithDiskReserve sets --disk-reserve: the bytes kept in the reserve
// file, and the free space below which the broker is read-only (0 = off).
func WithDiskReserve(n int64) Option { return func(c *Config) { c.DiskReserve = n } }

// reserveName is the reserve file in the data directory.
const reserveName = "disk.reserve"

// diskGuard keeps the reserve and the read-only state.
type diskGuard struct {
	fs   vfs.FS // the file system beneath diskFS: the reserve's own ENOSPC is not a full disk
	dir  string
	path string
	size int64
	log  *slog.Logger

	readOnly atomic.Bool
	mu       sync.Mutex // serializes transitions and the reserve file
	// reason says why read-only. It is read without mu by writable(),
	// which every Produce calls: mu is held while the reserve is written
	// and fsynced.
	reason atomic.Pointer[string]
	since  time.Time // guarded by mu
	// groupBytes: bytes of group records written since the broker went
	// read-only (see groupRecords).
	groupBytes atomic.Int64
}

func newDiskGuard(fs vfs.FS, dir string, size int64, log *slog.Logger) *diskGuard {
	return &diskGuard{fs: fs, dir: dir, path: filepath.Join(dir, reserveName), size: size, log: log}
}

func (d *diskGuard) enabled() bool { return d != nil && d.size > 0 }

// start runs before anything else touches the data directory, so that a
// start on a full disk has the reserve's space for its checkpoints.
func (d *diskGuard) start() error {
	if !d.enabled() {
		// A reserve left by a run with --disk-reserve only holds space now.
		if err := d.removeReserve(); err != nil {
			d.log.Warn("cannot remove the reserve file of an earlier run", "err", err)
		}
		return nil
	}
	if err := d.fs.MkdirAll(d.dir, 0o755); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	fi, err := d.fs.Stat(d.path)
	if err == nil && fi.Size() == d.size {
		d.check() // read-only if less than the reserve is free
	} else {
		// One of another --disk-reserve, or cut short by a crash, goes
		// first: on a full disk its space is all that deletions will
		// have, and a broker starting read-only would never release it.
		if err := d.removeReserve(); err != nil {
			return fmt.Errorf("broker: removing the old reserve file: %w", err)
		}
		// No reserve: a first start, or the last run released it. It is
		// made when there is room for it and as much again for data,
		// as when leaving read-only.
		d.readOnly.Store(true)
		d.since = time.Now()
		if free, known := freeSpace(d.dir); known && free < 2*d.size {
			d.setReason(fmt.Sprintf("%d bytes free, less than twice --disk-reserve %d", free, d.size))
		} else if err := d.createReserve(); err != nil {
			d.setReason("creating the reserve file: " + err.Error())
		} else {
			d.readOnly.Store(false)
		}
	}
	if d.readOnly.Load() {
		free, _ := freeSpace(d.dir)
		d.log.Error("data directory full: starting read-only; Produce gets KAFKA_STORAGE_ERROR and OffsetCommit NOT_COORDINATOR until space is freed (delete topics or records, or lower retention)",
			"data_dir", d.dir, "reason", d.why(), "free_bytes", free, "disk_reserve", d.size)
	}
	return nil
}

// check compares the free space with the reserve: read-only below one
// reserve's size, writable again (reserve re-created) from twice that.
func (d *diskGuard) check() {
	if !d.enabled() {
		return
	}
	free, known := freeSpace(d.dir)
	if !d.readOnly.Load() {
		if known && free < d.size {
			d.enter(fmt.Sprintf("%d bytes free, less than --disk-reserve %d", free, d.size))
		}
		return
	}
	if known && free < 2*d.size {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.readOnly.Load() {
		return
	}
	if err := d.createReserve(); err != nil {
		d.log.Debug("disk still full: the reserve cannot be created", "err", err)
		return
	}
	d.readOnly.Store(false)
	d.log.Info("disk space available again: the broker is writable", "data_dir", d.dir, "free_bytes", free, "read_only_for", time.Since(d.since).Round(time.Millisecond).String())
}

// enter makes the broker read-only and releases the reserve.
func (d *diskGuard) enter(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.readOnly.Load() {
		return
	}
	d.setReason(reason)
	d.readOnly.Store(true)
	d.since = time.Now()
	d.groupBytes.Store(0)
	rerr := d.fs.Remove(d.path)
	if errors.Is(rerr, os.ErrNotExist) {
		rerr = nil
	}
	d.log.Error("data directory full: the broker is read-only; Produce gets KAFKA_STORAGE_ERROR and OffsetCommit NOT_COORDINATOR until space is freed (delete topics or records, or lower retention)",
		"data_dir", d.dir, "reason", reason, "reserve_released", rerr == nil, "release_err", rerr)
}

// noSpace is called by diskFS when a write fails for want of space.
func (d *diskGuard) noSpace(err error) { d.enter(err.Error()) }

// ReadOnly returns nil, or why the broker is read-only: its data
// directory's file system is full (see diskspace.go). Reads and the
// deletions that free space are served meanwhile.
func (b *Broker) ReadOnly() error { return b.disk.writable() }

// writable returns nil, or the error that read-only refusals carry.
func (d *diskGuard) writable() error {
	if d == nil || !d.readOnly.Load() {
		return nil
	}
	return fmt.Errorf("the data directory's file system is full (%s): the broker is read-only until space is freed", d.why())
}

func (d *diskGuard) setReason(s string) { d.reason.Store(&s) }

func (d *diskGuard) why() string {
	if p := d.reason.Load(); p != nil {
		return *p
	}
	return ""
}

// groupRecords accounts for n bytes of group records (members' metadata
// and assignments, written at each rebalance) about to be written while
// the broker is read-only. Their number and size are the clients'
// choice, and the reserve's space must stay for the deletions that free
// the disk: they may take a quarter of it, then are refused (nil while
// writable).
func (d *diskGuard) groupRecords(n int64) error {
	err := d.writable()
	if err == nil {
		return nil
	}
	if d.groupBytes.Add(n) > d.size/4 {
		d.groupBytes.Add(-n)
		return fmt.Errorf("%w; group records have had their quarter of --disk-reserve", err)
	}
	return nil
}

// retry runs fn and, if it failed for want of space, once more: the
// failure made the broker read-only and released the reserve, so a small
// write such as the catalog's fits now.
func (d *diskGuard) retry(fn func() error) error {
	err := fn()
	if err != nil && d.enabled() && isNoSpace(err) {
		d.enter(err.Error()) // whatever wrote bypassed diskFS
		err = fn()
	}
	return err
}

// removeReserve removes the reserve file if there is one.
func (d *diskGuard) removeReserve() error {
	if err := d.fs.Remove(d.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// createReserve writes the reserve file; on failure nothing is left.
// Called with mu held.
func (d *diskGuard) createReserve() error {
	f, err := d.fs.OpenFile(d.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = allocate(f, d.size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.fs.Remove(d.path)
	}
	return err
}

// allocate gives f size bytes of real blocks: fallocate where the file
// system has it (no data written), else zeros.
func allocate(f vfs.File, size int64) error {
	if of := vfs.OSFile(f); of != nil {
		err := fallocate(of, size)
		if err == nil || isNoSpace(err) {
			return err
		}
		// Not supported here: write zeros instead.
	}
	zero := make([]byte, min(size, 1<<20))
	for left := size; left > 0; {
		n, err := f.Write(zero[:min(left, int64(len(zero)))])
		if err != nil {
			return err
		}
		left -= int64(n)
	}
	return nil
}

// loop checks the free space every interval until the broker closes.
func (d *diskGuard) loop(b *Broker, every time.Duration) {
	defer b.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			d.check()
		}
	}
}

// register adds the disk series to the broker's Prometheus registry.
func (d *diskGuard) register(reg *prometheus.Registry) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rewind_disk_full",
			Help: "1 while the data directory's file system is full and the broker is read-only (Produce and OffsetCommit refused), else 0.",
		}, func() float64 {
			if d.writable() != nil {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rewind_disk_free_bytes",
			Help: "Bytes free for the broker on the data directory's file system (-1 if unknown).",
		}, func() float64 {
			free, ok := freeSpace(d.dir)
			if !ok {
				return -1
			}
			return float64(free)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rewind_disk_reserve_bytes",
			Help: "Size of the reserve file kept in the data directory (--disk-reserve), released when the disk fills up.",
		}, func() float64 { return float64(d.size) }),
	)
}

// isNoSpace says whether err is the file system running out of space or
// quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// diskFS reports every write that fails for want of space to the guard,
// whatever made it (logs, checkpoints, the catalog, __consumer_offsets).
type diskFS struct {
	vfs.FS
	d *diskGuard
}

func (fs diskFS) seen(err error) error {
	if err != nil && isNoSpace(err) {
		fs.d.noSpace(err)
	}
	return err
}

func (fs diskFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := fs.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, fs.seen(err)
	}
	return diskFile{f, fs.d}, nil
}

func (fs diskFS) Rename(oldname, newname string) error {
	return fs.seen(fs.FS.Rename(oldname, newname))
}

func (fs diskFS) MkdirAll(name string, perm os.FileMode) error {
	return fs.seen(fs.FS.MkdirAll(name, perm))
}

func (fs diskFS) SyncDir(name string) error { return fs.seen(fs.FS.SyncDir(name)) }

type diskFile struct {
	vfs.File
	d *diskGuard
}

// Unwrap lets vfs.OSFile find the OS file, for sendfile.
func (f diskFile) Unwrap() vfs.File { return f.File }

func (f diskFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	if err != nil && isNoSpace(err) {
		f.d.noSpace(err)
	}
	return n, err
}

func (f diskFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	if err != nil && isNoSpace(err) {
		f.d.noSpace(err)
	}
	return n, err
}

func (f diskFile) Sync() error {
	return diskFS{d: f.d}.seen(f.File.Sync())
}

func (f diskFile) Truncate(size int64) error {
	return diskFS{d: f.d}.seen(f.File.Truncate(size))
}

func (f diskFile) Close() error { return diskFS{d: f.d}.seen(f.File.Close()) }
