package admin

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SecurityConfig is the admin listener's authentication and HTTPS
// (`rewind serve --http-*`).
type SecurityConfig struct {
	// AuthFile is the users file of basic auth and bearer tokens
	// (auth.go); "" for none.
	AuthFile string
	// TLS serves HTTPS from these PEM files, with the Kafka listeners'
	// checks and reload; ClientAuth requested or required authenticates
	// by client certificate (User:<subject>). CertFile "": plain HTTP.
	TLS broker.TLSConfig
	// MetricsOpen leaves /metrics, /healthz and /readyz without
	// authentication (Prometheus, load balancer probes).
	MetricsOpen bool
	// AllowUnauthenticated serves beyond loopback without any
	// authentication, which is refused otherwise.
	AllowUnauthenticated bool
}

// Security is a loaded SecurityConfig (LoadSecurity), for WithSecurity
// and ListenSecure.
type Security struct {
	SecurityConfig
	auth *authenticator
	tls  *broker.TLSFiles
	log  *slog.Logger
}

// LoadSecurity reads the users file and the certificate, so that `rewind
// serve` fails on a broken one before it binds or opens anything.
func LoadSecurity(cfg SecurityConfig, log *slog.Logger) (*Security, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Security{SecurityConfig: cfg, log: log}
	if cfg.AuthFile != "" {
		a, err := newAuthenticator(cfg.AuthFile, func(err error) {
			if err != nil {
				log.Error("admin HTTP users file not reloaded; the previous users stay", "file", cfg.AuthFile, "err", err)
				return
			}
			log.Info("admin HTTP users file reloaded", "file", cfg.AuthFile)
		})
		if err != nil {
			return nil, err
		}
		s.auth = a
	}
	if cfg.TLS.CertFile != "" || cfg.TLS.KeyFile != "" || cfg.TLS.CAFile != "" {
		t, err := broker.LoadTLS(cfg.TLS)
		if err != nil {
			// The broker's message names the Kafka listeners' flags.
			return nil, fmt.Errorf("admin HTTPS (--http-ssl-*): %w", err)
		}
		s.tls = t
	} else if cfg.TLS.ClientAuth != "" && cfg.TLS.ClientAuth != "none" {
		return nil, fmt.Errorf("admin: --http-ssl-client-auth %s needs HTTPS: --http-ssl-certificate and --http-ssl-key", cfg.TLS.ClientAuth)
	}
	return s, nil
}

// certAuth reports whether client certificates authenticate.
func (s *Security) certAuth() bool {
	return s != nil && s.tls != nil && (s.TLS.ClientAuth == "requested" || s.TLS.ClientAuth == "required")
}

// authenticates reports whether requests must authenticate.
func (s *Security) authenticates() bool { return s != nil && (s.auth != nil || s.certAuth()) }

func (s *Security) allowsUnauthenticated() bool { return s != nil && s.AllowUnauthenticated }

func (s *Security) describe() string {
	var m []string
	if s != nil && s.auth != nil {
		m = append(m, "basic and bearer ("+s.AuthFile+")")
	}
	if s.certAuth() {
		m = append(m, "client certificate ("+s.TLS.ClientAuth+")")
	}
	if len(m) == 0 {
		return "none (User:ANONYMOUS)"
	}
	if s.MetricsOpen {
		m = append(m, "/metrics and health open")
	}
	return strings.Join(m, ", ")
}

// Reload reads the users file and the certificate files again (rewind
// serve calls it on SIGHUP); what fails to load is logged and the
// previous one stays in use.
func (s *Server) Reload() {
	if s.sec == nil {
		return
	}
	if s.sec.auth != nil {
		s.sec.auth.reload()
	}
	if s.sec.tls != nil {
		s.reloadTLS("reload requested")
	}
}

func (s *Server) reloadTLS(why string) {
	if err := s.sec.tls.Reload(); err != nil {
		s.log.Error("admin HTTPS certificate reload failed; the previous certificate stays in use", "why", why, "err", err)
		return
	}
	s.log.Info("admin HTTPS certificate reloaded", "why", why, "cert", s.sec.TLS.CertFile)
}

// tlsWatchInterval is how often the certificate files are looked at.
const tlsWatchInterval = 2 * time.Second

// watchTLS reloads the certificate when its files change, until Close.
func (s *Server) watchTLS() {
	defer s.watched.Done()
	tk := time.NewTicker(tlsWatchInterval)
	defer tk.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tk.C:
			if s.sec.tls.Changed() {
				s.reloadTLS("file change")
			}
		}
	}
}

// allowAll is the Authorizer of a Broker without ACLs.
type allowAll struct{}

func (allowAll) Authorize(string, string, kmsg.ACLOperation, kmsg.ACLResourceType, string) bool {
	return true
}
