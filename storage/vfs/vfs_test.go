package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFSContract runs one suite against the real file system and the
// CrashFS, so that the fake cannot promise what the real one does not do.
func TestFSContract(t *testing.T) {
	t.Run("Default", func(t *testing.T) { testFSContract(t, Default, t.TempDir()) })
	t.Run("CrashFS", func(t *testing.T) { testFSContract(t, NewCrashFS(), "/data") })
}

func testFSContract(t *testing.T, fs FS, root string) {
	dir := filepath.Join(root, "a", "b")
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "f")
	f, err := fs.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello world")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("!")) // O_APPEND: lands at the new end
	b := make([]byte, 6)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "hello!" {
		t.Fatalf("%q %v", b, err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 6 {
		t.Fatal(fi, err)
	}
	if _, err := f.ReadAt(b, 3); err != io.EOF {
		t.Fatalf("short read: %v", err)
	}
	f.Close()
	if err := fs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename(p, p+"2"); err != nil {
		t.Fatal(err)
	}
	if ents, err := fs.ReadDir(dir); err != nil || len(ents) != 1 || ents[0].Name() != "f2" {
		t.Fatal(ents, err)
	}
	if _, err := fs.Stat(p + "2"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Remove(p + "2"); err != nil {
		t.Fatal(err)
	}
	if err := fs.RemoveAll(filepath.Dir(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat after RemoveAll: %v", err)
	}
	if err := fs.RemoveAll(dir); err != nil {
		t.Fatalf("RemoveAll of a missing path: %v", err)
	}
	testFSContractEdges(t, fs, root)
}

// testFSContractEdges checks the errors and flags storage relies on.
func testFSContractEdges(t *testing.T, fs FS, root string) {
	dir := filepath.Join(root, "edges")
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "f")
	if _, err := fs.OpenFile(p, os.O_RDONLY, 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open of a missing file: %v", err)
	}
	write := func(name, data string, flag int) {
		t.Helper()
		f, err := fs.OpenFile(name, flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) string {
		t.Helper()
		f, err := fs.OpenFile(name, os.O_RDONLY, 0)
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
	write(p, "0123456789", os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if _, err := fs.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, os.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %v", err)
	}
	write(p, "ab", os.O_WRONLY) // no O_APPEND: overwrites from offset 0
	if got := read(p); got != "ab23456789" {
		t.Fatalf("overwrite: %q", got)
	}
	f, err := fs.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("CD"), 2); err != nil { // positional, past nothing
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("!"), 12); err != nil { // past the end: a zero gap
		t.Fatal(err)
	}
	f.Close()
	if got := read(p); got != "abCD456789\x00\x00!" {
		t.Fatalf("WriteAt: %q", got)
	}
	if f, err = fs.OpenFile(p, os.O_RDWR|os.O_APPEND, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("no"), 0); err == nil {
		t.Fatal("WriteAt on an O_APPEND file succeeded")
	}
	f.Close()
	write(p, "xy", os.O_WRONLY|os.O_TRUNC)
	if got := read(p); got != "xy" {
		t.Fatalf("O_TRUNC: %q", got)
	}
	f, err = fs.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("no")); err == nil {
		t.Fatal("write to a read-only file succeeded")
	}
	f.Close()
	q := filepath.Join(dir, "g")
	write(q, "other", os.O_WRONLY|os.O_CREATE)
	if err := fs.Rename(q, p); err != nil { // replaces p
		t.Fatal(err)
	}
	if got := read(p); got != "other" {
		t.Fatalf("rename over a file: %q", got)
	}
	sub := filepath.Join(dir, "sub")
	if err := fs.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(sub, "z"), "z", os.O_WRONLY|os.O_CREATE)
	if err := fs.Remove(sub); err == nil {
		t.Fatal("Remove of a non-empty directory succeeded")
	}
	if err := fs.MkdirAll(filepath.Join(p, "x"), 0o755); err == nil {
		t.Fatal("MkdirAll under a file succeeded")
	}
	ents, err := fs.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "f,sub" || ents[0].IsDir() || !ents[1].IsDir() {
		t.Fatalf("ReadDir: %v", names)
	}
	if fi, err := fs.Stat(sub); err != nil || !fi.IsDir() || fi.Name() != "sub" {
		t.Fatalf("stat of a directory: %v %v", fi, err)
	}
}

func TestErrorFS(t *testing.T) {
	dir := t.TempDir()
	efs := NewErrorFS(nil)
	open := func(name string) File {
		t.Helper()
		f, err := efs.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, b := open("a.log"), open("b.index")

	// Writes to .log fail with ENOSPC after one success, twice.
	remove := efs.Inject(Fault{Op: OpWrite, Match: Suffix(".log"), Err: syscall.ENOSPC, After: 1, Times: 2})
	if _, err := a.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := a.Write([]byte("no")); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if _, err := a.Write([]byte("ok")); err != nil {
		t.Fatalf("fault did not disarm: %v", err)
	}
	if _, err := b.Write([]byte("other file")); err != nil {
		t.Fatal(err)
	}
	remove()

	// Torn write: a prefix lands, then EIO.
	efs.Inject(Fault{Op: OpWrite, Match: Base("a.log"), Torn: 3, Times: 1})
	n, err := a.Write([]byte("abcdef"))
	if n != 3 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("torn write: %d %v", n, err)
	}
	got := make([]byte, 7)
	if _, err := a.ReadAt(got, 0); err != nil || string(got) != "okokabc" {
		t.Fatalf("%q %v", got, err)
	}

	// Sync failures, counted.
	before := efs.Count(OpSync)
	efs.Inject(Fault{Op: OpSync | OpTruncate, Match: Suffix(".index")})
	if err := b.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	if err := b.Truncate(0); err == nil {
		t.Fatal("truncate not failed")
	}
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	if efs.Count(OpSync)-before != 2 || efs.Count(OpSync|OpTruncate)-before != 3 {
		t.Fatalf("counts %d %d", efs.Count(OpSync), efs.Count(OpTruncate))
	}
	var pe *os.PathError
	if err := b.Sync(); !errors.As(err, &pe) || pe.Op != "sync" {
		t.Fatalf("error shape %v", err)
	}

	efs.Reset()
	if err := b.Sync(); err != nil || efs.Count(OpAll) != 1 {
		t.Fatalf("after Reset: %v %d", err, efs.Count(OpAll))
	}
	efs.Inject(Fault{Op: OpOpen | OpRemove | OpRename | OpMkdir | OpReadDir | OpStat | OpSyncDir})
	if _, err := efs.OpenFile(filepath.Join(dir, "c"), os.O_CREATE|os.O_RDWR, 0o644); err == nil {
		t.Fatal("open")
	}
	for name, err := range map[string]error{
		"remove":    efs.Remove(filepath.Join(dir, "a.log")),
		"removeall": efs.RemoveAll(dir),
		"rename":    efs.Rename(filepath.Join(dir, "a.log"), filepath.Join(dir, "z")),
		"mkdir":     efs.MkdirAll(filepath.Join(dir, "d"), 0o755),
		"syncdir":   efs.SyncDir(dir),
	} {
		if err == nil {
			t.Fatalf("%s not failed", name)
		}
	}
	if _, err := efs.ReadDir(dir); err == nil {
		t.Fatal("readdir")
	}
	if _, err := efs.Stat(dir); err == nil {
		t.Fatal("stat")
	}
	if OpAll.String() == "" || Op(0).String() != "none" {
		t.Fatal(OpAll.String())
	}
}

type unwrapping struct{ File }

func (u unwrapping) Unwrap() File { return u.File }

func TestOSFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := Default.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if OSFile(f) == nil {
		t.Error("OSFile of a Default file is nil")
	}
	if OSFile(unwrapping{f}) == nil {
		t.Error("OSFile does not see through Unwrap")
	}
	ef, err := NewErrorFS(nil).OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if OSFile(ef) != nil {
		t.Error("OSFile of an ErrorFS file must be nil: reads must go through its faults")
	}
}
