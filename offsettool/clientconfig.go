package offsettool

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/magiconair/properties"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Security protocols (Kafka's security.protocol) and SASL mechanisms the
// CLI speaks.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"

	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
	MechanismOAuthBearer = "OAUTHBEARER"
)

// ClientConfig is how a command connects and authenticates: what a Kafka
// client's properties say (Kafka tools' --command-config file), with the
// CLI's flags applied on top. The zero value is PLAINTEXT, anonymous.
type ClientConfig struct {
	Brokers          []string // bootstrap.servers; empty: the caller's --brokers
	ClientID         string   // client.id; empty: rewind-cli
	SecurityProtocol string   // PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL
	SASLMechanism    string   // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username         string
	Password         string

	// Trust: PEM CA certificates from a file or inline; neither means the
	// system's roots.
	CAFile, CAPEM string
	// Client certificate (mTLS): PEM files, or inline PEM, or one PEM file
	// holding both (ssl.keystore.location).
	CertFile, KeyFile string
	CertPEM, KeyPEM   string
	// NoHostnameCheck skips matching the broker's certificate to its
	// address (ssl.endpoint.identification.algorithm empty); the chain is
	// still verified. Insecure skips every check (librdkafka's
	// enable.ssl.certificate.verification=false).
	NoHostnameCheck bool
	Insecure        bool
	MinTLS13        bool // ssl.protocol / ssl.enabled.protocols TLSv1.3 only

	// OAUTHBEARER (clientoauth.go): the options of OAuthBearerLoginModule
	// (unsecured tokens made here), or a token file
	// (sasl.oauthbearer.token.endpoint.url=file:...).
	OAuthOptions   map[string]string
	OAuthTokenFile string
}

// jaas login modules whose username and password the CLI can use.
var jaasModules = map[string]bool{
	"org.apache.kafka.common.security.plain.PlainLoginModule": true,
	"org.apache.kafka.common.security.scram.ScramLoginModule": true,
	oauthModule: true,
}

// LoadClientConfig reads a Kafka client properties file (Java .properties
// syntax: key=value or key: value, # and ! comments, \ continuations and
// escapes; ${...} is not expanded). Every property must be one the CLI
// understands, so that a typo or a setting it would silently ignore (a JKS
// truststore, Kerberos) fails naming the property rather than connecting
// some other way than the user asked.
func LoadClientConfig(path string) (*ClientConfig, error) {
	l := &properties.Loader{Encoding: properties.UTF8, DisableExpansion: true}
	p, err := l.LoadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--command-config %s: %w", path, err)
	}
	m := p.Map()
	cfg, err := parseClientProperties(m)
	if err != nil {
		return nil, fmt.Errorf("--command-config %s: %w", path, err)
	}
	return cfg, nil
}

