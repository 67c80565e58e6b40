package vfs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// crashSetup returns a CrashFS with a durable directory /d.
func crashSetup(t *testing.T) *CrashFS {
	t.Helper()
	c := NewCrashFS()
	if err := c.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	c.SyncAll()
	return c
}

func mustWrite(t *testing.T, fs FS, name, data string, sync bool) File {
	t.Helper()
	f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// contents returns the file's bytes, or "<missing>".
func contents(t *testing.T, fs FS, name string) string {
	t.Helper()
	f, err := fs.OpenFile(name, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "<missing>"
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && len(b) > 0 {
		t.Fatal(err)
	}
	return string(b)
}

func TestCrashFSFileData(t *testing.T) {
	c := crashSetup(t)
	f := mustWrite(t, c, "/d/f", "durable", true)
	c.SyncDir("/d")
	f.Write([]byte("+lost"))
	if got := contents(t, c, "/d/f"); got != "durable+lost" {
		t.Fatalf("before the crash readers see the page cache: %q", got)
	}
	img := c.Crash(nil)
	if got := contents(t, img, "/d/f"); got != "durable" {
		t.Fatalf("unsynced bytes must be lost: %q", got)
	}

	// A truncate is undone by a crash unless synced, like a write.
	c = crashSetup(t)
	f = mustWrite(t, c, "/d/f", "0123456789", true)
	c.SyncDir("/d")
	f.Truncate(4)
	if got := contents(t, c.Crash(nil), "/d/f"); got != "0123456789" {
		t.Fatalf("unsynced truncate must be undone: %q", got)
	}
	c = crashSetup(t)
	f = mustWrite(t, c, "/d/f", "0123456789", true)
	c.SyncDir("/d")
	f.Truncate(4)
	f.Sync()
	if got := contents(t, c.Crash(nil), "/d/f"); got != "0123" {
		t.Fatalf("synced truncate: %q", got)
	}

	// O_TRUNC of a durable file is undone too.
	c = crashSetup(t)
	mustWrite(t, c, "/d/f", "old", true).Close()
	c.SyncDir("/d")
	g, _ := c.OpenFile("/d/f", os.O_WRONLY|os.O_TRUNC, 0)
	g.Write([]byte("new"))
	if got := contents(t, c.Crash(nil), "/d/f"); got != "old" {
		t.Fatalf("unsynced O_TRUNC rewrite: %q", got)
	}
}

func TestCrashFSDirectoryEntries(t *testing.T) {
	// A synced file whose directory was not synced is lost.
	c := crashSetup(t)
	mustWrite(t, c, "/d/new", "data", true)
	if got := contents(t, c.Crash(nil), "/d/new"); got != "<missing>" {
		t.Fatalf("a created file needs its directory synced: %q", got)
	}
	// Its entry without its data is an empty file.
	c = crashSetup(t)
	mustWrite(t, c, "/d/new", "data", false)
	c.SyncDir("/d")
	if got := contents(t, c.Crash(nil), "/d/new"); got != "" {
		t.Fatalf("entry synced, data not: %q", got)
	}

	// Rename: the old name until the directory is synced, then the new.
	c = crashSetup(t)
	mustWrite(t, c, "/d/a.tmp", "A", true)
	mustWrite(t, c, "/d/a", "old", true)
	c.SyncDir("/d")
	if err := c.Rename("/d/a.tmp", "/d/a"); err != nil {
		t.Fatal(err)
	}
	img := c.Crash(nil)
	if a, tmp := contents(t, img, "/d/a"), contents(t, img, "/d/a.tmp"); a != "old" || tmp != "A" {
		t.Fatalf("unsynced rename: a=%q a.tmp=%q", a, tmp)
	}
	c = crashSetup(t)
	mustWrite(t, c, "/d/a.tmp", "A", false) // data never synced
	c.SyncDir("/d")
	c.Rename("/d/a.tmp", "/d/a")
	c.SyncDir("/d")
	img = c.Crash(nil)
	if a, tmp := contents(t, img, "/d/a"), contents(t, img, "/d/a.tmp"); a != "" || tmp != "<missing>" {
		t.Fatalf("synced rename of an unsynced file must leave it empty: a=%q a.tmp=%q", a, tmp)
	}

	// Remove: the file comes back with its durable data until synced.
	c = crashSetup(t)
	f := mustWrite(t, c, "/d/x", "kept", true)
	c.SyncDir("/d")
	f.Write([]byte("lost"))
	f.Close()
	c.Remove("/d/x")
	if got := contents(t, c.Crash(nil), "/d/x"); got != "kept" {
		t.Fatalf("unsynced remove: %q", got)
	}
	c = crashSetup(t)
	mustWrite(t, c, "/d/x", "kept", true).Close()
	c.SyncDir("/d")
	c.Remove("/d/x")
	c.SyncDir("/d")
	if got := contents(t, c.Crash(nil), "/d/x"); got != "<missing>" {
		t.Fatalf("synced remove: %q", got)
	}

	// A new directory needs its parent synced; its own sync is not enough.
	c = crashSetup(t)
	c.MkdirAll("/d/p/q", 0o755)
	mustWrite(t, c, "/d/p/q/f", "f", true)
	c.SyncDir("/d/p/q")
	c.SyncDir("/d/p")
	if got := contents(t, c.Crash(nil), "/d/p/q/f"); got != "<missing>" {
		t.Fatalf("directory not in its synced parent: %q", got)
	}
	c = crashSetup(t)
	c.MkdirAll("/d/p/q", 0o755)
	mustWrite(t, c, "/d/p/q/f", "f", true)
	c.SyncDir("/d/p/q")
	c.SyncDir("/d/p")
	c.SyncDir("/d")
	if got := contents(t, c.Crash(nil), "/d/p/q/f"); got != "f" {
		t.Fatalf("every level synced: %q", got)
	}

	// RemoveAll of a directory is undone whole until the parent is synced.
	img = c.Crash(nil)
	img.RemoveAll("/d/p")
	if got := contents(t, img.Crash(nil), "/d/p/q/f"); got != "f" {
		t.Fatalf("unsynced RemoveAll: %q", got)
	}
}

func TestCrashFSPowerLost(t *testing.T) {
	c := crashSetup(t)
	f := mustWrite(t, c, "/d/f", "x", true)
	img := c.Crash(nil)
	if c.Image() != img {
		t.Fatal("Image must return the crash's disk")
	}
	for what, err := range map[string]error{
		"write":  func() error { _, err := f.Write([]byte("y")); return err }(),
		"sync":   f.Sync(),
		"read":   func() error { _, err := f.ReadAt(make([]byte, 1), 0); return err }(),
		"open":   func() error { _, err := c.OpenFile("/d/f", os.O_RDONLY, 0); return err }(),
		"rename": c.Rename("/d/f", "/d/g"),
		"sync d": c.SyncDir("/d"),
		"mkdir":  c.MkdirAll("/d/z", 0o755),
	} {
		if !errors.Is(err, ErrPowerLost) {
			t.Errorf("%s after the crash: %v, want ErrPowerLost", what, err)
		}
	}
	// The image is a working file system on which everything is durable.
	if err := img.MkdirAll("/d/z", 0o755); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, img.Crash(nil), "/d/f"); got != "<missing>" {
		t.Fatalf("the entry of /d/f was never synced: %q", got)
	}
}

// TestCrashFSCrashAfter checks that the armed crash happens right after
// the n-th mutating operation: that one succeeds and is in the image, the
// next fails.
func TestCrashFSCrashAfter(t *testing.T) {
	script := func(fs FS) []error {
		f, err := fs.OpenFile("/d/f", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644) // op 1
		if err != nil {
			return []error{err}
		}
		_, e2 := f.Write([]byte("a"))   // op 2
		e3 := f.Sync()                  // op 3
		e4 := fs.SyncDir("/d")          // op 4
		_, e5 := f.Write([]byte("b"))   // op 5
		e6 := f.Sync()                  // op 6
		e7 := fs.Rename("/d/f", "/d/g") // op 7
		e8 := fs.SyncDir("/d")          // op 8
		return []error{nil, e2, e3, e4, e5, e6, e7, e8}
	}
	want := []struct{ f, g string }{
		1: {"<missing>", "<missing>"}, 2: {"<missing>", "<missing>"}, 3: {"<missing>", "<missing>"},
		4: {"a", "<missing>"}, 5: {"a", "<missing>"}, 6: {"ab", "<missing>"}, 7: {"ab", "<missing>"},
		8: {"<missing>", "ab"},
	}
	for n := int64(1); n <= 8; n++ {
		c := crashSetup(t)
		c.CrashAfter(n, nil)
		errs := script(c)
		for i, err := range errs {
			if (int64(i) < n) != (err == nil) {
				t.Errorf("crash after op %d: op %d returned %v", n, i+1, err)
			}
		}
		img := c.Image()
		if img == nil {
			t.Fatalf("crash after op %d: no image", n)
		}
		if f, g := contents(t, img, "/d/f"), contents(t, img, "/d/g"); f != want[n].f || g != want[n].g {
			t.Errorf("crash after op %d: f=%q g=%q, want %q %q", n, f, g, want[n].f, want[n].g)
		}
	}
	c := crashSetup(t)
	start := c.Ops()
	script(c)
	if got := c.Ops() - start; got != 8 {
		t.Fatalf("Ops counted %d mutating operations, want 8", got)
	}
}

// TestCrashFSTorn checks that a torn crash keeps only states the OS could
// have written back: the durable bytes, then a prefix of the appended ones
// in which whole pages past the durable size may be zeros; and a prefix,
// in order, of each directory's changes. It also checks that every kind of
// outcome happens over the seeds.
func TestCrashFSTorn(t *testing.T) {
	const durable, appended = 5000, 3*pageSize + 100
	var sawNone, sawAll, sawZeros, sawTmpOnly bool
	for seed := uint64(0); seed < 300; seed++ {
		c := crashSetup(t)
		data := bytes.Repeat([]byte{0xab}, durable+appended)
		f, _ := c.OpenFile("/d/seg", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		f.Write(data[:durable])
		f.Sync()
		c.SyncDir("/d")
		f.Write(data[durable : durable+100])
		f.Write(data[durable+100:])
		// Directory changes since the last sync: create, then rename.
		mustWrite(t, c, "/d/ck.tmp", "ck", true)
		c.Rename("/d/ck.tmp", "/d/ck")
		img := c.Crash(rand.New(rand.NewPCG(seed, 1)))

		got := []byte(contents(t, img, "/d/seg"))
		if len(got) < durable || !bytes.Equal(got[:durable], data[:durable]) {
			t.Fatalf("seed %d: durable bytes lost (%d bytes left)", seed, len(got))
		}
		for p := durable; p < len(got); p++ {
			if got[p] == 0 {
				if p%pageSize != 0 && p != durable && got[p-1] == 0 {
					continue // checked with its page
				}
				// A zero must extend over its page, from the durable size
				// on, up to what was kept.
				page := p / pageSize * pageSize
				for q := max(page, durable); q < min(page+pageSize, len(got)); q++ {
					if got[q] != 0 {
						t.Fatalf("seed %d: byte %d is zero but %d of its page is not", seed, p, q)
					}
				}
				sawZeros = true
			} else if got[p] != 0xab {
				t.Fatalf("seed %d: byte %d is %x", seed, p, got[p])
			}
		}
		if n := len(got); n != durable && n != durable+100 && n%pageSize != 0 && n != len(data) {
			t.Fatalf("seed %d: the file ends at %d: neither a write's end nor a page boundary", seed, n)
		}
		sawNone = sawNone || len(got) == durable
		sawAll = sawAll || bytes.Equal(got, data)

		tmp, ck := contents(t, img, "/d/ck.tmp"), contents(t, img, "/d/ck")
		switch {
		case tmp == "<missing>" && ck == "<missing>": // nothing committed
		case tmp == "ck" && ck == "<missing>": // the create, not the rename
			sawTmpOnly = true
		case tmp == "<missing>" && ck == "ck": // both
		default:
			t.Fatalf("seed %d: ck.tmp=%q ck=%q is no prefix of the changes", seed, tmp, ck)
		}
	}
	if !sawNone || !sawAll || !sawZeros || !sawTmpOnly {
		t.Fatalf("outcomes not all seen: none %v, all %v, zero pages %v, create only %v", sawNone, sawAll, sawZeros, sawTmpOnly)
	}
}

// A file overwritten in place since its sync (the journal's entries over
// its preallocated zeros) keeps, after a torn crash, each page old or
// new: never a byte of neither, and the strict crash keeps the old.
func TestCrashFSTornOverwrite(t *testing.T) {
	const size = 4 * pageSize
	oldData := bytes.Repeat([]byte{0}, size)
	newData := bytes.Repeat([]byte{0xcd}, size+pageSize) // grown a page too
	var sawOld, sawNew, sawMixed bool
	for seed := uint64(0); seed < 200; seed++ {
		c := crashSetup(t)
		f, _ := c.OpenFile("/d/j", os.O_RDWR|os.O_CREATE, 0o644)
		f.WriteAt(oldData, 0)
		f.Sync()
		c.SyncDir("/d")
		for p := 0; p < len(newData); p += 1000 {
			f.WriteAt(newData[p:min(p+1000, len(newData))], int64(p))
		}
		var rng *rand.Rand
		if seed > 0 {
			rng = rand.New(rand.NewPCG(seed, 2))
		}
		got := []byte(contents(t, c.Crash(rng), "/d/j"))
		if rng == nil && !bytes.Equal(got, oldData) {
			t.Fatalf("strict crash: %d bytes, not the synced ones", len(got))
		}
		if len(got) != size && len(got) != len(newData) {
			t.Fatalf("seed %d: %d bytes, want the old size or the new", seed, len(got))
		}
		olds, news := 0, 0
		for p := 0; p < len(got); p += pageSize {
			pg := got[p:min(p+pageSize, len(got))]
			switch {
			case bytes.Equal(pg, newData[p:p+len(pg)]):
				news++
			case p < size && bytes.Equal(pg, oldData[p:p+len(pg)]) || p >= size && bytes.Equal(pg, make([]byte, len(pg))):
				olds++
			default:
				t.Fatalf("seed %d: page at %d is neither old nor new", seed, p)
			}
		}
		sawOld = sawOld || news == 0
		sawNew = sawNew || olds == 0
		sawMixed = sawMixed || olds > 0 && news > 0
	}
	if !sawOld || !sawNew || !sawMixed {
		t.Fatalf("outcomes not all seen: old %v, new %v, mixed %v", sawOld, sawNew, sawMixed)
	}
}

// TestCrashFSConcurrent runs writers, readers and syncs of several files
// at once with a crash in the middle (run with -race).
func TestCrashFSConcurrent(t *testing.T) {
	c := crashSetup(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := filepath.Join("/d", string(rune('a'+i)))
			f, err := c.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				return
			}
			buf := make([]byte, 8)
			for j := 0; j < 200; j++ {
				if _, err := f.Write([]byte("12345678")); err != nil {
					return
				}
				f.ReadAt(buf, 0)
				f.Sync()
				c.SyncDir("/d")
				c.ReadDir("/d")
			}
		}()
	}
	c.CrashAfter(500, rand.New(rand.NewPCG(1, 2)))
	wg.Wait()
	img := c.Image()
	if img == nil {
		t.Fatal("no crash")
	}
	ents, err := img.ReadDir("/d")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		got := contents(t, img, filepath.Join("/d", e.Name()))
		for p := range len(got) {
			if got[p] != 0 && got[p] != "12345678"[p%8] {
				t.Fatalf("%s: byte %d is %q: not written there", e.Name(), p, got[p])
			}
		}
	}
}

func TestCrashFSCrashClone(t *testing.T) {
	c := crashSetup(t)
	f := mustWrite(t, c, "/d/f", "a", true)
	c.SyncDir("/d")
	f.Write([]byte("b"))
	clone := c.CrashClone(nil)
	if _, err := f.Write([]byte("c")); err != nil {
		t.Fatalf("the original must go on working: %v", err)
	}
	mustWrite(t, clone, "/d/g", "g", false)
	if got := contents(t, clone, "/d/f"); got != "a" {
		t.Fatalf("clone: %q", got)
	}
	if got := contents(t, c, "/d/f"); got != "abc" {
		t.Fatalf("original: %q", got)
	}
	if got := contents(t, c, "/d/g"); got != "<missing>" {
		t.Fatalf("the clone shares files with the original: %q", got)
	}
}
