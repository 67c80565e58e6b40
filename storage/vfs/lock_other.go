//go:build !unix && !windows

package vfs

import (
	"errors"
	"os"
	"runtime"
)

func lockFile(*os.File) error {
	return errors.New("file locks are not supported on " + runtime.GOOS)
}

func unlockFile(*os.File) error { return nil }
