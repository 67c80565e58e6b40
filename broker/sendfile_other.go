//go:build !linux

package broker

import (
	"errors"
	"os"
	"syscall"
)

// sendfile is Linux only here; elsewhere file data is copied.
func sendfile(dst syscall.Conn, f *os.File, pos, n int64) error { return errors.ErrUnsupported }