// parseClientProperties turns properties into a ClientConfig.
func parseClientProperties(m map[string]string) (*ClientConfig, error) {
	cfg := &ClientConfig{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first error is the same on every run
	var truststoreType, keystoreType = "", ""
	set := func(dst *string, k, v string) error {
		if *dst != "" && *dst != v {
			return fmt.Errorf("%s=%q contradicts another property that set the same thing to %q", k, v, *dst)
		}
		*dst = v
		return nil
	}
	for _, k := range keys {
		v := strings.TrimSpace(m[k])
		var err error
		switch k {
		case "bootstrap.servers", "metadata.broker.list":
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					cfg.Brokers = append(cfg.Brokers, s)
				}
			}
		case "client.id":
			cfg.ClientID = v
		case "security.protocol":
			cfg.SecurityProtocol = strings.ToUpper(v)
		case "sasl.mechanism", "sasl.mechanisms":
			err = set(&cfg.SASLMechanism, k, strings.ToUpper(v))
		case "sasl.jaas.config":
			var module string
			var opts map[string]string
			if module, opts, err = parseJAASOptions(v); err == nil && module == oauthModule {
				cfg.OAuthOptions = opts
			} else if err == nil {
				var u, pw string
				if u, pw, err = jaasUser(opts); err == nil {
					if err = set(&cfg.Username, k, u); err == nil {
						err = set(&cfg.Password, k, pw)
					}
				}
			}
		case "sasl.oauthbearer.token.endpoint.url":
			cfg.OAuthTokenFile, err = oauthTokenFile(v)
		case "sasl.login.callback.handler.class":
			if v != oauthLoginHandler && v != oauthLoginHandlerOld {
				err = fmt.Errorf("sasl.login.callback.handler.class=%s is not supported: only %s, with a file: sasl.oauthbearer.token.endpoint.url", v, oauthLoginHandler)
			}
		case "sasl.username":
			err = set(&cfg.Username, k, v)
		case "sasl.password":
			err = set(&cfg.Password, k, v)
		case "ssl.truststore.type":
			truststoreType = strings.ToUpper(v)
		case "ssl.truststore.location", "ssl.ca.location":
			err = set(&cfg.CAFile, k, v)
		case "ssl.truststore.certificates":
			cfg.CAPEM, err = inlinePEM(k, v)
		case "ssl.truststore.password":
			if v != "" {
				err = fmt.Errorf("ssl.truststore.password: a PEM truststore has no password (Kafka refuses one too); remove it")
			}
		case "ssl.keystore.type":
			keystoreType = strings.ToUpper(v)
		case "ssl.keystore.location":
			// A PEM keystore file holds the private key and the chain.
			if err = set(&cfg.CertFile, k, v); err == nil {
				err = set(&cfg.KeyFile, k, v)
			}
		case "ssl.certificate.location":
			err = set(&cfg.CertFile, k, v)
		case "ssl.key.location":
			err = set(&cfg.KeyFile, k, v)
		case "ssl.keystore.certificate.chain":
			cfg.CertPEM, err = inlinePEM(k, v)
		case "ssl.keystore.key":
			cfg.KeyPEM, err = inlinePEM(k, v)
		case "ssl.key.password", "ssl.keystore.password":
			if v != "" {
				err = fmt.Errorf("%s: encrypted private keys are not supported; use an unencrypted PEM key (openssl pkey -in key.pem -out plain.pem)", k)
			}
		case "ssl.endpoint.identification.algorithm":
			switch strings.ToLower(v) {
			case "https":
			case "", "none":
				cfg.NoHostnameCheck = true
			default:
				err = fmt.Errorf("ssl.endpoint.identification.algorithm=%q: use https (the default) or an empty value", v)
			}
		case "enable.ssl.certificate.verification":
			switch strings.ToLower(v) {
			case "true":
			case "false":
				cfg.Insecure = true
			default:
				err = fmt.Errorf("enable.ssl.certificate.verification=%q: use true or false", v)
			}
		case "ssl.protocol", "ssl.enabled.protocols":
			// TLS 1.2 and 1.3 are what Go offers; only a list without
			// TLSv1.2 changes anything.
			has12, has13 := false, false
			for _, s := range strings.Split(v, ",") {
				switch strings.TrimSpace(s) {
				case "TLSv1.2", "TLS":
					has12 = true
				case "TLSv1.3":
					has13 = true
				case "":
				default:
					err = fmt.Errorf("%s=%q: only TLSv1.2 and TLSv1.3 are supported", k, v)
				}
			}
			if err == nil && has13 && !has12 {
				cfg.MinTLS13 = true
			}
		default:
			if strings.HasPrefix(k, "sasl.") || strings.HasPrefix(k, "ssl.") || strings.HasPrefix(k, "security.") {
				return nil, fmt.Errorf("property %s is not supported by rewind's commands (they understand security.protocol, sasl.mechanism, sasl.jaas.config, sasl.username, sasl.password, ssl.truststore.*, ssl.keystore.* in PEM, ssl.endpoint.identification.algorithm)", k)
			}
			return nil, fmt.Errorf("unknown property %s (rewind's commands understand bootstrap.servers, client.id, security.protocol and the sasl.* and ssl.* settings)", k)
		}
		if err != nil {
			return nil, err
		}
	}
	for k, t := range map[string]string{"ssl.truststore.type": truststoreType, "ssl.keystore.type": keystoreType} {
		if t != "" && t != "PEM" {
			return nil, fmt.Errorf("%s=%s: only PEM is supported; convert the store (keytool -exportcert -rfc, or openssl pkcs12 -nodes) and set %s=PEM", k, t, k)
		}
	}
	if cfg.CAFile != "" && cfg.CAPEM != "" {
		return nil, errors.New("ssl.truststore.location and ssl.truststore.certificates are both set: use one")
	}
	if (cfg.CertFile != "" || cfg.KeyFile != "") && (cfg.CertPEM != "" || cfg.KeyPEM != "") {
		return nil, errors.New("ssl.keystore.location (or ssl.certificate.location) and ssl.keystore.certificate.chain are both set: use one")
	}
	return cfg, nil
}

