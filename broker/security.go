package broker

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewindhq/rewind/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"
)

// DefaultSASLMechanisms are the mechanisms of the SASL listeners unless
// Config.SASLMechanisms names others.
var DefaultSASLMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// failedAuthDelay is Kafka's connection.failed.authentication.delay.ms
// default: the answer to a failed authentication waits this long before
// the connection is closed, so a client guessing passwords is slowed down.
const failedAuthDelay = 100 * time.Millisecond

// saslMaxReceiveSize is Kafka's sasl.server.max.receive.size default: the
// largest frame a SASL connection may send before it is authenticated, so
// that unauthenticated clients cannot make the broker hold large frames.
const saslMaxReceiveSize = 512 << 10

// brokerSecurity is the broker's listeners, TLS and SASL state.
type brokerSecurity struct {
	listeners []*listener
	tls       *tlsState       // nil: no TLS listener
	creds     *credStore      // SASL credentials (credentials.go)
	mechs     []string        // enabled SASL mechanisms
	authz     *acl.Authorizer // nil: no authorizer, everything allowed (acl.go)
	oauth     tokenValidator  // OAUTHBEARER's validator (oauth.go); nil: mechanism off
	authFails rateLog         // failed authentications, logged at most every 10 s

	authTotal *prometheus.CounterVec // rewind_authentications_total{listener,mechanism,result}
	tlsFails  prometheus.Counter     // rewind_tls_handshake_failures_total

	reauthTotal   *prometheus.CounterVec // rewind_reauthentications_total{listener,mechanism,result} (reauth.go)
	expiredKilled prometheus.Counter     // rewind_expired_connections_killed_total
}

// initSecurity sets up TLS and SASL and binds the listeners: Config.Listeners
// if given, else the one PLAINTEXT listener of Listen/Advertise/Listener.
func (b *Broker) initSecurity() error {
	s := &b.sec
	s.creds = &credStore{path: filepath.Join(b.cfg.DataDir, CredentialsFile)}
	s.mechs = b.cfg.SASLMechanisms
	if len(s.mechs) == 0 {
		s.mechs = DefaultSASLMechanisms
		if b.cfg.OAuthBearer.Enabled() {
			s.mechs = append(slices.Clone(s.mechs), "OAUTHBEARER")
		}
	}
	for _, m := range s.mechs {
		if _, ok := scramHash(m); !ok && m != "PLAIN" && m != "OAUTHBEARER" {
			return fmt.Errorf("broker: SASL mechanism %q is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", m)
		}
	}
	if err := oauthMechanismsNeeded(b.cfg.OAuthBearer, s.mechs); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if slices.Contains(s.mechs, "OAUTHBEARER") {
		v, err := newOAuthValidator(b.ctx, b.cfg.OAuthBearer, b.log)
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		s.oauth = v
		if b.cfg.OAuthBearer.Unsecured {
			b.log.Warn("OAUTHBEARER accepts unsecured JWTs (--sasl-oauthbearer-unsecured): any client may claim any principal; for development only")
		}
	}
	if b.cfg.ConnectionsMaxReauth < 0 {
		return fmt.Errorf("broker: --connections-max-reauth-ms %v must not be negative", b.cfg.ConnectionsMaxReauth)
	}
	s.authFails = rateLog{log: b.log, every: 10 * time.Second}
	s.authTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rewind_authentications_total",
		Help: "SASL authentications by listener, mechanism and result (success, failure).",
	}, []string{"listener", "mechanism", "result"})
	s.tlsFails = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rewind_tls_handshake_failures_total",
		Help: "TLS handshakes that failed (bad or missing client certificate, not TLS, timeout).",
	})
	s.reauthTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rewind_reauthentications_total",
		Help: "SASL re-authentications (KIP-368) by listener, mechanism and result (success, failure).",
	}, []string{"listener", "mechanism", "result"})
	s.expiredKilled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rewind_expired_connections_killed_total",
		Help: "Connections closed because their SASL session expired without re-authentication (Kafka's expired-connections-killed-count).",
	})
	b.met.reg.MustRegister(s.authTotal, s.tlsFails, s.reauthTotal, s.expiredKilled)
	if b.cfg.TLSSelfSigned && !slices.ContainsFunc(b.cfg.Listeners, ListenerSpec.TLS) {
		return errors.New("broker: --tls-self-signed needs an SSL or SASL_SSL listener, e.g. --listeners PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093")
	}
	if len(b.cfg.Listeners) == 0 {
		if err := b.bind(); err != nil {
			return err
		}
		s.listeners = []*listener{{spec: ListenerSpec{Name: ProtocolPlaintext, Addr: b.cfg.Listen, Advertise: b.cfg.Advertise}, ln: b.ln, host: b.host, port: b.port}}
		return nil
	}
	if b.cfg.Listener != nil {
		return fmt.Errorf("broker: a bound Listener and Listeners cannot be given together")
	}
	for _, l := range b.cfg.Listeners {
		if l.TLS() && s.tls == nil && b.cfg.TLSSelfSigned {
			// Loaded once the data directory is locked
			// (initSelfSignedTLS), before any connection is accepted.
			if b.cfg.TLS.CertFile != "" || b.cfg.TLS.KeyFile != "" {
				return errors.New("broker: --tls-self-signed makes its own certificate: give it or --ssl-certificate and --ssl-key, not both")
			}
			if ca := b.cfg.TLS.ClientAuth; (ca == "requested" || ca == "required") && b.cfg.TLS.CAFile == "" {
				return fmt.Errorf("broker: --ssl-client-auth %s needs --ssl-ca, the CAs client certificates are checked against (--tls-self-signed issues no client certificates)", ca)
			}
			s.tls = &tlsState{}
		} else if l.TLS() && s.tls == nil {
			t, err := newTLSState(b.cfg.TLS)
			if err != nil {
				return err
			}
			s.tls = t
		}
	}

	return b.bindListeners()
}

