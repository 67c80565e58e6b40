//go:build !linux

package broker

import (
	"errors"
	"os"
)

// freeSpace is not known here: the broker goes read-only only when a
// write fails for want of space, and tries to re-create the reserve at
// every check.
func freeSpace(string) (int64, bool) { return 0, false }

func fallocate(*os.File, int64) error { return errors.ErrUnsupported }

func diskBytes(string) (total, usable int64, ok bool) { return 0, 0, false }
