package adversarial

// Security of a real `rewind serve` process: --listeners with a SASL_SSL
// listener, users made by `rewind user`, a wrong password, and a
// certificate reloaded on SIGHUP without dropping connections.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

type pki struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	n     int64
}

func genKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newPKI(t *testing.T, caFile string) *pki {
	k := genKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	writePEMFile(t, caFile, "CERTIFICATE", der)
	return &pki{ca: ca, caKey: k, n: 1}
}

// server writes a certificate for 127.0.0.1 named cn and its key.
func (p *pki) server(t *testing.T, cn, certFile, keyFile string) {
	p.n++
	k := genKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.n), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	writePEMFile(t, keyFile, "EC PRIVATE KEY", kb)
	writePEMFile(t, certFile, "CERTIFICATE", der)
}

func writePEMFile(t *testing.T, path, typ string, der []byte) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestSecurityServe runs `rewind serve --listeners` with PLAINTEXT and
// SASL_SSL listeners: franz-go with SCRAM-SHA-512 over TLS produces and
// consumes as the user `rewind user set` made, a wrong password gets
// SASL_AUTHENTICATION_FAILED and writes nothing, and SIGHUP reloads the
// certificate while the open connection keeps producing.
func TestSecurityServe(t *testing.T) {
	dir, certs := t.TempDir(), t.TempDir()
	caFile, certFile, keyFile := filepath.Join(certs, "ca.pem"), filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")
	p := newPKI(t, caFile)
	p.server(t, "first", certFile, keyFile)

	user := exec.Command(binary, "user", "set", "alice", "--data-dir", dir)
	user.Stdin = strings.NewReader("alice-pw\n")
	if out, err := user.CombinedOutput(); err != nil {
		t.Fatalf("rewind user set: %v: %s", err, out)
	}

	plainAddr, saslAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	var log proctest.SyncBuffer
	cmd := exec.Command(binary, "serve", "--data-dir", dir, "--http", "", "--group-initial-rebalance-delay", "0",
		"--listeners", "PLAINTEXT://"+plainAddr+",SASL_SSL://"+saslAddr,
		"--ssl-certificate", certFile, "--ssl-key", keyFile)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("broker log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := proctest.MetadataLatency(ctx, plainAddr)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker not answering on %s: %v", plainAddr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	client := func(pw string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(saslAddr), kgo.DialTLSConfig(tlsCfg.Clone()),
			kgo.SASL(scram.Auth{User: "alice", Pass: pw}.AsSha512Mechanism()), kgo.AllowAutoTopicCreation())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	good := client("alice-pw")
	if err := good.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte("1")}).FirstErr(); err != nil {
		t.Fatalf("produce over SASL_SSL: %v", err)
	}

	bad := client("not-alice-pw")
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, bad); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	if err := bad.ProduceSync(pctx, &kgo.Record{Topic: "secure", Value: []byte("intruder")}).FirstErr(); err == nil {
		t.Fatal("produce with a wrong password succeeded")
	}
	pcancel()

	served := func() string {
		c, err := tls.Dial("tcp", saslAddr, tlsCfg.Clone())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first" {
		t.Fatalf("served %q", cn)
	}
	p.server(t, "second", certFile, keyFile)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); served() != "second"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the certificate was not reloaded after SIGHUP")
		}
	}
	if err := good.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte("2")}).FirstErr(); err != nil {
		t.Fatalf("the connection open across the reload: %v", err)
	}
	// What was written: the two good records and nothing else, read on
	// the PLAINTEXT listener.
	cons, err := kgo.NewClient(kgo.SeedBrokers(plainAddr), kgo.ConsumeTopics("secure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < 2 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "1,2" {
		t.Fatalf("records %v", got)
	}
	if code, off := proctest.ListEnd(t, ctx, cons, "secure", 0); code != 0 || off != 2 {
		t.Fatalf("end offset %d (error %d), want 2: a failed client wrote", off, code)
	}
	// SIGHUP reloads at once (the file watcher may have been first).
	if !strings.Contains(log.String(), `msg="TLS certificate reloaded" why="reload requested"`) {
		t.Fatal("no reload on SIGHUP logged")
	}
}
