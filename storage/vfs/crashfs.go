package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CrashFS is an in-memory file system that can lose power, in the style of
// pebble's strict MemFS (vfs.NewCrashableMem): what it keeps across a
// crash is only what the program made durable, by the rules below, which
// are the worst case Linux promises on ext4 and xfs (fsync(2): "calling
// fsync() does not necessarily ensure that the entry in the directory
// containing the file has also reached disk").
//
// The model. A file is an inode holding two byte strings: what readers see
// (the page cache) and what is on the disk. A directory is an inode
// holding two name → inode maps, likewise. Then:
//
//   - Write and Truncate change only the page cache of the file. File.Sync
//     (fsync or fdatasync) copies the file's page cache to its disk copy:
//     data and size, nothing about any directory.
//   - Creating a file (OpenFile with O_CREATE), Rename, Remove, RemoveAll
//     and MkdirAll change only the page cache of the directories involved.
//     SyncDir(dir) makes dir's entries durable: which names exist and
//     which inode each names (a renamed file is durable under its new name
//     once the directory is synced, and under the old one until then). It
//     does not make the files' contents durable, nor dir's own entry in its
//     parent: a new directory needs SyncDir of its parent too, and a file
//     created in it is lost with it.
//   - A rename is atomic within a directory: a crash leaves the old or the
//     new state, never neither. Across directories each side is made
//     durable by its own directory's sync.
//   - O_TRUNC is a Truncate(0): undone by a crash unless the file is synced.
//
// Crash (or the crash armed by CrashAfter) returns the disk as a new
// CrashFS, on which everything it holds is durable, and kills this one:
// every later operation on it or on its open files fails with an error
// matching ErrPowerLost, so a program still running on it cannot
// acknowledge anything after the moment of the crash. Strict (rng nil), a
// crash keeps exactly the durable state. Torn (rng given), it also keeps
// what the OS might have written back on its own before the power went:
// each directory keeps, in order, a random prefix of the entry changes
// made since its last sync (a journal commits metadata in order), and
// each file whose page cache only appended to its disk copy keeps a random
// prefix of the appended bytes, ending at the end of a write or at a 4 KiB
// page boundary (the kernel copies a write and grows the size a page at a
// time), in which random pages (the part of them past the durable size)
// read as zeros, as blocks allocated but never written do; a file
// overwritten in place keeps its disk copy, its page cache, or a random
// mix of their pages (the size either one's); a truncated file keeps its
// disk copy or, at random, its page cache.
//
// The lock of a data directory (LockFile) is not part of an FS: it is
// taken on the operating system's file system, so tests keep the lock file
// in a real temporary directory whose path they also use in the CrashFS.
//
// A CrashFS is safe for concurrent use. Paths are cleaned and taken as
// absolute. The zero value is not usable: call NewCrashFS.
type CrashFS struct {
	mu   sync.Mutex
	root *memNode
	dead bool

	ops     int64      // mutating operations so far
	crashAt int64      // > 0: lose power once ops reaches it
	rng     *rand.Rand // torn crash of the armed crash
	image   *CrashFS   // the disk after the crash, once dead
}

// ErrPowerLost is what every operation of a CrashFS fails with after it
// crashed (wrapped in an *os.PathError).
var ErrPowerLost = errors.New("vfs: power lost")

type memNode struct {
	dir     bool
	modTime time.Time

	// A file's page cache and disk copy, and the ends of the writes
	// since the last sync (where a torn crash may cut the file).
	data, synced []byte
	writeEnds    []int

	// A directory's entries now and on disk, and the changes since the
	// last SyncDir in order (a torn crash keeps a prefix of them).
	children, durable map[string]*memNode
	pending           []dirChange
}

// dirChange is one change of a directory's entries: name now names node
// (nil: removed), and del, if set, is removed in the same step (a rename
// within the directory).
type dirChange struct {
	name string
	node *memNode
	del  string
}

