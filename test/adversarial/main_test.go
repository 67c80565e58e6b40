// Package adversarial attacks a real `rewind serve` process the way a
// hostile or careless client, user or machine would: oversized and lying
// requests, slow clients, a second process on the data directory, full
// disks, damaged files. Each test states the bound that must hold (the
// broker's peak RSS from /proc, other clients answered within a second,
// nothing stored changed) and measures it from outside the broker.
package adversarial

import (
	"fmt"
	"os"
	"testing"

	"github.com/rewindhq/rewind/internal/proctest"
)

// binary is the rewind binary built for this test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rewind-adversarial")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary, err = proctest.Build("../..", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// start runs a broker with the given extra `rewind serve` flags.
func start(t *testing.T, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, proctest.Config{Binary: binary, Args: args})
}
