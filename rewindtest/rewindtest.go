// Package rewindtest runs a real Rewind broker inside a Go test: a random
// 127.0.0.1 port, a temporary data directory, closed when the test ends.
//
//	func TestOrders(t *testing.T) {
//		b := rewindtest.Start(t)
//		cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
//		...
//	}
//
// The broker is ready to serve when Start returns. Groups rebalance without
// the initial delay (group.initial.rebalance.delay.ms = 0) so tests are
// fast; pass broker.WithGroupInitialRebalanceDelay to get Kafka's 3 s.
package rewindtest

import (
	"io"
	"log/slog"
	"testing"

	"github.com/rewindhq/rewind/broker"
)

// Start starts a broker for the test and stops it in t.Cleanup. Options are
// applied after the test defaults (loopback random port, t.TempDir() data,
// no initial rebalance delay, quiet logging, a 1 MiB disk reserve instead of
// 64 MiB).
func Start(t testing.TB, opts ...broker.Option) *broker.Broker {
	t.Helper()
	base := []broker.Option{
		broker.WithListen("127.0.0.1:0"),
		broker.WithDataDir(t.TempDir()),
		broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		broker.WithDiskReserve(1 << 20),
	}
	b, err := broker.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("rewindtest: %v", err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatalf("rewindtest: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("rewindtest: close: %v", err)
		}
	})
	return b
}
