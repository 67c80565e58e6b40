package sarama_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/internal/proctest"
)

// binary is the rewind binary built for this test run: the process tests
// and the CLI the replay test drives (cli).
var (
	binary string
	cli    proctest.CLIFunc
)

// TestMain builds the binaries, runs the tests and stops the Apache Kafka
// the transaction test started (internal/kafkaref).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rewind-sarama-test")
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
	cli = proctest.BinaryCLI(binary)
	code := kafkaref.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