// pemBlock is one PEM block as an inline property holds it: Kafka lets
// the value span lines with \ continuations, which the properties syntax
// joins with the newlines gone.
var pemBlock = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END ([A-Z0-9 ]+)-----`)

// inlinePEM rebuilds the PEM blocks of an inline property (its base64
// re-wrapped, whitespace dropped, as Kafka's PemStore reads it).
func inlinePEM(k, v string) (string, error) {
	ms := pemBlock.FindAllStringSubmatch(v, -1)
	if len(ms) == 0 {
		return "", fmt.Errorf("%s: no PEM block (-----BEGIN ...----- ... -----END ...-----) in the value", k)
	}
	var b strings.Builder
	for _, m := range ms {
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(m[2]), ""))
		if err != nil || m[1] != m[3] {
			return "", fmt.Errorf("%s: the PEM block %s is damaged", k, m[1])
		}
		if m[1] == "ENCRYPTED PRIVATE KEY" {
			return "", fmt.Errorf("%s: encrypted private keys are not supported; use an unencrypted PEM key", k)
		}
		_ = pem.Encode(&b, &pem.Block{Type: m[1], Bytes: der})
	}
	return b.String(), nil
}

// parseJAAS reads the username and password of a sasl.jaas.config value,
// `org.apache.kafka.common.security.plain.PlainLoginModule required
// username="alice" password="secret";`.
func parseJAAS(v string) (user, pass string, err error) {
	_, opts, err := parseJAASOptions(v)
	if err != nil {
		return "", "", err
	}
	return jaasUser(opts)
}

func jaasUser(opts map[string]string) (user, pass string, err error) {
	if opts["username"] == "" {
		return "", "", errors.New("sasl.jaas.config: no username option")
	}
	return opts["username"], opts["password"], nil
}

// parseJAASOptions reads a sasl.jaas.config value as Kafka's JaasConfig
// reads it: one login module, a control flag, options with quoted or bare
// values, a closing ';'.
func parseJAASOptions(v string) (module string, opts map[string]string, err error) {
	toks, err := jaasTokens(v)
	if err != nil {
		return "", nil, fmt.Errorf("sasl.jaas.config: %w", err)
	}
	if len(toks) < 2 {
		return "", nil, errors.New("sasl.jaas.config: want `LoginModule required username=\"...\" password=\"...\";`")
	}
	if !jaasModules[toks[0]] {
		return "", nil, fmt.Errorf("sasl.jaas.config: login module %s is not supported; use org.apache.kafka.common.security.plain.PlainLoginModule, org.apache.kafka.common.security.scram.ScramLoginModule or %s", toks[0], oauthModule)
	}
	switch strings.ToLower(toks[1]) {
	case "required", "requisite", "sufficient", "optional":
	default:
		return "", nil, fmt.Errorf("sasl.jaas.config: control flag %q: want required", toks[1])
	}
	rest := toks[2:]
	if len(rest) == 0 || rest[len(rest)-1] != ";" {
		return "", nil, errors.New("sasl.jaas.config: missing the ';' that ends the login module")
	}
	rest = rest[:len(rest)-1]
	opts = map[string]string{}
	for len(rest) > 0 {
		if len(rest) < 3 || rest[1] != "=" {
			return "", nil, fmt.Errorf("sasl.jaas.config: want option=value near %q", rest[0])
		}
		opts[rest[0]] = rest[2]
		rest = rest[3:]
	}
	return toks[0], opts, nil
}

