// Package txn checks that consumers of other client libraries, which read
// with isolation.level=read_committed (librdkafka's default), never see a
// record of an aborted or still open transaction, against the real
// `rewind serve` (internal/proctest) and against Apache Kafka 4.4
// (internal/kafkaref): confluent-kafka-go (cgo, its bundled librdkafka)
// and kcat (Debian's, on PATH). The transactions are written by franz-go.
// The same readers also read a compacted topic after the cleaner removed
// its aborted records and markers (compacted_test.go, against an
// in-process Rewind that compacts every 20 ms).
//
// Rewind's subtests run once its ApiVersions lists EndTxn; kcat's skip
// when kcat is not installed unless REWIND_COMPAT_REQUIRED=1 (.ci/compat.sh
// installs it).
package txn

import (
	"fmt"
	"os"
	"testing"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/internal/proctest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rewind-compat-txn")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if binary, err = proctest.Build("../..", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := kafkaref.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
