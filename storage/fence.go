package storage

import (
	"errors"
	"fmt"
	"slices"
)

// Fence fences the log with cause, as Open does when it finds corruption:
// every later data method returns an error matching ErrStorage and
// ErrCorruption, and the files are left as they are (for Repair). It is
// for readers of the records, not of the framing, that find a batch they
// cannot use (the broker replaying __consumer_offsets). Fencing a fenced
// log keeps the first cause.
func (l *Log) Fence(cause error) {
	if errors.Is(cause, ErrStorage) && errors.Is(cause, ErrCorruption) {
		l.fence(cause)
		return
	}
	l.fence(fmt.Errorf("%w: %w: %s: %w", ErrStorage, ErrCorruption, l.dir, cause))
}

// missingErr reports that the files hold less than the checkpoint says was
// durable (a segment file deleted or cut by something other than Rewind):
// what checkLength or checkActiveSize found.
func missingErr(problem error) error {
	return fmt.Errorf("%w: %w: %w; restore the file, or accept the loss with `rewind repair`",
		ErrStorage, ErrCorruption, problem)
}

// checkLength compares the segment files with the checkpoint: it returns
// the problem (the log is then fenced with missingErr) when they hold less than the
// checkpoint recorded, which no crash and no operation of Rewind can
// cause. bases are the .log files (sorted), indexes the bases of index
// files whose .log file is missing.
//
//   - ck.activeBase names the segment that was active when the checkpoint
//     was written, ck.activeSize how many of its bytes were durable. The
//     active segment is never deleted nor compacted, and every later one
//     has a higher base, so the last file must have a base >= activeBase,
//     and if it is that segment, at least activeSize bytes.
//   - Retention and DeleteRecords write the checkpoint before deleting
//     files, so the first segment never starts above ck.logStart.
//   - Deletions remove the .log before its indexes, and only below the log
//     start; compaction removes indexes first. Index files without their
//     .log at or above the log start mean the .log was removed.
func checkLength(dir string, ck checkpoint, bases, indexes []int64) error {
	durable := ck.activeSize > 0 || ck.clean && ck.leo > ck.logStart
	if len(bases) == 0 {
		if durable {
			return fmt.Errorf("%s: every segment file is missing, but the checkpoint records %d durable bytes of segment %s (offsets %d to %d)",
				dir, ck.activeSize, segmentName(ck.activeBase, logSuffix), ck.logStart, max(ck.leo, ck.activeBase))
		}
		return nil
	}
	last := bases[len(bases)-1]
	switch {
	case last < ck.activeBase && durable:
		return fmt.Errorf("%s: segment file %s is missing, but the checkpoint records %d bytes of it as durable (the log now ends in %s)",
			dir, segmentName(ck.activeBase, logSuffix), ck.activeSize, segmentName(last, logSuffix))
	case bases[0] > ck.logStart:
		return fmt.Errorf("%s: the first segment file is %s, but the log starts at offset %d: the segment files below it are missing",
			dir, segmentName(bases[0], logSuffix), ck.logStart)
	}
	for _, b := range indexes {
		if b >= ck.logStart {
			return fmt.Errorf("%s: segment file %s is missing (its index files remain)", dir, segmentName(b, logSuffix))
		}
	}
	return nil
}

// checkActiveSize is the second half of checkLength, once the active
// segment's size is known.
func checkActiveSize(path string, ck checkpoint, base, size int64) error {
	if base == ck.activeBase && size < ck.activeSize {
		return fmt.Errorf("%s is %d bytes, but the checkpoint records %d bytes of it as durable: the file was cut",
			path, size, ck.activeSize)
	}
	return nil
}

// orphanIndexes returns the bases of index files whose .log is missing.
func orphanIndexes(names map[string]bool) []int64 {
	var out []int64
	for name := range names {
		for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if b, ok := parseBaseName(name, suf); ok && !names[segmentName(b, logSuffix)] && !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
	}
	slices.Sort(out)
	return out
}