// saslState is where a connection of a SASL listener is in Kafka's
// SaslServerAuthenticator sequence.
type saslState uint8

const (
	saslDone                saslState = iota // authenticated, or no SASL on the listener: every API
	saslHandshakeOrVersions                  // ApiVersions or SaslHandshake
	saslHandshake                            // SaslHandshake (ApiVersions was sent)
	saslAuthenticate                         // SaslAuthenticate only
	saslRawToken                             // after SaslHandshake v0: frames are bare SASL tokens
	saslFailed                               // closing
	saslReauthBadMech                        // re-authentication asked for another mechanism: closing on the next request
)

// connSecurity is one connection's authentication (read loop only).
type connSecurity struct {
	state     saslState
	mech      string
	scram     *scram.ServerConversation
	principal string // Kafka's principal: User:ANONYMOUS, User:<SASL name>, User:<certificate subject>
	host      string // the client's address, for ACL hosts

	oauthErr    string    // OAUTHBEARER: the JSON error challenge sent, awaiting the client's %x01
	oauthReason string    // OAUTHBEARER: why the last message was refused, for the log
	oauthAbort  bool      // OAUTHBEARER: the refusal closes the connection unanswered (errOAuthScheme)
	credExpiry  time.Time // the credential's end (an OAUTHBEARER token's exp); zero: none

	expiry     time.Time    // when the session ends without re-authentication (KIP-368); zero: never
	reauth     *reauthState // the re-authentication under way; nil: the first authentication
	lastReauth time.Time    // when the last re-authentication began
}

