// Package adversarial attacks a real `rewind serve` process the way a
// hostile or careless client, user or machine would: oversized and lying
// requests, slow clients, a second process on the data directory, full
// disks, damaged files. Each test states the bound that must hold (the
// broker's peak RSS from /proc, other clients answered within a second,
// nothing stored changed) and measures it from outside the broker.
package adversarial

import (
	"testing"

	"github.com/rewindhq/rewind/internal/proctest"
)

// binary is the rewind binary built for this test run.
var binary string

func TestMain(m *testing.M) {
	proctest.Main(m, func(dir string) (err error) {
		binary, err = proctest.Build("../..", dir)
		return err
	})
}

// start runs a broker with the given extra `rewind serve` flags.
func start(t *testing.T, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, proctest.Config{Binary: binary, Args: args})
}
