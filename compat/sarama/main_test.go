package sarama_test

import (
	"testing"

	"github.com/rewindhq/rewind/internal/proctest"
)

// binary is the rewind binary built for this test run: the process tests
// and the CLI the replay test drives (cli).
var (
	binary string
	cli    proctest.CLIFunc
)

func TestMain(m *testing.M) {
	proctest.Main(m, func(dir string) (err error) {
		binary, err = proctest.Build("../..", dir)
		cli = proctest.BinaryCLI(binary)
		return err
	})
}
