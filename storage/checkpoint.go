package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rewindhq/rewind/storage/vfs"
)

const (
	checkpointName    = "checkpoint"
	checkpointMagic   = "RWCK"
	checkpointVersion = 1
	checkpointSize    = 4 + 2 + 2 + 5*8 + 4

	ckClean = 1 << 0
)

// checkpoint is the small per-partition metadata file, replaced atomically
// (write temp, fsync, rename, fsync dir). See doc.go for the layout.
type checkpoint struct {
	clean bool
	// logStart is the log start offset (DeleteRecords moves it inside a
	// segment, so it cannot be derived from file names).
	logStart int64
	// recoveryPoint: every segment below the one containing it was
	// fsynced, so recovery after a crash scans from its segment on.
	recoveryPoint int64
	// leo, activeBase and activeSize describe the log at clean shutdown;
	// they must match the files for the next Open to skip recovery. In a
	// checkpoint not flagged clean (written by Open), activeBase and
	// activeSize say that the first activeSize bytes of segment activeBase
	// were durable: recovery fences damage there rather than truncating it
	// as a torn tail. Older versions ignore them when not clean.
	leo, activeBase, activeSize int64
}

func (c checkpoint) encode() []byte {
	b := make([]byte, 0, checkpointSize)
	b = append(b, checkpointMagic...)
	b = binary.BigEndian.AppendUint16(b, checkpointVersion)
	var flags uint16
	if c.clean {
		flags |= ckClean
	}
	b = binary.BigEndian.AppendUint16(b, flags)
	for _, v := range []int64{c.logStart, c.recoveryPoint, c.leo, c.activeBase, c.activeSize} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadCheckpoint = errors.New("bad checkpoint")

func decodeCheckpoint(b []byte) (checkpoint, error) {
	if len(b) != checkpointSize || string(b[:4]) != checkpointMagic {
		return checkpoint{}, fmt.Errorf("%w: %d bytes", errBadCheckpoint, len(b))
	}
	if crc := crc32.Checksum(b[:len(b)-4], castagnoli); crc != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return checkpoint{}, fmt.Errorf("%w: CRC mismatch", errBadCheckpoint)
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != checkpointVersion {
		return checkpoint{}, fmt.Errorf("%w: version %d", errBadCheckpoint, v)
	}
	flags := binary.BigEndian.Uint16(b[6:])
	v := func(i int) int64 { return int64(binary.BigEndian.Uint64(b[8+8*i:])) }
	return checkpoint{
		clean:         flags&ckClean != 0,
		logStart:      v(0),
		recoveryPoint: v(1),
		leo:           v(2),
		activeBase:    v(3),
		activeSize:    v(4),
	}, nil
}

func readCheckpoint(fsys vfs.FS, dir string) (checkpoint, error) {
	b, err := readWhole(fsys, filepath.Join(dir, checkpointName))
	if err != nil {
		return checkpoint{}, err
	}
	return decodeCheckpoint(b)
}

// The checkpoint is always fsynced, whatever the fsync policy: a stale
// "clean" flag would make the next Open trust a torn tail.
//
// It is replaced atomically (writeFile), which needs room for a second
// copy. On a full file system (ENOSPC, EDQUOT) it is overwritten in place
// instead, which needs no new block: Open, retention and DeleteRecords
// must still work on a full disk, since they are how space is freed. The
// in-place write is one write of checkpointSize bytes at offset 0, inside
// the first sector, so a crash leaves either copy; should it be torn
// anyway, the CRC rejects it and the next Open recovers every segment.
func writeCheckpoint(fsys vfs.FS, dir string, c checkpoint) error {
	name := filepath.Join(dir, checkpointName)
	data := c.encode()
	err := writeFile(fsys, name, data, true)
	if err == nil || !isNoSpace(err) {
		return err
	}
	if ierr := overwriteCheckpoint(fsys, name, data); ierr != nil {
		return fmt.Errorf("%w (overwriting in place: %v)", err, ierr)
	}
	return nil
}

// isNoSpace says whether err is the file system running out of space or
// quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// overwriteCheckpoint writes data over the existing checkpoint file name,
// which must already have exactly checkpointSize bytes.
func overwriteCheckpoint(fsys vfs.FS, name string, data []byte) error {
	// The temporary copy that did not fit holds a block of its own.
	if err := fsys.Remove(name + tmpSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := fsys.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != checkpointSize {
		err = fmt.Errorf("%s has %d bytes, not %d", name, fi.Size(), checkpointSize)
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
