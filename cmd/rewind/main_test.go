package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/rewindhq/rewind/internal/proctest"
)

// kfakeBin runs kfake, the second implementation of the protocol every
// client command is checked against (bench/kfakepeer, built once here:
// the rewind module does not require kfake).
var kfakeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rewind-kfakepeer")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kfakeBin, err = proctest.BuildKfake("../..", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
