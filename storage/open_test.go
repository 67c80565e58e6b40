package storage

import (
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// After a clean shutdown Open does not wait for the "not clean"
// checkpoint: it is written in the background (after Options.OpenedAll),
// reads are served at once, and no change reaches the files before it is
// durable.
func TestOpenWritesCheckpointBeforeAnyChange(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	mustAppend(t, l, batch(5, 10, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	gate := make(chan struct{})
	e.opts.OpenedAll = gate
	l = e.open()
	if got := readAll(t, l, 0); len(got) != 5 {
		t.Fatalf("read %d records before the checkpoint, want 5", len(got))
	}
	if ck, err := readCheckpoint(vfs.Default, e.dir); err != nil || !ck.clean {
		t.Fatalf("checkpoint before OpenedAll: %+v, %v; want the clean one still", ck, err)
	}
	appended := make(chan error, 1)
	go func() {
		_, err := l.Append(batch(1, 10, 2))
		appended <- err
	}()
	select {
	case err := <-appended:
		t.Fatalf("append done before the checkpoint was written (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if ck, err := readCheckpoint(vfs.Default, e.dir); err != nil || ck.clean {
		t.Fatalf("checkpoint after the first append: %+v, %v; want not clean", ck, err)
	}

	// A crash now is recovered, with the appended record.
	crash(t, l)
	e.opts.OpenedAll = nil
	if got := readAll(t, e.open(), 0); len(got) != 6 {
		t.Fatalf("read %d records after the crash, want 6", len(got))
	}
}

// A failed deferred checkpoint fences the log.
func TestOpenCheckpointFailureFences(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	mustAppend(t, l, batch(5, 10, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	e.efs.Inject(vfs.Fault{Op: vfs.OpSync, Match: vfs.Base(checkpointName + tmpSuffix)})
	l = e.open()
	if _, err := l.Append(batch(1, 10, 2)); err == nil {
		t.Fatal("append succeeded after the checkpoint failed")
	}
	if l.Err() == nil {
		t.Fatal("log not fenced after the checkpoint failed")
	}
}

// A clean Close before the deferred checkpoint is written does not wait
// for it: the files never changed, and Close writes the clean checkpoint.
func TestCloseSkipsDeferredCheckpoint(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	mustAppend(t, l, batch(5, 10, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	e.opts.OpenedAll = make(chan struct{}) // never closed
	l = e.open()
	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a checkpoint held back by OpenedAll")
	}
	if ck, err := readCheckpoint(vfs.Default, e.dir); err != nil || !ck.clean {
		t.Fatalf("checkpoint after Close: %+v, %v; want clean", ck, err)
	}
	e.opts.OpenedAll = nil
	if got := readAll(t, e.open(), 0); len(got) != 5 {
		t.Fatalf("read %d records, want 5", len(got))
	}
}