func newDir() *memNode {
	return &memNode{dir: true, modTime: time.Now(), children: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// NewCrashFS returns an empty CrashFS whose root directory exists and is
// durable.
func NewCrashFS() *CrashFS { return &CrashFS{root: newDir()} }

func split(name string) []string {
	name = strings.TrimPrefix(filepath.Clean("/"+name), "/")
	if name == "" {
		return nil
	}
	return strings.Split(name, "/")
}

func perr(op, name string, err error) error { return &os.PathError{Op: op, Path: name, Err: err} }

// lookup walks to the node name names. Called with mu held.
func (c *CrashFS) lookup(name string) (*memNode, error) {
	n := c.root
	for _, p := range split(name) {
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		n = n.children[p]
		if n == nil {
			return nil, syscall.ENOENT
		}
	}
	return n, nil
}

// parent returns the directory holding name and name's last element.
func (c *CrashFS) parent(name string) (*memNode, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", syscall.EINVAL // the root
	}
	d, err := c.lookup(strings.Join(parts[:len(parts)-1], "/"))
	if err != nil {
		return nil, "", err
	}
	if !d.dir {
		return nil, "", syscall.ENOTDIR
	}
	return d, parts[len(parts)-1], nil
}

func (d *memNode) set(name string, n *memNode, del string) {
	if del != "" {
		delete(d.children, del)
	}
	if n == nil {
		delete(d.children, name)
	} else {
		d.children[name] = n
	}
	d.modTime = time.Now()
	d.pending = append(d.pending, dirChange{name: name, node: n, del: del})
}

// begin starts an operation: it fails once the power is lost. Called with
// mu held.
func (c *CrashFS) begin(op, name string) error {
	if c.dead {
		return perr(op, name, ErrPowerLost)
	}
	return nil
}

// done ends a mutating operation that took effect, losing the power if
// it is the one CrashAfter armed. Called with mu held.
func (c *CrashFS) done() {
	c.ops++
	if c.crashAt > 0 && c.ops >= c.crashAt {
		c.crashLocked(c.rng)
	}
}

// Ops returns how many mutating operations (creating or truncating opens,
// writes, syncs, truncates, removes, renames, directory creations and
// directory syncs) have taken effect: the crash points CrashAfter counts.
func (c *CrashFS) Ops() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops
}

// CrashAfter arms a crash: the power is lost right after the n-th mutating
// operation from now has taken effect (that operation succeeds; every
// later one fails). rng nil makes it strict, otherwise torn (see
// CrashFS). Image returns the disk once it happened.
func (c *CrashFS) CrashAfter(n int64, rng *rand.Rand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crashAt, c.rng = c.ops+max(n, 1), rng
}

// Image returns the disk left by the crash, or nil if there was none yet.
func (c *CrashFS) Image() *CrashFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.image
}

// Crash loses the power now (if it is not lost already) and returns the
// disk: a new CrashFS holding only what was durable (strict, rng nil) or
// also some of what was not (torn).
func (c *CrashFS) Crash(rng *rand.Rand) *CrashFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crashLocked(rng)
	return c.image
}

// CrashClone returns the disk a crash now would leave, as Crash does, but
// without losing the power: this file system goes on working (pebble's
// CrashClone). Tests use it to try several crashes from one state.
func (c *CrashFS) CrashClone(rng *rand.Rand) *CrashFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return c.image.CrashClone(nil)
	}
	return &CrashFS{root: rebuild(c.root, rng, map[*memNode]*memNode{})}
}

func (c *CrashFS) crashLocked(rng *rand.Rand) {
	if c.dead {
		return
	}
	c.dead = true
	c.image = &CrashFS{root: rebuild(c.root, rng, map[*memNode]*memNode{})}
}

// rebuild returns the inode n as the disk holds it after a crash. seen
// keeps an inode named twice (a rename across directories half durable)
// one inode.
func rebuild(n *memNode, rng *rand.Rand, seen map[*memNode]*memNode) *memNode {
	if m := seen[n]; m != nil {
		return m
	}
	m := &memNode{dir: n.dir, modTime: n.modTime}
	seen[n] = m
	if !n.dir {
		m.data = survivingData(n, rng)
		m.synced = slices.Clone(m.data)
		return m
	}
	entries := map[string]*memNode{}
	for k, v := range n.durable {
		entries[k] = v
	}
	if rng != nil && len(n.pending) > 0 {
		for _, ch := range n.pending[:rng.IntN(len(n.pending)+1)] {
			if ch.del != "" {
				delete(entries, ch.del)
			}
			if ch.node == nil {
				delete(entries, ch.name)
			} else {
				entries[ch.name] = ch.node
			}
		}
	}
	m.children, m.durable = map[string]*memNode{}, map[string]*memNode{}
	for k, v := range entries {
		r := rebuild(v, rng, seen)
		m.children[k], m.durable[k] = r, r
	}
	return m
}

// pageSize is the granularity at which a torn crash loses written-back
// data: a page the OS did not write reads as zeros.
const pageSize = 4096

