package offsettool

import (
	"fmt"
	"os"
	"testing"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/internal/proctest"
)

// kfakeBin runs kfake, the second implementation of the protocol every
// client command is checked against (bench/kfakepeer, built once here:
// the rewind module does not require kfake).
var kfakeBin string

// TestMain builds kfake and, after the tests, stops the Apache Kafka the
// transaction tests started (kafkaref: one per test binary, on first use).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rewind-offsettool")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if kfakeBin, err = proctest.BuildKfake("..", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := kafkaref.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
