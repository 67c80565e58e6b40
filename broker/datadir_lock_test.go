package broker_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

func lockTestLogger() broker.Option {
	return broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestEmbeddedBrokerLocksDataDir: the embedded broker takes the same lock
// as `rewind serve`: a second broker on a data directory in use, even in
// the same process, fails naming this process and frees the port it
// bound; once the first is closed the directory can be opened again.
func TestEmbeddedBrokerLocksDataDir(t *testing.T) {
	dir := t.TempDir()
	first := rewindtest.Start(t, broker.WithDataDir(dir))

	addr := lockTestAddr(t)
	_, err := broker.New(broker.WithDataDir(dir), broker.WithListen(addr), lockTestLogger())
	if !errors.Is(err, broker.ErrDataDirInUse) {
		t.Fatalf("second broker on %s: %v, want ErrDataDirInUse", dir, err)
	}
	if want := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	ln, err := net.Listen("tcp", addr) // the refused broker closed its listener
	if err != nil {
		t.Fatalf("port of the refused broker still bound: %v", err)
	}
	ln.Close()

	// The first still serves.
	cl, err := kgo.NewClient(kgo.SeedBrokers(first.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(t.Context()); err != nil {
		t.Fatalf("first broker after the refused one: %v", err)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := broker.New(broker.WithDataDir(dir), broker.WithListen("127.0.0.1:0"), lockTestLogger())
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	again.Close()
}

// TestNewFailsToBindBeforeDataDir: when the port is taken, New fails
// without creating the data directory.
func TestNewFailsToBindBeforeDataDir(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir() + "/data"
	if _, err := broker.New(broker.WithDataDir(dir), broker.WithListen(taken.Addr().String()), lockTestLogger()); err == nil {
		t.Fatal("New on a taken port succeeded")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a New that could not listen created its data directory (%v)", err)
	}
}

// TestWithListener: a broker serves a listener bound by its caller.
func TestWithListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := rewindtest.Start(t, broker.WithListener(ln), broker.WithListen("127.0.0.1:1"))
	if b.Addr() != ln.Addr().String() {
		t.Fatalf("broker serves %s, want the given listener %s", b.Addr(), ln.Addr())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestWildcardAdvertiseRefused: a broker bound to every interface without
// an advertised address, or told to advertise a wildcard, is refused
// before it touches its data directory.
func TestWildcardAdvertiseRefused(t *testing.T) {
	for _, c := range []struct{ listen, adv, want string }{
		{"0.0.0.0:0", "", "--advertise"},
		{":0", "", "--advertise"},
		{"127.0.0.1:0", "0.0.0.0:9092", "not an address clients can connect to"},
		{"127.0.0.1:0", ":9092", "not an address clients can connect to"},
		{"127.0.0.1:0", "[::]:9092", "not an address clients can connect to"},
	} {
		dir := t.TempDir() + "/data"
		_, err := broker.New(broker.WithDataDir(dir), broker.WithListen(c.listen), broker.WithAdvertise(c.adv), lockTestLogger())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("listen %q advertise %q: %v, want an error saying %q", c.listen, c.adv, err, c.want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("listen %q advertise %q: refused broker created its data directory", c.listen, c.adv)
		}
	}
}

func lockTestAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
