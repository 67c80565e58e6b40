package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The tls scenario: produce and cold consume on the same in-process Rewind
// over its PLAINTEXT listener and over an SSL listener (TLS 1.3, an ECDSA
// P-256 certificate, the Go client's default cipher suites), alternating
// round by round, so the two figures of each measurement differ only by
// the transport. Topics are created and filled over PLAINTEXT; the timed
// clients connect to the listener measured.

// tlsTarget is a Rewind with both listeners; the timed clients of the
// measurement use the SSL one (clientConn).
type tlsTarget struct {
	*rewindTarget
	cfg *tls.Config
}

func (t *tlsTarget) tlsAddrs() []string { return []string{t.b.ListenerAddr(broker.ProtocolSSL)} }

// clientConn is how a timed client reaches t: its seeds, and TLS for a
// tlsTarget.
func clientConn(t target) []kgo.Opt {
	if tt, ok := t.(*tlsTarget); ok {
		return []kgo.Opt{kgo.SeedBrokers(tt.tlsAddrs()...), kgo.DialTLSConfig(tt.cfg.Clone())}
	}
	return []kgo.Opt{kgo.SeedBrokers(t.addrs()...)}
}

// benchCert writes a self-signed certificate for 127.0.0.1 into dir and
// returns the broker's TLS files and the client's configuration.
func benchCert(dir string) (broker.TLSConfig, *tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return broker.TLSConfig{}, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rewind bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return broker.TLSConfig{}, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return broker.TLSConfig{}, nil, err
	}
	cfg := broker.TLSConfig{CertFile: filepath.Join(dir, "bench-cert.pem"), KeyFile: filepath.Join(dir, "bench-key.pem")}
	if err := os.WriteFile(cfg.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return broker.TLSConfig{}, nil, err
	}
	if err := os.WriteFile(cfg.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return broker.TLSConfig{}, nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return cfg, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// transportSystems are Rewind over PLAINTEXT and over SSL, both with both
// listeners (the same broker configuration).
func (r *runner) transportSystems(fsync storage.Fsync, files broker.TLSConfig, client *tls.Config) []system {
	start := func(secure bool) func() (target, error) {
		return func() (target, error) {
			rt, err := rewindBroker(r.root, fsync, func(c *broker.Config) {
				c.Listeners = []broker.ListenerSpec{{Name: broker.ProtocolPlaintext, Addr: "127.0.0.1:0"}, {Name: broker.ProtocolSSL, Addr: "127.0.0.1:0"}}
				c.TLS = files
			})
			if err != nil || !secure {
				return rt, err
			}
			return &tlsTarget{rewindTarget: rt, cfg: client}, nil
		}
	}
	return []system{{name: "plain", start: start(false)}, {name: "tls", start: start(true)}}
}

func (r *runner) tls(ctx context.Context) error {
	if r.external() {
		r.logf("tls: skipped with --brokers (the bench starts the broker it measures over TLS)")
		return nil
	}
	files, client, err := benchCert(r.root)
	if err != nil {
		return err
	}
	const parts = 8
	name := fmt.Sprintf("produce %s, %d partitions, acks=%s, fsync=never", sizeName(r.cfg.RecordSize), parts, r.cfg.Acks)
	res, err := r.ab(ctx, name, r.transportSystems(storage.FsyncNever, files, client), func(t target) ([]float64, error) {
		topic, err := createTopic(ctx, t, "tls-produce", parts)
		if err != nil {
			return nil, err
		}
		// At least 3 s with 1 s of warm-up, also in a smoke run: the
		// first TLS connections' handshakes and a fresh broker's first
		// batches otherwise fill a short run.
		rt, err := produce(ctx, &r.cfg, t, produceSpec{topic: topic, recordSize: r.cfg.RecordSize, producers: r.cfg.Producers,
			duration: max(r.cfg.Duration, 3*time.Second), warmup: max(r.cfg.Warmup, time.Second), volume: r.cfg.Volume})
		return []float64{rt.bytes / mb}, err
	})
	if err != nil {
		return err
	}
	r.addTransport(name, res)

	stored := min(r.cfg.ConsumeBytes, 512<<20)
	name = fmt.Sprintf("consume cold %s, %s stored, %d partitions", sizeName(r.cfg.RecordSize), bytesName(stored), parts)
	res, err = r.ab(ctx, name, r.transportSystems(storage.FsyncNever, files, client), func(t target) ([]float64, error) {
		topic, err := createTopic(ctx, t, "tls-cold", parts)
		if err != nil {
			return nil, err
		}
		// Filled over PLAINTEXT on both, then read over the listener
		// measured.
		if err := fill(ctx, &r.cfg, plainOf(t), topic, stored); err != nil {
			return nil, err
		}
		rt, err := consumeAll(ctx, &r.cfg, t, topic)
		return []float64{rt.bytes / mb}, err
	})
	if err != nil {
		return err
	}
	r.addTransport(name, res)
	return nil
}

// plainOf is t reached over PLAINTEXT.
func plainOf(t target) target {
	if tt, ok := t.(*tlsTarget); ok {
		return tt.rewindTarget
	}
	return t
}

// addTransport adds the PLAINTEXT and the SSL figure of one measurement,
// each against the loopback TCP limit.
func (r *runner) addTransport(name string, res [][][]float64) {
	r.add(newFigure(name+", PLAINTEXT", "MB/s", res[0][0], nil, r.tcpLimit(), "tcp", goal{}))
	r.add(newFigure(name+", SSL (TLS)", "MB/s", res[1][0], nil, r.tcpLimit(), "tcp", goal{}))
}