// secure runs the TLS handshake of a TLS listener's connection and sets
// the connection's principal. An error closes the connection.
func (c *conn) secure() error {
	c.sec.principal = "User:ANONYMOUS"
	c.sec.host = clientHost(c.nc)
	if c.lis == nil {
		return nil
	}
	if c.lis.spec.SASL() {
		c.sec.state = saslHandshakeOrVersions
	}
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	t := c.b.cfg.RequestReadTimeout
	if t <= 0 {
		t = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(c.ctx, t)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.b.sec.tlsFails.Inc()
		c.b.slowConns.warn("TLS handshake failed; connection closed", "remote", c.nc.RemoteAddr().String(), "listener", c.lis.spec.Name, "err", err)
		return err
	}
	if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 && !c.lis.spec.SASL() {
		c.sec.principal = CertPrincipal(pc[0])
	}
	return nil
}

// gate refuses, as Kafka's SaslServerAuthenticator does by closing the
// connection, any request a SASL listener's connection sends before it is
// authenticated other than those of the SASL sequence.
func (c *conn) gate(key, ver int16) error {
	switch c.sec.state {
	case saslDone:
		return nil
	case saslHandshakeOrVersions:
		if key == 18 {
			if a := apis[18]; ver >= a.min && ver <= a.max {
				// One ApiVersions is answered; an unsupported version
				// (KIP-511 retry) leaves the state as it was, as in Kafka.
				c.sec.state = saslHandshake
			}
			return nil
		}
		if key == 17 {
			return nil
		}
	case saslHandshake:
		if key == 17 {
			return nil
		}
	case saslAuthenticate, saslRawToken:
		if key == 36 {
			return nil
		}
		return fmt.Errorf("unexpected Kafka request of type %s during SASL authentication: connection closed", kmsg.NameForKey(key))
	case saslFailed:
		return fmt.Errorf("%s after a failed SASL authentication: connection closed", kmsg.NameForKey(key))
	case saslReauthBadMech:
		return c.reauthBadMech()
	}
	return fmt.Errorf("unexpected Kafka request of type %s during SASL handshake (listener %s needs SASL authentication first): connection closed", kmsg.NameForKey(key), c.lis.spec.Name)
}

// Principal is the connection's authenticated principal.
func (c *conn) principal() string { return c.sec.principal }

func init() {
	regKey(17, 0, 1, handleSaslHandshake)
	regKey(36, 0, 2, handleSaslAuthenticate)
}

func handleSaslHandshake(r *request) (reply, error) {
	c := r.c
	req := r.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	if c.sec.state != saslHandshakeOrVersions && c.sec.state != saslHandshake {
		// Not a SASL listener, or authenticated already and not starting
		// a re-authentication (reauth.go): KafkaApis answers it.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return now(resp)
	}
	resp.SupportedMechanisms = c.b.sec.mechs
	if !slices.Contains(c.b.sec.mechs, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.sec.state = saslFailed
		c.b.sec.authTotal.WithLabelValues(c.lis.spec.Name, "", "failure").Inc()
		c.b.sec.authFails.warn("SASL handshake with an unsupported mechanism; connection closed", "remote", c.nc.RemoteAddr().String(), "mechanism", req.Mechanism, "enabled", c.b.sec.mechs)
		r.s.closeAfter = true
		return now(resp)
	}
	if c.sec.reauth != nil && req.Mechanism != c.sec.reauth.mech {
		// Kafka answers the handshake, then fails on the token.
		c.sec.reauth.badMech = req.Mechanism
		c.sec.state = saslReauthBadMech
		return now(resp)
	}
	c.sec.mech = req.Mechanism
	c.sec.state = saslAuthenticate
	if req.Version == 0 {
		// Kafka before 1.0 (KIP-152): the tokens that follow are frames
		// of their own, without a request header.
		c.sec.state = saslRawToken
	}
	return now(resp)
}

