package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveMustFail runs `rewind serve args...` in-process and returns its
// error; a serve that starts instead fails the test (it would run until
// the test binary exits).
func serveMustFail(t *testing.T, args ...string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, _, err := cliRun(t, "", "", append([]string{"serve", "--log-level", "error"}, args...)...)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("rewind serve %v succeeded", args)
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("rewind serve %v started instead of failing", args)
	}
	return nil
}

// A start whose ports are taken fails, names the flag, and creates
// nothing: not even the data directory. The console's default address
// taken (another broker's console) fails the start too, unless --http ""
// turns the console off.
func TestServeBindFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().String()
	dir := filepath.Join(t.TempDir(), "data")
	untouched := func() {
		t.Helper()
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a start that could not bind created %s (%v)", dir, err)
		}
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--listen", busy, "--http", ""}, []string{"--listen " + busy, "address already in use", "choose another address with --listen"}},
		{[]string{"--listeners", "PLAINTEXT://" + busy, "--http", ""}, []string{"--listeners PLAINTEXT://" + busy, "address already in use"}},
		{[]string{"--listen", "127.0.0.1:0", "--http", busy}, []string{"--http " + busy, "address already in use", `--http ""`}},
	} {
		err := serveMustFail(t, append(c.args, "--data-dir", dir)...)
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("serve %v: %q lacks %q", c.args, err, w)
			}
		}
		untouched()
	}

	// The default console address taken: no more a warning and a broker
	// without console (whose :9644 users would take for its own).
	defer func(a string) { defaultHTTPAddr = a }(defaultHTTPAddr)
	defaultHTTPAddr = busy
	err = serveMustFail(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	for _, w := range []string{"--http " + busy + " (the default)", "another rewind serve whose console that is", `--http "" to run without the console`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("default --http taken: %q lacks %q", err, w)
		}
	}
	untouched()
}