// survivingData returns what a crash leaves of the file n.
func survivingData(n *memNode, rng *rand.Rand) []byte {
	if rng == nil || slices.Equal(n.data, n.synced) {
		return slices.Clone(n.synced)
	}
	if len(n.data) < len(n.synced) {
		// Truncated since the sync: one or the other.
		if rng.IntN(2) == 0 {
			return slices.Clone(n.synced)
		}
		return slices.Clone(n.data)
	}
	if !slices.Equal(n.data[:len(n.synced)], n.synced) {
		// Overwritten in place (and perhaps grown) since the sync: the
		// disk copy, the page cache, or each page of either, the size
		// old or new (a page past the old size that the OS did not write
		// reads as zeros).
		switch rng.IntN(3) {
		case 0:
			return slices.Clone(n.synced)
		case 1:
			return slices.Clone(n.data)
		}
		size := len(n.synced)
		if rng.IntN(2) == 0 {
			size = len(n.data)
		}
		out := make([]byte, size)
		copy(out, n.synced)
		for p := 0; p < size; p += pageSize {
			if rng.IntN(2) == 0 {
				copy(out[p:min(p+pageSize, size)], n.data[p:])
			}
		}
		return out
	}
	// The file may end where the OS had copied data to when it wrote the
	// size back: the end of a write, or a page boundary inside one (a
	// large write is copied and the size grown a page at a time).
	from, to := len(n.synced), len(n.data)
	cuts := []int{from}
	for p := (from/pageSize + 1) * pageSize; p < to; p += pageSize {
		cuts = append(cuts, p)
	}
	for _, e := range n.writeEnds {
		if e > from && e <= to {
			cuts = append(cuts, e)
		}
	}
	switch rng.IntN(4) {
	case 0: // nothing written back
		to = from
	case 1: // everything
	default:
		to = cuts[rng.IntN(len(cuts))]
	}
	out := slices.Clone(n.data[:to])
	if rng.IntN(2) == 0 {
		return out // written back in order
	}
	for p := from / pageSize * pageSize; p < to; p += pageSize {
		if rng.IntN(4) == 0 {
			clear(out[max(p, from):min(p+pageSize, to)])
		}
	}
	return out
}

// SyncAll makes everything durable, as a clean unmount would: tests call
// it after setting up a directory tree that must outlive crashes.
func (c *CrashFS) SyncAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var walk func(n *memNode)
	walk = func(n *memNode) {
		if !n.dir {
			n.synced, n.writeEnds = slices.Clone(n.data), nil
			return
		}
		n.durable, n.pending = maps(n.children), nil
		for _, ch := range n.children {
			walk(ch)
		}
	}
	walk(c.root)
}

func maps(m map[string]*memNode) map[string]*memNode {
	out := make(map[string]*memNode, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (c *CrashFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("open", name); err != nil {
		return nil, err
	}
	d, base, err := c.parent(name)
	if err != nil {
		return nil, perr("open", name, err)
	}
	n := d.children[base]
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, perr("open", name, syscall.ENOENT)
	case n != nil && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, perr("open", name, syscall.EEXIST)
	case n != nil && n.dir:
		return nil, perr("open", name, syscall.EISDIR)
	}
	mutated := false
	if n == nil {
		n = &memNode{modTime: time.Now()}
		d.set(base, n, "")
		mutated = true
	}
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if flag&os.O_TRUNC != 0 && acc != os.O_RDONLY && len(n.data) > 0 {
		n.data = nil
		mutated = true
	}
	f := &memFile{fs: c, n: n, name: name, append: flag&os.O_APPEND != 0,
		read: acc != os.O_WRONLY, write: acc != os.O_RDONLY}
	if mutated {
		c.done()
	}
	return f, nil
}

func (c *CrashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("remove", name); err != nil {
		return err
	}
	d, base, err := c.parent(name)
	if err != nil {
		return perr("remove", name, err)
	}
	n := d.children[base]
	if n == nil {
		return perr("remove", name, syscall.ENOENT)
	}
	if n.dir && len(n.children) > 0 {
		return perr("remove", name, syscall.ENOTEMPTY)
	}
	d.set(base, nil, "")
	c.done()
	return nil
}

// RemoveAll unlinks name from its parent in one step; the tree under it
// stays whole on disk until the parent is synced.
func (c *CrashFS) RemoveAll(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("removeall", name); err != nil {
		return err
	}
	d, base, err := c.parent(name)
	if errors.Is(err, syscall.ENOENT) || err == nil && d.children[base] == nil {
		return nil
	}
	if err != nil {
		return perr("removeall", name, err)
	}
	d.set(base, nil, "")
	c.done()
	return nil
}

func (c *CrashFS) Rename(oldname, newname string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("rename", newname); err != nil {
		return err
	}
	od, ob, err := c.parent(oldname)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	nd, nb, err := c.parent(newname)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	n := od.children[ob]
	if n == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOENT}
	}
	if t := nd.children[nb]; t != nil && t != n {
		switch {
		case t.dir && !n.dir:
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.EISDIR}
		case !t.dir && n.dir:
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOTDIR}
		case t.dir && len(t.children) > 0:
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOTEMPTY}
		}
	}
	if od == nd {
		if ob != nb {
			nd.set(nb, n, ob)
		}
	} else {
		od.set(ob, nil, "")
		nd.set(nb, n, "")
	}
	c.done()
	return nil
}