func handleSaslAuthenticate(r *request) (reply, error) {
	c := r.c
	req := r.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if c.sec.state != saslAuthenticate {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = strp("SaslAuthenticate request received after successful authentication")
		if c.lis == nil || !c.lis.spec.SASL() {
			resp.ErrorMessage = strp("SaslAuthenticate request received on a listener without SASL")
		}
		return now(resp)
	}
	out, user, msg := c.saslStep(req.SASLAuthBytes)
	var lifetime time.Duration
	if msg == "" && user != "" {
		lifetime, msg = c.authenticated(user)
	}
	if msg != "" && c.sec.oauthAbort {
		c.authFailed(user, c.sec.oauthReason)
		return reply{}, fmt.Errorf("SASL/OAUTHBEARER: %s: connection closed", c.sec.oauthReason)
	}
	if msg != "" {
		c.authFailed(user, msg)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = &msg
		r.s.closeAfter = true
		ctx := c.ctx
		return reply{later: func() (kmsg.Response, error) {
			select {
			case <-time.After(failedAuthDelay):
			case <-ctx.Done():
			}
			return resp, nil
		}}, nil
	}
	resp.SASLAuthBytes = out
	resp.ErrorMessage = strp("")                         // Kafka's default: an empty message, not null
	resp.SessionLifetimeMillis = lifetime.Milliseconds() // v1+ (KIP-368)
	return now(resp)
}

// saslStep takes one client token. It returns the server's token, the user
// once authenticated, or the message Kafka sends when authentication fails
// (with user, if known, for the log).
func (c *conn) saslStep(tok []byte) (out []byte, user, fail string) {
	during := "authentication"
	if c.sec.reauth != nil {
		during = "re-authentication"
	}
	generic := "Authentication failed during " + during + " due to invalid credentials with SASL mechanism " + c.sec.mech
	switch c.sec.mech {
	case "PLAIN":
		return c.plain(tok, generic)
	case "OAUTHBEARER":
		return c.oauthStep(tok, generic)
	}
	if c.sec.scram == nil {
		hf, _ := scramHash(c.sec.mech)
		srv, err := hf.NewServer(func(name string) (scram.StoredCredentials, error) {
			sc, ok, err := c.b.sec.creds.lookup(name, c.sec.mech)
			if err == nil && !ok {
				err = fmt.Errorf("no %s credentials for user %q", c.sec.mech, name)
			}
			return sc, err
		})
		if err != nil {
			return nil, "", generic
		}
		c.sec.scram = srv.NewConversation()
	}
	conv := c.sec.scram
	msg, err := scramStep(conv, tok)
	if err != nil {
		return nil, conv.Username(), generic
	}
	if !conv.Done() {
		return []byte(msg), "", ""
	}
	if !conv.Valid() {
		return nil, conv.Username(), generic
	}
	if az := conv.AuthzID(); az != "" && az != conv.Username() {
		return nil, conv.Username(), "Authentication failed: Client requested an authorization id that is different from username"
	}
	return []byte(msg), conv.Username(), ""
}

// plain checks a SASL/PLAIN token, [authzid] NUL authcid NUL passwd
// (RFC 4616), with the messages of Kafka's PlainSaslServer.
func (c *conn) plain(tok []byte, generic string) ([]byte, string, string) {
	parts := splitNUL(tok)
	if len(parts) != 3 {
		return nil, "", generic
	}
	authz, user, pass := parts[0], parts[1], parts[2]
	if user == "" || pass == "" {
		return nil, user, generic
	}
	ok, err := c.b.sec.creds.checkPassword(user, pass)
	if err != nil {
		c.log.Error("SASL credentials cannot be read", "err", err)
		return nil, user, generic
	}
	if !ok {
		return nil, user, "Authentication failed: Invalid username or password"
	}
	if authz != "" && authz != user {
		return nil, user, "Authentication failed: Client requested an authorization id that is different from username"
	}
	return nil, user, ""
}

func splitNUL(b []byte) []string {
	var out []string
	start := 0
	for i, x := range b {
		if x == 0 {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return append(out, string(b[start:]))
}

// minFrame is the smallest frame the connection accepts: a request header,
// or after SaslHandshake v0 a bare SASL token of any size.
func (c *conn) minFrame() int32 {
	if c.sec.state == saslRawToken {
		return 0
	}
	return 8
}

// rawSASLResponse is a bare SASL token sent after SaslHandshake v0: a size
// and the token, no correlation id.
type rawSASLResponse struct {
	kmsg.SASLAuthenticateResponse
	tok []byte
}

func (r *rawSASLResponse) frame(buf []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(r.tok)))
	return append(buf, r.tok...)
}

