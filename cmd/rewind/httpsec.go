package main

import (
	"github.com/rewindhq/rewind/admin"
	"github.com/spf13/pflag"
)

// httpSecurityFlags adds the admin HTTP listener's authentication and
// HTTPS flags (rewind serve, rewind monitor).
func httpSecurityFlags(f *pflag.FlagSet, c *admin.SecurityConfig) {
	f.StringVar(&c.AuthFile, "http-auth-file", "", "users of --http, one NAME:HASH a line: a bcrypt hash (htpasswd -nB NAME) for basic auth, or sha256:HEX of a bearer token; principal User:NAME; reloaded on SIGHUP or when the file changes")
	f.StringVar(&c.TLS.CertFile, "http-ssl-certificate", "", "PEM certificate chain: serve --http as HTTPS; reloaded on SIGHUP or when the file changes")
	f.StringVar(&c.TLS.KeyFile, "http-ssl-key", "", "PEM private key of --http-ssl-certificate, unencrypted")
	f.StringVar(&c.TLS.CAFile, "http-ssl-ca", "", "PEM CA certificates --http client certificates must chain to")
	f.StringVar(&c.TLS.ClientAuth, "http-ssl-client-auth", "none", "client certificates of --http: none, requested or required; a verified one authenticates as User:<certificate subject>")
	f.BoolVar(&c.MetricsOpen, "http-metrics-open", false, "serve /metrics, /healthz and /readyz without authentication")
	f.BoolVar(&c.AllowUnauthenticated, "http-allow-unauthenticated", false, "serve --http beyond loopback without authentication (refused otherwise); anyone who can connect can then use the console")
}
