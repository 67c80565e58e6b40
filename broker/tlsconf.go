package broker

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// TLSConfig is the TLS of the SSL and SASL_SSL listeners, from PEM files
// as Kafka's ssl.keystore.type=PEM takes them.
type TLSConfig struct {
	CertFile string // ssl.keystore.certificate.chain: the certificate chain, PEM
	KeyFile  string // ssl.keystore.key: its private key, PEM (unencrypted)
	CAFile   string // ssl.truststore.certificates: CAs client certificates must chain to
	// ClientAuth is ssl.client.auth: "none" (default), "requested" (a
	// certificate is asked for and verified if given) or "required".
	ClientAuth string
	// CRLFile holds certificate revocation lists (PEM or DER) signed by
	// CAs of CAFile: a client certificate whose serial one of them lists
	// is refused at the handshake. Reloaded with the other files.
	CRLFile string
}

// tlsState holds the current tls.Config of the TLS listeners. Reload
// replaces it: connections already open keep the one they shook hands
// with, new ones get the new one, so no connection is dropped.
type tlsState struct {
	cfg  TLSConfig
	cur  atomic.Pointer[tls.Config]
	mu   sync.Mutex // one reload at a time
	mods []time.Time
}

func newTLSState(cfg TLSConfig) (*tlsState, error) {
	switch cfg.ClientAuth {
	case "", "none", "requested", "required":
	default:
		return nil, fmt.Errorf("broker: --ssl-client-auth %q: want none, requested or required", cfg.ClientAuth)
	}
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("broker: TLS needs both --ssl-certificate and --ssl-key")
	}
	if cfg.CRLFile != "" && cfg.CAFile == "" {
		return nil, errors.New("broker: --ssl-crl needs --ssl-ca, the CAs that sign the revocation lists")
	}
	if (cfg.ClientAuth == "requested" || cfg.ClientAuth == "required") && cfg.CAFile == "" {
		return nil, fmt.Errorf("broker: --ssl-client-auth %s needs --ssl-ca, the CAs client certificates are checked against", cfg.ClientAuth)
	}
	t := &tlsState{cfg: cfg}
	if err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tlsState) files() []string {
	f := []string{t.cfg.CertFile, t.cfg.KeyFile}
	if t.cfg.CAFile != "" {
		f = append(f, t.cfg.CAFile)
	}
	if t.cfg.CRLFile != "" {
		f = append(f, t.cfg.CRLFile)
	}
	return f
}

// reload reads the files again. On error the previous configuration stays.
func (t *tlsState) reload() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	mods := t.modTimes()
	cert, err := tls.LoadX509KeyPair(t.cfg.CertFile, t.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("broker: TLS certificate %s / key %s: %w", t.cfg.CertFile, t.cfg.KeyFile, err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.cfg.CAFile != "" {
		pemBytes, err := os.ReadFile(t.cfg.CAFile)
		if err != nil {
			return fmt.Errorf("broker: --ssl-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return fmt.Errorf("broker: --ssl-ca %s holds no PEM certificate", t.cfg.CAFile)
		}
		c.ClientCAs = pool
		if t.cfg.CRLFile != "" {
			revoked, err := loadCRLs(t.cfg.CRLFile, pemBytes)
			if err != nil {
				return err
			}
			c.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
				for _, chain := range chains {
					if len(chain) > 0 && revoked.has(chain[0]) {
						return fmt.Errorf("client certificate %s (serial %s) is revoked by --ssl-crl", chain[0].Subject, chain[0].SerialNumber)
					}
				}
				return nil
			}
		}
	}
	switch t.cfg.ClientAuth {
	case "requested":
		c.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	t.cur.Store(c)
	t.mods = mods
	return nil
}

func (t *tlsState) modTimes() []time.Time {
	var m []time.Time
	for _, f := range t.files() {
		var mt time.Time
		if fi, err := os.Stat(f); err == nil {
			mt = fi.ModTime()
		}
		m = append(m, mt)
	}
	return m
}

// changed reports whether a file's modification time moved since the last
// load.
func (t *tlsState) changed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.modTimes()
	for i := range now {
		if i >= len(t.mods) || !now[i].Equal(t.mods[i]) {
			return true
		}
	}
	return false
}

// config is what a new TLS connection shakes hands with.
func (t *tlsState) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load(), nil
		},
	}
}