// jaasTokens splits into words, "quoted strings" (backslash escapes), '='
// and ';'.
func jaasTokens(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '=' || c == ';':
			toks = append(toks, string(c))
			i++
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, errors.New("unterminated quoted value")
			}
			toks = append(toks, b.String())
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r=;\"'", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

// usesTLS and usesSASL say what the protocol asks for.
func (c *ClientConfig) usesTLS() bool {
	return c.SecurityProtocol == ProtocolSSL || c.SecurityProtocol == ProtocolSASLSSL
}

func (c *ClientConfig) usesSASL() bool {
	return c.SecurityProtocol == ProtocolSASLPlaintext || c.SecurityProtocol == ProtocolSASLSSL
}

// Validate checks that the settings fit together: credentials with a
// protocol that would not send them, or TLS files with a plaintext
// protocol, are mistakes a client would silently ignore.
func (c *ClientConfig) Validate() error {
	switch c.SecurityProtocol {
	case "":
		c.SecurityProtocol = ProtocolPlaintext
	case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
	default:
		return fmt.Errorf("security.protocol=%s: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", c.SecurityProtocol)
	}
	if c.usesSASL() {
		switch c.SASLMechanism {
		case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		case MechanismOAuthBearer:
			return c.validateOAuth()
		case "":
			return fmt.Errorf("security.protocol=%s needs sasl.mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (Kafka's default, GSSAPI, is not supported)", c.SecurityProtocol)
		default:
			return fmt.Errorf("sasl.mechanism=%s is not supported: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", c.SASLMechanism)
		}
		if c.OAuthOptions != nil || c.OAuthTokenFile != "" {
			return fmt.Errorf("OAUTHBEARER settings (OAuthBearerLoginModule, sasl.oauthbearer.*) are given but sasl.mechanism=%s", c.SASLMechanism)
		}
		if c.Username == "" {
			return fmt.Errorf("security.protocol=%s needs a user: sasl.jaas.config (PlainLoginModule or ScramLoginModule with username and password), or sasl.username and sasl.password", c.SecurityProtocol)
		}
	} else if c.Username != "" || c.Password != "" || c.SASLMechanism != "" || c.OAuthOptions != nil || c.OAuthTokenFile != "" {
		return fmt.Errorf("SASL settings are given but security.protocol=%s does not use them: set security.protocol=SASL_PLAINTEXT or SASL_SSL", c.SecurityProtocol)
	}
	if !c.usesTLS() && (c.CAFile != "" || c.CAPEM != "" || c.CertFile != "" || c.KeyFile != "" || c.CertPEM != "" || c.KeyPEM != "") {
		return fmt.Errorf("TLS settings are given but security.protocol=%s does not use TLS: set security.protocol=SSL or SASL_SSL", c.SecurityProtocol)
	}
	if (c.CertFile == "") != (c.KeyFile == "") || (c.CertPEM == "") != (c.KeyPEM == "") {
		return errors.New("a client certificate needs both its certificate and its private key (ssl.keystore.certificate.chain and ssl.keystore.key, or ssl.keystore.location with both in one PEM file)")
	}
	return nil
}

