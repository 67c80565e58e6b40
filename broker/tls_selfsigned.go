package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"slices"
	"time"

	"github.com/rewindhq/rewind/internal/atomicfile"
)

// --tls-self-signed: for development, the broker makes its own CA and a
// server certificate for the hosts its TLS listeners advertise, keeps them
// in the data directory (made once, so clients keep trusting the CA across
// restarts; the server certificate is issued again when a host is added or
// it nears its end) and logs how to point clients at the CA. The keys are
// ECDSA P-256, made and signed by Go's crypto/x509.

// SelfSignedDir is where --tls-self-signed keeps its files, under the data
// directory: ca.pem (what clients trust), ca.key, server.pem, server.key.
const SelfSignedDir = "tls"

const (
	selfSignedCAValidity     = 10 * 365 * 24 * time.Hour
	selfSignedServerValidity = 397 * 24 * time.Hour // what browsers and most clients accept
	selfSignedRenewBefore    = 30 * 24 * time.Hour
)

// ensureSelfSigned returns the TLS files of dir's self-signed CA and a
// server certificate valid for hosts, making what is missing, expiring or
// not covering every host.
func ensureSelfSigned(dir string, hosts []string, now time.Time) (TLSConfig, error) {
	d := filepath.Join(dir, SelfSignedDir)
	cfg := TLSConfig{CertFile: filepath.Join(d, "server.pem"), KeyFile: filepath.Join(d, "server.key")}
	caFile, caKeyFile := filepath.Join(d, "ca.pem"), filepath.Join(d, "ca.key")
	ca, caKey, err := loadPair(caFile, caKeyFile)
	if err != nil || now.After(ca.NotAfter.Add(-selfSignedRenewBefore)) {
		if ca, caKey, err = makeCA(caFile, caKeyFile, now); err != nil {
			return TLSConfig{}, err
		}
	}
	if srv, _, err := loadPair(cfg.CertFile, cfg.KeyFile); err == nil && srv.CheckSignatureFrom(ca) == nil &&
		now.Before(srv.NotAfter.Add(-selfSignedRenewBefore)) && covers(srv, hosts) {
		return cfg, nil
	}
	return cfg, issueServer(cfg, ca, caKey, hosts, now)
}

func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("not an ECDSA key")
	}
	return cert, key, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

func writeKeyPair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	// The key first: a crash between the two leaves a certificate that
	// does not match its key, which the next start replaces.
	if err := atomicfile.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("broker: --tls-self-signed: %w", err)
	}
	if err := atomicfile.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("broker: --tls-self-signed: %w", err)
	}
	return nil
}

func makeCA(certFile, keyFile string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "Rewind development CA", Organization: []string{"Rewind --tls-self-signed"}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(selfSignedCAValidity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKeyPair(certFile, keyFile, der, key); err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

// selfSignedHosts are always in the server certificate, beside the
// advertised ones.
var selfSignedHosts = []string{"localhost", "127.0.0.1", "::1"}

func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func issueServer(cfg TLSConfig, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "rewind"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(selfSignedServerValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writeKeyPair(cfg.CertFile, cfg.KeyFile, der, key)
}

// initSelfSignedTLS makes (or reuses) the self-signed files once the data
// directory is locked, for the hosts the TLS listeners advertise, and
// loads them into the listeners' TLS state.
func (b *Broker) initSelfSignedTLS() error {
	if !b.cfg.TLSSelfSigned || b.sec.tls == nil {
		return nil
	}
	hosts := slices.Clone(selfSignedHosts)
	for _, l := range b.sec.listeners {
		if l.spec.TLS() && l.host != "" && !slices.Contains(hosts, l.host) {
			hosts = append(hosts, l.host)
		}
	}
	files, err := ensureSelfSigned(b.cfg.DataDir, hosts, time.Now())
	if err != nil {
		return err
	}
	files.ClientAuth, files.CAFile, files.CRLFile = b.cfg.TLS.ClientAuth, b.cfg.TLS.CAFile, b.cfg.TLS.CRLFile
	b.cfg.TLS = files
	b.sec.tls.cfg = files
	if err := b.sec.tls.reload(); err != nil {
		return err
	}
	ca := filepath.Join(b.cfg.DataDir, SelfSignedDir, "ca.pem")
	b.log.Info("TLS: self-signed development certificate (--tls-self-signed); clients trust its CA",
		"ca", ca, "hosts", hosts,
		"java", "ssl.truststore.type=PEM ssl.truststore.location="+ca,
		"librdkafka", "ssl.ca.location="+ca,
		"rewind", "--ssl-truststore-location "+ca)
	return nil
}