// tlsWatchInterval is how often the TLS files are checked for changes.
const tlsWatchInterval = 2 * time.Second

// watchTLS reloads the certificate when its files change, until Close.
func (b *Broker) watchTLS() {
	defer b.wg.Done()
	tk := time.NewTicker(tlsWatchInterval)
	defer tk.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tk.C:
			if b.sec.tls.changed() {
				b.reloadTLS("file change")
			}
		}
	}
}

// ReloadTLS reads the TLS certificate, key and CA files again (rewind
// serve calls it on SIGHUP). Open connections are kept; on error the
// previous certificate stays in use.
func (b *Broker) ReloadTLS() error {
	if b.sec.tls == nil {
		return nil
	}
	return b.reloadTLS("reload requested")
}

func (b *Broker) reloadTLS(why string) error {
	if err := b.sec.tls.reload(); err != nil {
		b.log.Error("TLS reload failed; the previous certificate stays in use", "why", why, "err", err)
		return err
	}
	b.log.Info("TLS certificate reloaded", "why", why, "cert", b.sec.tls.cfg.CertFile)
	return nil
}

// TLSFiles is TLS for a listener outside the broker, the admin HTTP one:
// the same PEM files, checks and reload as the Kafka listeners' (Reload
// keeps the previous certificate when the files are broken; a connection
// keeps what it shook hands with).
type TLSFiles struct{ t *tlsState }

// LoadTLS reads cfg's files (errors name the Kafka listeners' flags).
func LoadTLS(cfg TLSConfig) (*TLSFiles, error) {
	t, err := newTLSState(cfg)
	if err != nil {
		return nil, err
	}
	return &TLSFiles{t}, nil
}

// Config is the tls.Config to serve with: each handshake takes the
// certificate loaded last.
func (f *TLSFiles) Config() *tls.Config { return f.t.config() }

// Reload reads the files again; Changed reports whether one's
// modification time moved since the last load.
func (f *TLSFiles) Reload() error { return f.t.reload() }
func (f *TLSFiles) Changed() bool { return f.t.changed() }

// CertPrincipal is the principal of a client certificate, as Kafka's
// DefaultKafkaPrincipalBuilder gives it on SSL: User: and the subject's
// distinguished name in RFC 2253 form.
func CertPrincipal(c *x509.Certificate) string { return "User:" + c.Subject.String() }

// revokedSet is the serials the revocation lists name, by issuer.
type revokedSet map[string]map[string]bool

func (r revokedSet) has(c *x509.Certificate) bool {
	return r[string(c.RawIssuer)][c.SerialNumber.String()]
}

// loadCRLs reads the revocation lists of file (PEM "X509 CRL" blocks, or
// one DER list) and keeps those signed by a CA of caPEM; a list no CA
// signed is an error, not ignored, so a wrong file cannot silently let
// revoked certificates in.
func loadCRLs(file string, caPEM []byte) (revokedSet, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("broker: --ssl-crl: %w", err)
	}
	var cas []*x509.Certificate
	for rest := caPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			cas = append(cas, c)
		}
	}
	var ders [][]byte
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "X509 CRL" {
			ders = append(ders, b.Bytes)
		}
	}
	if len(ders) == 0 {
		ders = [][]byte{data} // DER
	}
	out := revokedSet{}
	for _, der := range ders {
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("broker: --ssl-crl %s: %w", file, err)
		}
		signed := false
		for _, ca := range cas {
			if l.CheckSignatureFrom(ca) == nil {
				signed = true
				break
			}
		}
		if !signed {
			return nil, fmt.Errorf("broker: --ssl-crl %s: a revocation list of %s is signed by no CA of --ssl-ca", file, l.Issuer)
		}
		set := out[string(l.RawIssuer)]
		if set == nil {
			set = map[string]bool{}
			out[string(l.RawIssuer)] = set
		}
		for _, e := range l.RevokedCertificateEntries {
			set[e.SerialNumber.String()] = true
		}
	}
	return out, nil
}
