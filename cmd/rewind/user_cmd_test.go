package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestUserCommand: `rewind user set` stores a salted credential a SASL
// listener accepts (while the broker runs), `list` shows it, `delete`
// revokes it for the next connection; the password never reaches the
// file.
func TestUserCommand(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := cliRun(t, "", "", "user", "set", "alice", "--data-dir", dir); err == nil {
		t.Fatal("user set without a password on stdin succeeded")
	}
	b, err := broker.New(broker.WithDataDir(dir), broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *broker.Config) {
			c.Listeners = []broker.ListenerSpec{{Name: broker.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}}
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, _, err = cliRun(t, "", "s3cret-pw\n", "user", "set", "alice", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, broker.CredentialsFile))
	if err != nil || strings.Contains(string(raw), "s3cret-pw") {
		t.Fatalf("credentials file: %v %q", err, raw)
	}
	if out := cli(t, "", "user", "list", "--data-dir", dir); out != "alice\tSCRAM-SHA-256,SCRAM-SHA-512\n" {
		t.Fatalf("user list: %q", out)
	}
	metadata := func(pw string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr(broker.ProtocolSASLPlaintext)),
			kgo.SASL(scram.Auth{User: "alice", Pass: pw}.AsSha512Mechanism()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		return err
	}
	if err := metadata("s3cret-pw"); err != nil {
		t.Fatalf("SCRAM-SHA-512 with the password set by rewind user: %v", err)
	}
	cli(t, "", "user", "delete", "alice", "--data-dir", dir)
	if err := metadata("s3cret-pw"); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("after user delete: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	cliFail(t, "", []string{"user", "delete", "alice", "--data-dir", dir}, "does not exist")
}

// TestServeListenersFlags: --listeners is refused with --listen, and
// --advertised-listeners without --listeners, before anything binds.
func TestServeListenersFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"serve", "--data-dir", dir, "--http", "", "--listeners", "PLAINTEXT://127.0.0.1:0", "--listen", "127.0.0.1:0"},
		{"serve", "--data-dir", dir, "--http", "", "--advertised-listeners", "PLAINTEXT://h:1"},
		{"serve", "--data-dir", dir, "--http", "", "--listeners", "BOGUS://127.0.0.1:0"},
		{"serve", "--data-dir", dir, "--http", "", "--listeners", "SSL://127.0.0.1:0"},
	} {
		if _, _, err := cliRun(t, "", "", args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
