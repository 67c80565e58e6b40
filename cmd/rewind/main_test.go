package main

import (
	"testing"

	"github.com/rewindhq/rewind/internal/proctest"
)

// kfakeBin runs kfake, the second implementation of the protocol every
// client command is checked against (bench/kfakepeer, built once here:
// the rewind module does not require kfake).
var kfakeBin string

func TestMain(m *testing.M) {
	proctest.Main(m, func(dir string) (err error) {
		kfakeBin, err = proctest.BuildKfake("../..", dir)
		return err
	})
}