func (c *CrashFS) MkdirAll(name string, perm os.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("mkdir", name); err != nil {
		return err
	}
	d := c.root
	for _, p := range split(name) {
		n := d.children[p]
		if n == nil {
			n = newDir()
			d.set(p, n, "")
			c.done()
			if c.dead {
				return nil // the crash came after this directory
			}
		} else if !n.dir {
			return perr("mkdir", name, syscall.ENOTDIR)
		}
		d = n
	}
	return nil
}

func (c *CrashFS) ReadDir(name string) ([]os.DirEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("readdir", name); err != nil {
		return nil, err
	}
	d, err := c.lookup(name)
	if err != nil {
		return nil, perr("readdir", name, err)
	}
	if !d.dir {
		return nil, perr("readdir", name, syscall.ENOTDIR)
	}
	out := make([]os.DirEntry, 0, len(d.children))
	for k, n := range d.children {
		out = append(out, fs.FileInfoToDirEntry(n.info(k)))
	}
	slices.SortFunc(out, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func (c *CrashFS) Stat(name string) (os.FileInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("stat", name); err != nil {
		return nil, err
	}
	n, err := c.lookup(name)
	if err != nil {
		return nil, perr("stat", name, err)
	}
	return n.info(filepath.Base(filepath.Clean("/" + name))), nil
}

func (c *CrashFS) SyncDir(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("syncdir", name); err != nil {
		return err
	}
	d, err := c.lookup(name)
	if err != nil {
		return perr("syncdir", name, err)
	}
	if !d.dir {
		return perr("syncdir", name, syscall.ENOTDIR)
	}
	d.durable, d.pending = maps(d.children), nil
	c.done()
	return nil
}

type memFile struct {
	fs                  *CrashFS
	n                   *memNode
	name                string
	off                 int64
	append, read, write bool
	closed              bool
}

func (f *memFile) check(op string, write bool) error {
	if err := f.fs.begin(op, f.name); err != nil {
		return err
	}
	if f.closed {
		return perr(op, f.name, os.ErrClosed)
	}
	if write && !f.write || !write && !f.read && op == "read" {
		return perr(op, f.name, syscall.EBADF)
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, perr("read", f.name, syscall.EINVAL)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if f.append {
		f.off = int64(len(f.n.data))
	}
	f.writeLocked(p, f.off)
	f.off += int64(len(p))
	f.fs.done()
	return len(p), nil
}

// WriteAt writes at off, as pwrite(2): not on a file opened with
// os.O_APPEND (Go's os.File refuses it too), and the file offset stays.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if f.append {
		return 0, perr("write", f.name, errors.New("WriteAt on a file opened with O_APPEND"))
	}
	if off < 0 {
		return 0, perr("write", f.name, syscall.EINVAL)
	}
	f.writeLocked(p, off)
	f.fs.done()
	return len(p), nil
}

func (f *memFile) writeLocked(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(f.n.data)) {
		f.n.data = append(f.n.data, make([]byte, end-int64(len(f.n.data)))...)
	}
	copy(f.n.data[off:], p)
	f.n.writeEnds = append(f.n.writeEnds, int(off)+len(p))
	f.n.modTime = time.Now()
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.n.synced, f.n.writeEnds = slices.Clone(f.n.data), nil
	f.fs.done()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return perr("truncate", f.name, syscall.EINVAL)
	}
	if size <= int64(len(f.n.data)) {
		f.n.data = slices.Clip(f.n.data[:size])
	} else {
		f.n.data = append(f.n.data, make([]byte, size-int64(len(f.n.data)))...)
	}
	f.n.modTime = time.Now()
	f.fs.done()
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return nil, err
	}
	return f.n.info(filepath.Base(f.name)), nil
}

// Close releases nothing but the handle: closing does not make anything
// durable (close(2) does not fsync).
func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return perr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	if f.fs.dead {
		return perr("close", f.name, ErrPowerLost)
	}
	return nil
}

type memInfo struct {
	name    string
	size    int64
	dir     bool
	modTime time.Time
}

func (n *memNode) info(name string) memInfo {
	return memInfo{name: name, size: int64(len(n.data)), dir: n.dir, modTime: n.modTime}
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.modTime }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() os.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
