package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestDefaultFS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	fs := Default
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
