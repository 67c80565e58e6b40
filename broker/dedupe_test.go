package broker_test

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/broker"
)

// --log-cleaner-dedupe-buffer-size below 1 MiB is refused before anything
// is read, and touches no data directory.
func TestDedupeBufferSizeBelowMinimumRefused(t *testing.T) {
	for _, n := range []int64{-1, 1000, 1<<20 - 1} {
		dir := t.TempDir()
		b, err := broker.New(broker.WithDataDir(dir), broker.WithListen("127.0.0.1:0"),
			broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			func(c *broker.Config) { c.LogCleanerDedupeBufferSize = n })
		if err == nil {
			b.Close()
			t.Fatalf("%d: accepted", n)
		}
		if !strings.Contains(err.Error(), "--log-cleaner-dedupe-buffer-size") {
			t.Fatalf("%d: %v", n, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Fatalf("%d: the data directory holds %d entries", n, len(ents))
		}
	}
}
