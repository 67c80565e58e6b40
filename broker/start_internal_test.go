package broker

import (
	"io"
	"log/slog"
	"testing"
)

// startTest starts a broker listening on a free port of 127.0.0.1, with a
// data directory of the test's own and a logger that drops everything,
// then configured by opts (which may override those), and closes it when
// the test ends.
func startTest(t *testing.T, opts ...Option) *Broker {
	t.Helper()
	base := []Option{WithListen("127.0.0.1:0"), WithDataDir(t.TempDir()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	return startWith(t, append(base, opts...)...)
}

// startWith starts a broker configured by opts alone and closes it when
// the test ends.
func startWith(t *testing.T, opts ...Option) *Broker {
	t.Helper()
	b, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