// Principal is the name the broker knows this client by, as Kafka's
// default principal builder forms it: User:<SASL user>, User:<certificate
// subject> over SSL with a client certificate, else User:ANONYMOUS.
func (c *ClientConfig) Principal() string {
	if c.usesSASL() && c.SASLMechanism == MechanismOAuthBearer {
		return c.oauthPrincipal()
	}
	if c.usesSASL() && c.Username != "" {
		return "User:" + c.Username
	}
	if c.SecurityProtocol == ProtocolSSL {
		if cert, err := c.clientCert(); err == nil && cert != nil && cert.Leaf != nil {
			return "User:" + cert.Leaf.Subject.String()
		}
	}
	return "User:ANONYMOUS"
}

func (c *ClientConfig) clientCert() (*tls.Certificate, error) {
	var certPEM, keyPEM []byte
	switch {
	case c.CertFile != "":
		var err error
		if certPEM, err = os.ReadFile(c.CertFile); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		if keyPEM, err = os.ReadFile(c.KeyFile); err != nil {
			return nil, fmt.Errorf("client key: %w", err)
		}
	case c.CertPEM != "":
		certPEM, keyPEM = []byte(c.CertPEM), []byte(c.KeyPEM)
	default:
		return nil, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate %s: %w", firstNonEmpty(c.CertFile, "ssl.keystore.certificate.chain"), err)
	}
	return &cert, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// tlsConfig is the client side of SSL and SASL_SSL.
func (c *ClientConfig) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.MinTLS13 {
		cfg.MinVersion = tls.VersionTLS13
	}
	if c.CAFile != "" || c.CAPEM != "" {
		pem := []byte(c.CAPEM)
		if c.CAFile != "" {
			var err error
			if pem, err = os.ReadFile(c.CAFile); err != nil {
				return nil, fmt.Errorf("truststore: %w", err)
			}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("truststore %s: no PEM certificate in it", firstNonEmpty(c.CAFile, "ssl.truststore.certificates"))
		}
		cfg.RootCAs = pool
	}
	cert, err := c.clientCert()
	if err != nil {
		return nil, err
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	switch {
	case c.Insecure:
		cfg.InsecureSkipVerify = true
	case c.NoHostnameCheck:
		// Verify the chain ourselves, without the name: Go's
		// InsecureSkipVerify turns off both, VerifyConnection puts the
		// chain back.
		cfg.InsecureSkipVerify = true
		roots := cfg.RootCAs
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the broker sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return cfg, nil
}

// Opts are the kgo options that connect and authenticate as configured
// (without the seed brokers).
func (c *ClientConfig) Opts() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	if c.usesTLS() {
		t, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(t))
	}
	if c.usesSASL() {
		switch c.SASLMechanism {
		case MechanismPlain:
			opts = append(opts, kgo.SASL(plain.Auth{User: c.Username, Pass: c.Password}.AsMechanism()))
		case MechanismSCRAMSHA256:
			opts = append(opts, kgo.SASL(scram.Auth{User: c.Username, Pass: c.Password}.AsSha256Mechanism()))
		case MechanismSCRAMSHA512:
			opts = append(opts, kgo.SASL(scram.Auth{User: c.Username, Pass: c.Password}.AsSha512Mechanism()))
		case MechanismOAuthBearer:
			opts = append(opts, kgo.SASL(oauth.Oauth(c.oauthToken)))
		}
	}
	return opts, nil
}

// isAuthError reports whether err is a refused SASL authentication or TLS
// handshake rather than a broker that cannot be reached.
func isAuthError(err error) bool {
	for _, e := range []error{kerr.SaslAuthenticationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState} {
		if errors.Is(err, e) {
			return true
		}
	}
	var (
		verr  *tls.CertificateVerificationError
		alert tls.AlertError
		unk   x509.UnknownAuthorityError
		host  x509.HostnameError
		inv   x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &alert) || errors.As(err, &unk) || errors.As(err, &host) || errors.As(err, &inv)
}
