package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTLSSelfSigned: --tls-self-signed makes a CA and a server certificate
// in the data directory, logs where the CA is, and a client trusting that
// CA (and nothing else) produces over SSL; the next start keeps the same
// CA and certificate, so clients keep trusting it. Without a TLS listener,
// or beside --ssl-certificate, it is refused.
func TestTLSSelfSigned(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Broker, string) {
		t.Helper()
		var logs bytes.Buffer
		b, err := New(WithDataDir(dir), WithGroupInitialRebalanceDelay(0),
			WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
			func(c *Config) { c.Listeners, c.TLSSelfSigned = allListeners, true })
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			b.Close()
			t.Fatal(err)
		}
		return b, logs.String()
	}
	b, logs := start()
	caFile := filepath.Join(dir, SelfSignedDir, "ca.pem")
	if !strings.Contains(logs, "ssl.truststore.location="+caFile) || !strings.Contains(logs, "ssl.ca.location="+caFile) {
		t.Fatalf("the start log does not say where the CA is:\n%s", logs)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	produce := func(b *Broker, v string) error {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			t.Fatal("ca.pem holds no certificate")
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr(ProtocolSSL)), kgo.AllowAutoTopicCreation(),
			kgo.DialTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}), kgo.RequestRetries(1))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "self", Value: []byte(v)}).FirstErr()
	}
	if err := produce(b, "one"); err != nil {
		t.Fatalf("over SSL with the self-signed CA: %v", err)
	}
	srvPEM, _ := os.ReadFile(filepath.Join(dir, SelfSignedDir, "server.pem"))
	b.Close()

	b, _ = start()
	defer b.Close()
	caAgain, _ := os.ReadFile(caFile)
	srvAgain, _ := os.ReadFile(filepath.Join(dir, SelfSignedDir, "server.pem"))
	if !bytes.Equal(caAgain, caPEM) || !bytes.Equal(srvAgain, srvPEM) {
		t.Fatal("a restart made a new CA or server certificate: clients would stop trusting the broker")
	}
	if err := produce(b, "two"); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, SelfSignedDir, "ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v, want mode 0600", fi, err)
	}

	quiet := WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := New(WithDataDir(t.TempDir()), quiet, func(c *Config) { c.TLSSelfSigned = true }); err == nil || !strings.Contains(err.Error(), "needs an SSL or SASL_SSL listener") {
		t.Fatalf("without a TLS listener: %v", err)
	}
	if _, err := New(WithDataDir(t.TempDir()), quiet, func(c *Config) {
		c.Listeners, c.TLSSelfSigned, c.TLS = allListeners, true, TLSConfig{CertFile: "x.pem", KeyFile: "x.key"}
	}); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("beside --ssl-certificate: %v", err)
	}
}
