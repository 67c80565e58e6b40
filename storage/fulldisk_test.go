package storage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rewindhq/rewind/storage/vfs"
)

// noSpaceForNewFiles makes every write to a temporary file (the atomic
// replace of checkpoints, indexes and snapshots) fail with ENOSPC, as on
// a full file system where only blocks already allocated can be written.
func noSpaceForNewFiles(e *env) {
	e.efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Suffix(tmpSuffix), Err: syscall.ENOSPC})
}

// On a full disk DeleteRecords, a restart after a crash and a restart
// after a clean shutdown all need to write the checkpoint; with no room
// for its temporary copy it is overwritten in place, so none of them
// fails or fences the log.
func TestCheckpointOnFullDisk(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	fill(t, l, 5) // offsets 0-19
	noSpaceForNewFiles(e)

	if ls, err := l.DeleteRecordsBefore(6); err != nil || ls != 6 {
		t.Fatalf("DeleteRecordsBefore on a full disk: %d, %v", ls, err)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("log fenced: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, checkpointName+tmpSuffix)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary checkpoint left behind: %v", err)
	}
	ck, err := readCheckpoint(vfs.Default, e.dir)
	if err != nil || ck.logStart != 6 {
		t.Fatalf("checkpoint on disk: %+v, %v", ck, err)
	}

	// A crash, then a start on the still full disk: the recovery writes
	// its checkpoint synchronously.
	crash(t, l)
	l2, err := Open(e.dir, e.cfg, e.opts)
	if err != nil {
		t.Fatalf("Open on a full disk after a crash: %v", err)
	}
	if l2.LogStartOffset() != 6 || l2.LogEndOffset() != 20 {
		t.Fatalf("after restart: log start %d, end %d; want 6, 20", l2.LogStartOffset(), l2.LogEndOffset())
	}
	if got := readAll(t, l2, 6); len(got) != 14 || got[0].Offset != 6 {
		t.Fatalf("read %d records after restart", len(got))
	}

	// A clean shutdown (indexes and snapshot cannot be written, the
	// checkpoint can), then a start that writes the not-clean checkpoint
	// in the background.
	l2.Close()
	l3, err := Open(e.dir, e.cfg, e.opts)
	if err != nil {
		t.Fatalf("Open on a full disk after a shutdown: %v", err)
	}
	t.Cleanup(func() { l3.Close() })
	l3.Config() // waits for the background checkpoint (it holds appendMu)
	if err := l3.Err(); err != nil {
		t.Fatalf("log fenced after start on a full disk: %v", err)
	}
	if got := readAll(t, l3, 6); len(got) != 14 {
		t.Fatalf("read %d records after the second restart", len(got))
	}
}

// Only the checkpoint is overwritten in place, and only when it is
// whole: a missing one still needs room (it is a new file), and the
// error says so.
func TestCheckpointInPlaceNeedsWholeFile(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	fill(t, l, 1)
	noSpaceForNewFiles(e)
	if err := os.Remove(filepath.Join(e.dir, checkpointName)); err != nil {
		t.Fatal(err)
	}
	err := writeCheckpoint(e.efs, e.dir, checkpoint{logStart: 1})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writeCheckpoint without a checkpoint on a full disk: %v", err)
	}
	if _, serr := os.Stat(filepath.Join(e.dir, checkpointName)); !errors.Is(serr, fs.ErrNotExist) {
		t.Fatalf("a checkpoint was created: %v", serr)
	}
}