// rawSASLToken takes a bare token after SaslHandshake v0. A failure closes
// the connection without an answer, as Kafka does: that protocol has no
// way to carry an error.
func (c *conn) rawSASLToken(frame []byte, charge int64) (*slot, error) {
	tok := append([]byte(nil), frame...)
	putFrame(frame)
	out, user, fail := c.saslStep(tok)
	if fail == "" && user != "" {
		_, fail = c.authenticated(user) // no lifetime in this protocol, but the session still ends (reauth.go)
	}
	if fail != "" {
		c.authFailed(user, fail)
		time.Sleep(failedAuthDelay)
		return nil, errors.New(fail)
	}
	s := &slot{key: 36, done: make(chan struct{}), reqBytes: charge}
	s.resp = &rawSASLResponse{tok: out}
	c.complete(s)
	return s, nil
}

// authenticated ends a successful SASL exchange. It returns the session's
// lifetime (reauth.go), or the failure message of a re-authentication
// that would change the principal, which Kafka refuses.
func (c *conn) authenticated(user string) (time.Duration, string) {
	principal := "User:" + user
	if r := c.sec.reauth; r != nil && principal != r.principal {
		return 0, fmt.Sprintf("Cannot change principals during re-authentication from %s: %s",
			strings.Replace(r.principal, ":", ".", 1), strings.Replace(principal, ":", ".", 1))
	}
	c.sec.state = saslDone
	c.sec.scram = nil
	c.sec.oauthErr = ""
	if c.sec.reauth == nil {
		c.sec.principal = principal
		c.log = c.log.With("principal", c.sec.principal)
		c.b.sec.authTotal.WithLabelValues(c.lis.spec.Name, c.sec.mech, "success").Inc()
	} else {
		c.b.sec.reauthTotal.WithLabelValues(c.lis.spec.Name, c.sec.mech, "success").Inc()
		c.sec.reauth = nil
	}
	return c.startSession(time.Now()), ""
}

// authFailed ends a failed SASL exchange: the connection is closed once the
// failure is answered.
func (c *conn) authFailed(user, msg string) {
	c.sec.state = saslFailed
	what, counter := "authentication", c.b.sec.authTotal
	if c.sec.reauth != nil {
		what, counter = "re-authentication", c.b.sec.reauthTotal
	}
	counter.WithLabelValues(c.lis.spec.Name, c.sec.mech, "failure").Inc()
	reason := msg
	if c.sec.oauthReason != "" {
		reason = c.sec.oauthReason + ": " + msg
	}
	c.b.sec.authFails.warn("SASL "+what+" failed; connection closed", "remote", c.nc.RemoteAddr().String(), "listener", c.lis.spec.Name, "mechanism", c.sec.mech, "user", user, "reason", reason)
}

// scramStep runs one step of the SCRAM library's server conversation. A
// client-first message with an empty GS2 flag (",,n=user,r=...") makes
// github.com/xdg-go/scram v1.1.2 index an empty string: such a message is
// refused before it reaches the library, and any other panic in it is
// taken as a failed authentication rather than ending the broker.
func scramStep(conv *scram.ServerConversation, tok []byte) (msg string, err error) {
	if len(tok) == 0 || tok[0] == ',' {
		if conv.Username() == "" && !conv.Done() {
			return "", errors.New("SCRAM client-first message without a GS2 flag")
		}
	}
	defer func() {
		if r := recover(); r != nil {
			msg, err = "", fmt.Errorf("SCRAM message refused by the library: %v", r)
		}
	}()
	return conv.Step(string(tok))
}
