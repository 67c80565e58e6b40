package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// unsecuredJWT is an alg-none JWT with the claims given, as Kafka's
// OAuthBearerUnsecuredLoginCallbackHandler writes them.
func unsecuredJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "none"}) + "." + enc(claims) + "."
}

// claimsFor are the claims of a token of sub valid for life.
func claimsFor(sub string, life time.Duration) map[string]any {
	now := time.Now()
	return map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(life).Unix()}
}

func oauthMech(tok string) sasl.Mechanism { return oauth.Auth{Token: tok}.AsMechanism() }

// startOAuth starts a broker with the four listeners, OAUTHBEARER (with
// the validator of oc) beside PLAIN, user alice for PLAIN, and opts.
func startOAuth(t *testing.T, p *testPKI, oc OAuthBearerConfig, log io.Writer, opts ...Option) *Broker {
	t.Helper()
	dir := t.TempDir()
	if err := SetUserPassword(dir, "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = io.Discard
	}
	return startWith(t, append([]Option{WithDataDir(dir), WithGroupInitialRebalanceDelay(0),
		WithLogger(slog.New(slog.NewTextHandler(log, nil))),
		func(c *Config) {
			c.Listeners = allListeners
			c.TLS = TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, CAFile: p.caFile, ClientAuth: "none"}
			c.SASLMechanisms = []string{"PLAIN", "OAUTHBEARER"}
			c.OAuthBearer = oc
		}}, opts...)...)
}

func unsecuredConfig() OAuthBearerConfig {
	c := DefaultOAuthBearerConfig()
	c.Unsecured = true
	return c
}

// TestOAuthBearerUnsecuredRealClients: franz-go authenticates with an
// unsecured JWT over SASL_PLAINTEXT and SASL_SSL, produces and consumes;
// the principal is the token's sub (alice is a super user, bob is not
// and is refused the topic), and the successes are counted.
func TestOAuthBearerUnsecuredRealClients(t *testing.T) {
	p := newTestPKI(t)
	b := startOAuth(t, p, unsecuredConfig(), nil, func(c *Config) {
		c.Authorizer = AuthorizerStandard
		c.SuperUsers = []string{"User:alice"}
	})
	alice := kgo.SASL(oauthMech(unsecuredJWT(claimsFor("alice", time.Hour))))
	roundTrip(t, b.ListenerAddr(ProtocolSASLPlaintext), "oauth-sp", alice)
	roundTrip(t, b.ListenerAddr(ProtocolSASLSSL), "oauth-ss", alice, kgo.DialTLSConfig(p.clientTLS()))

	bob := secClient(t, b.ListenerAddr(ProtocolSASLPlaintext), kgo.SASL(oauthMech(unsecuredJWT(claimsFor("bob", time.Hour)))))
	ctx, cancel := context.WithTimeout(secCtx(t), 3*time.Second)
	defer cancel()
	err := bob.ProduceSync(ctx, &kgo.Record{Topic: "oauth-sp", Value: []byte("bob")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob's produce: %v, want TOPIC_AUTHORIZATION_FAILED (the principal must be User:bob)", err)
	}
	if end := b.partition("oauth-sp", 0).LogEndOffset(); end != 1 {
		t.Fatalf("oauth-sp end offset %d, want 1", end)
	}
	for _, l := range []string{ProtocolSASLPlaintext, ProtocolSASLSSL} {
		if n := counterValue(t, b.sec.authTotal.WithLabelValues(l, "OAUTHBEARER", "success")); n < 1 {
			t.Fatalf("%s: OAUTHBEARER successes counted %v", l, n)
		}
	}
}

// TestOAuthBearerPrincipalClaim: with another principal claim and a
// required scope, the principal comes from that claim and a token
// without the scope gets insufficient_scope.
func TestOAuthBearerPrincipalClaim(t *testing.T) {
	p := newTestPKI(t)
	oc := unsecuredConfig()
	oc.SubClaimName = "email"
	oc.RequiredScope = []string{"kafka"}
	b := startOAuth(t, p, oc, nil)
	addr := b.ListenerAddr(ProtocolSASLPlaintext)
	c := claimsFor("ignored", time.Hour)
	c["email"] = "carol@example.com"
	c["scope"] = []string{"kafka", "other"}
	r := dialSec(t, addr)
	r.do(handshake(1, "OAUTHBEARER"))
	resp, err := r.do(authenticate(2, oauthFirst(unsecuredJWT(c))))
	if err != nil || resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != 0 {
		t.Fatalf("authenticate: %+v %v", resp, err)
	}
	if got := b.sec.authTotal.WithLabelValues(ProtocolSASLPlaintext, "OAUTHBEARER", "success"); counterValue(t, got) != 1 {
		t.Fatal("success not counted")
	}
	delete(c, "scope")
	ar := oauthAttempt(t, addr, unsecuredJWT(c))
	if want := `{"status":"insufficient_scope", "scope":"[kafka]"}`; ar.challenge != want || ar.message != want {
		t.Fatalf("without the scope: %+v, want challenge and message %s", ar, want)
	}
}

func oauthFirst(tok string) []byte { return []byte("n,,\x01auth=Bearer " + tok + "\x01\x01") }

// oauthResult is what a raw OAUTHBEARER exchange of a refused token got.
type oauthResult struct {
	challenge string // the server's first answer (the JSON error)
	code      int16  // the answer to the client's %x01
	message   string
	closed    bool
}

// oauthAttempt runs a raw exchange as Kafka's OAuthBearerSaslClient does:
// the first message, and %x01 after an error challenge.
func oauthAttempt(t *testing.T, addr, tok string) oauthResult {
	t.Helper()
	r := dialSec(t, addr)
	if _, err := r.do(handshake(1, "OAUTHBEARER")); err != nil {
		t.Fatal(err)
	}
	resp, err := r.do(authenticate(2, oauthFirst(tok)))
	if err != nil {
		t.Fatal(err)
	}
	a := resp.(*kmsg.SASLAuthenticateResponse)
	if a.ErrorCode != 0 {
		return oauthResult{code: a.ErrorCode, message: deref(a.ErrorMessage), closed: r.closed()}
	}
	if len(a.SASLAuthBytes) == 0 {
		t.Fatalf("token %s accepted", tok)
	}
	out := oauthResult{challenge: string(a.SASLAuthBytes)}
	resp, err = r.do(authenticate(2, []byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	a = resp.(*kmsg.SASLAuthenticateResponse)
	out.code, out.message, out.closed = a.ErrorCode, deref(a.ErrorMessage), r.closed()
	return out
}

// TestOAuthBearerUnsecuredRefused: tokens Kafka's unsecured validator
// refuses get the JSON error challenge, then SASL_AUTHENTICATION_FAILED
// with it, and the connection is closed; franz-go gets its usual error
// and writes nothing; each failure is counted.
func TestOAuthBearerUnsecuredRefused(t *testing.T) {
	p := newTestPKI(t)
	b := startOAuth(t, p, unsecuredConfig(), nil)
	addr := b.ListenerAddr(ProtocolSASLPlaintext)
	now := time.Now()
	signed := func(c map[string]any) string {
		tok := unsecuredJWT(c)
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256"}`))
		return h + tok[strings.Index(tok, "."):] + "c2ln"
	}
	cases := map[string]string{
		"expired":        unsecuredJWT(map[string]any{"sub": "alice", "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}),
		"no exp":         unsecuredJWT(map[string]any{"sub": "alice", "iat": now.Unix()}),
		"no sub":         unsecuredJWT(map[string]any{"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}),
		"iat in future":  unsecuredJWT(map[string]any{"sub": "alice", "iat": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}),
		"exp before iat": unsecuredJWT(map[string]any{"sub": "alice", "iat": now.Add(20 * time.Second).Unix(), "exp": now.Add(10 * time.Second).Unix()}),
		"signed":         signed(claimsFor("alice", time.Hour)),
		"two parts":      "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0",
		"not json":       "bm9wZQ.bm9wZQ.",
	}
	for name, tok := range cases {
		ar := oauthAttempt(t, addr, tok)
		want := `{"status":"invalid_token"}`
		if ar.challenge != want || ar.code != kerr.SaslAuthenticationFailed.Code || ar.message != want || !ar.closed {
			t.Fatalf("%s: %+v, want challenge %s, then SASL_AUTHENTICATION_FAILED with it and the connection closed", name, ar, want)
		}
	}
	if n := counterValue(t, b.sec.authTotal.WithLabelValues(ProtocolSASLPlaintext, "OAUTHBEARER", "failure")); n != float64(len(cases)) {
		t.Fatalf("OAUTHBEARER failures counted %v, want %d", n, len(cases))
	}

	// A malformed first message gets Kafka's generic message at once; an
	// authorization id other than the token's principal is refused.
	for first, want := range map[string]string{
		"n,,auth=Bearer abc\x01\x01": "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER",
		"\x01":                       "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER",
		"n,a=mallory,\x01auth=Bearer " + unsecuredJWT(claimsFor("alice", time.Hour)) + "\x01\x01": "Authentication failed: Client requested an authorization id (mallory) that is different from the token's principal name (alice)",
	} {
		r := dialSec(t, addr)
		r.do(handshake(1, "OAUTHBEARER"))
		resp, err := r.do(authenticate(1, []byte(first)))
		if err != nil {
			t.Fatal(err)
		}
		a := resp.(*kmsg.SASLAuthenticateResponse)
		if a.ErrorCode != kerr.SaslAuthenticationFailed.Code || deref(a.ErrorMessage) != want || !r.closed() {
			t.Fatalf("%q: %d %q, want SASL_AUTHENTICATION_FAILED %q and the connection closed", first, a.ErrorCode, deref(a.ErrorMessage), want)
		}
	}

	// Another scheme than Bearer closes the connection unanswered, as in
	// Kafka (whose parser fails on it with an unchecked exception).
	r := dialSec(t, addr)
	r.do(handshake(1, "OAUTHBEARER"))
	if _, err := r.do(authenticate(1, []byte("n,,\x01auth=Basic abc\x01\x01"))); err == nil {
		t.Fatal("a Basic auth value was answered")
	}

	// franz-go: the usual error, and nothing written.
	expired := cases["expired"]
	cl := secClient(t, addr, kgo.SASL(oauthMech(expired)))
	_, err := kmsg.NewPtrMetadataRequest().RequestWith(secCtx(t), cl)
	if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), "invalid_token") {
		t.Fatalf("franz-go with an expired token: %v, want SASL_AUTHENTICATION_FAILED with invalid_token", err)
	}
	ctx, cancel := context.WithTimeout(secCtx(t), time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "guarded", Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatal("produce with an expired token succeeded")
	}
	if b.partition("guarded", 0) != nil {
		t.Fatal("topic guarded created by a client that failed to authenticate")
	}
}

// TestOAuthBearerConfigErrors: the broker does not start with OAUTHBEARER
// and no validator, with both, or with a validator and no OAUTHBEARER.
func TestOAuthBearerConfigErrors(t *testing.T) {
	jwks := DefaultOAuthBearerConfig()
	jwks.JWKSEndpointURL = filepath.Join(t.TempDir(), "missing.json")
	both := unsecuredConfig()
	both.JWKSEndpointURL = "https://idp.example.com/keys"
	remoteHTTP := DefaultOAuthBearerConfig()
	remoteHTTP.JWKSEndpointURL = "http://idp.example.com/keys"
	for name, tc := range map[string]struct {
		mechs []string
		oc    OAuthBearerConfig
		want  string
	}{
		"no validator":       {[]string{"OAUTHBEARER"}, DefaultOAuthBearerConfig(), "needs --sasl-oauthbearer-jwks-endpoint-url"},
		"both":               {[]string{"OAUTHBEARER"}, both, "cannot be given together"},
		"mechanism missing":  {[]string{"PLAIN"}, unsecuredConfig(), "OAUTHBEARER is not in --sasl-enabled-mechanisms"},
		"missing JWKS file":  {[]string{"OAUTHBEARER"}, jwks, "missing.json"},
		"http not loopback":  {[]string{"OAUTHBEARER"}, remoteHTTP, "only allowed to a loopback address"},
		"negative reauth ms": {[]string{"PLAIN"}, DefaultOAuthBearerConfig(), "connections-max-reauth-ms"},
	} {
		_, err := New(WithDataDir(t.TempDir()), WithListen("127.0.0.1:0"), func(c *Config) {
			c.SASLMechanisms, c.OAuthBearer = tc.mechs, tc.oc
			if name == "negative reauth ms" {
				c.ConnectionsMaxReauth = -time.Second
			}
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

// idp is a test identity provider: keys, a JWKS file and a loopback JWKS
// endpoint serving the same set, and tokens it signs.
type idp struct {
	mu   sync.Mutex
	keys []jose.JSONWebKey // private
	file string
	srv  *httptest.Server
	hits int
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := &idp{file: filepath.Join(t.TempDir(), "jwks.json")}
	d.keys = []jose.JSONWebKey{
		{Key: rk, KeyID: "rsa-1", Algorithm: string(jose.RS256), Use: "sig"},
		{Key: ek, KeyID: "ec-1", Algorithm: string(jose.ES256), Use: "sig"},
	}
	d.writeFile(t)
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		d.mu.Lock()
		d.hits++
		b, _ := json.Marshal(d.publicSet())
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *idp) publicSet() jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range d.keys {
		set.Keys = append(set.Keys, k.Public())
	}
	return set
}

func (d *idp) writeFile(t *testing.T) {
	b, _ := json.Marshal(d.publicSet())
	if err := os.WriteFile(d.file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// addKey adds an ES256 key to the set the endpoint serves (a rotation).
func (d *idp) addKey(t *testing.T, kid string) {
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.keys = append(d.keys, jose.JSONWebKey{Key: ek, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"})
	d.mu.Unlock()
}

// sign signs claims with the key of kid (the key's algorithm), writing
// the header's kid as given.
func (d *idp) sign(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	d.mu.Lock()
	var k jose.JSONWebKey
	for _, x := range d.keys {
		if x.KeyID == kid {
			k = x
		}
	}
	d.mu.Unlock()
	return signWith(t, k, kid, claims)
}

func signWith(t *testing.T, k jose.JSONWebKey, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func jwksConfig(url string) OAuthBearerConfig {
	c := DefaultOAuthBearerConfig()
	c.JWKSEndpointURL = url
	c.ExpectedAudience = []string{"rewind"}
	c.ExpectedIssuer = "https://idp.test"
	return c
}

func idClaims(sub string, life time.Duration) map[string]any {
	c := claimsFor(sub, life)
	c["aud"] = "rewind"
	c["iss"] = "https://idp.test"
	return c
}

// TestOAuthBearerJWKSRealClients: franz-go authenticates with RS256 and
// ES256 tokens checked against a JWKS file (SASL_SSL) and a loopback
// JWKS endpoint (SASL_PLAINTEXT), and produces and consumes.
func TestOAuthBearerJWKSRealClients(t *testing.T) {
	p := newTestPKI(t)
	d := newIDP(t)
	for _, src := range []string{d.file, "file://" + d.file, d.srv.URL + "/jwks"} {
		b := startOAuth(t, p, jwksConfig(src), nil)
		for _, kid := range []string{"rsa-1", "ec-1"} {
			m := kgo.SASL(oauthMech(d.sign(t, kid, idClaims("svc-"+kid, time.Hour))))
			roundTrip(t, b.ListenerAddr(ProtocolSASLPlaintext), "jwks-sp-"+kid, m)
			roundTrip(t, b.ListenerAddr(ProtocolSASLSSL), "jwks-ss-"+kid, m, kgo.DialTLSConfig(p.clientTLS()))
		}
	}
}

// TestOAuthBearerJWKSRefused: a bad signature, a wrong audience, an
// expired token, a wrong issuer, a token not yet valid, one without iat,
// an unknown key id and an unsigned token are each refused with
// invalid_token, close the connection and let nothing through; franz-go
// gets its usual error.
func TestOAuthBearerJWKSRefused(t *testing.T) {
	p := newTestPKI(t)
	d := newIDP(t)
	b := startOAuth(t, p, jwksConfig(d.srv.URL), nil)
	addr := b.ListenerAddr(ProtocolSASLSSL)
	tlsOpt := kgo.DialTLSConfig(p.clientTLS())

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged := signWith(t, jose.JSONWebKey{Key: other, Algorithm: string(jose.RS256)}, "rsa-1", idClaims("alice", time.Hour))
	mod := func(f func(map[string]any)) map[string]any {
		c := idClaims("alice", time.Hour)
		f(c)
		return c
	}
	good := d.sign(t, "rsa-1", idClaims("alice", time.Hour))
	parts := strings.Split(good, ".")
	sig := []byte(parts[2])
	if sig[5] == 'A' { // another base64url character: the message stays well-formed
		sig[5] = 'B'
	} else {
		sig[5] = 'A'
	}
	cases := map[string]string{
		"bad signature":  forged,
		"tampered":       parts[0] + "." + parts[1] + "." + string(sig),
		"wrong audience": d.sign(t, "ec-1", mod(func(c map[string]any) { c["aud"] = "someone-else" })),
		"no audience":    d.sign(t, "ec-1", mod(func(c map[string]any) { delete(c, "aud") })),
		"expired":        d.sign(t, "rsa-1", mod(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"wrong issuer":   d.sign(t, "rsa-1", mod(func(c map[string]any) { c["iss"] = "https://evil.test" })),
		"not yet valid":  d.sign(t, "rsa-1", mod(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })),
		"no iat":         d.sign(t, "rsa-1", mod(func(c map[string]any) { delete(c, "iat") })),
		"no exp":         d.sign(t, "rsa-1", mod(func(c map[string]any) { delete(c, "exp") })),
		"unknown kid":    signWith(t, jose.JSONWebKey{Key: other, Algorithm: string(jose.RS256)}, "rsa-9", idClaims("alice", time.Hour)),
		"unsigned":       unsecuredJWT(idClaims("alice", time.Hour)),
	}
	plainAddr := b.ListenerAddr(ProtocolSASLPlaintext)
	for name, tok := range cases {
		ar := oauthAttempt(t, plainAddr, tok)
		want := `{"status":"invalid_token"}`
		if ar.challenge != want || ar.code != kerr.SaslAuthenticationFailed.Code || ar.message != want || !ar.closed {
			t.Fatalf("%s: %+v, want the invalid_token challenge, SASL_AUTHENTICATION_FAILED and the connection closed", name, ar)
		}
	}
	for _, name := range []string{"bad signature", "wrong audience", "expired"} {
		cl := secClient(t, addr, tlsOpt, kgo.SASL(oauthMech(cases[name])))
		_, err := kmsg.NewPtrMetadataRequest().RequestWith(secCtx(t), cl)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("franz-go, %s: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
		ctx, cancel := context.WithTimeout(secCtx(t), time.Second)
		err = cl.ProduceSync(ctx, &kgo.Record{Topic: "guarded", Value: []byte(name)}).FirstErr()
		cancel()
		if err == nil {
			t.Fatalf("franz-go, %s: produce succeeded", name)
		}
	}
	if b.partition("guarded", 0) != nil {
		t.Fatal("a refused client created topic guarded")
	}
	// The good token still works after all that.
	roundTrip(t, addr, "after-refusals", tlsOpt, kgo.SASL(oauthMech(good)))
	// A token naming no key id is checked with the one key fit for its
	// algorithm (the set has one RS256 key and one ES256 key).
	d.mu.Lock()
	rsaKey := d.keys[0]
	d.mu.Unlock()
	roundTrip(t, addr, "no-kid", tlsOpt, kgo.SASL(oauthMech(signWith(t, rsaKey, "", idClaims("alice", time.Hour)))))
}

// TestOAuthBearerJWKSRotation: a token signed by a key the endpoint adds
// after the broker started is accepted: the unknown key id makes the
// broker fetch the set again, at most once per jwksMissingKeyRetry.
func TestOAuthBearerJWKSRotation(t *testing.T) {
	p := newTestPKI(t)
	d := newIDP(t)
	b := startOAuth(t, p, jwksConfig(d.srv.URL), nil)
	addr := b.ListenerAddr(ProtocolSASLPlaintext)
	d.mu.Lock()
	before := d.hits
	d.mu.Unlock()
	d.addKey(t, "ec-2")
	roundTrip(t, addr, "rotated", kgo.SASL(oauthMech(d.sign(t, "ec-2", idClaims("alice", time.Hour)))))
	// Made-up key ids do not make it fetch again at once.
	for range 5 {
		oauthAttempt(t, addr, signWith(t, d.keys[0], "made-up", idClaims("alice", time.Hour)))
	}
	d.mu.Lock()
	after := d.hits
	d.mu.Unlock()
	if after-before != 1 {
		t.Fatalf("JWKS fetched %d times for one rotation and five unknown key ids, want 1", after-before)
	}
}

// TestOAuthBearerJWKSFileRefresh: the JWKS file is read again every
// JWKSRefresh: a key replaced under the same key id takes over (tokens of
// the old key are refused from then on), and a refresh that fails (the
// file broken) keeps the keys read before.
func TestOAuthBearerJWKSFileRefresh(t *testing.T) {
	p := newTestPKI(t)
	d := newIDP(t)
	oc := jwksConfig(d.file)
	oc.JWKSRefresh = 100 * time.Millisecond
	b := startOAuth(t, p, oc, nil)
	addr := b.ListenerAddr(ProtocolSASLPlaintext)
	accepted := func(tok string) bool {
		r := dialSec(t, addr)
		r.do(handshake(1, "OAUTHBEARER"))
		resp, err := r.do(authenticate(2, oauthFirst(tok)))
		if err != nil {
			t.Fatal(err)
		}
		a := resp.(*kmsg.SASLAuthenticateResponse)
		return a.ErrorCode == 0 && len(a.SASLAuthBytes) == 0
	}
	old := d.sign(t, "ec-1", idClaims("alice", time.Hour))
	if !accepted(old) {
		t.Fatal("token of the first key refused")
	}
	d.mu.Lock()
	d.keys = d.keys[:1]
	d.mu.Unlock()
	d.addKey(t, "ec-1") // a new key under the same id
	d.writeFile(t)
	fresh := d.sign(t, "ec-1", idClaims("alice", time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	for !accepted(fresh) {
		if time.Now().After(deadline) {
			t.Fatal("the replaced key was not read within 10 s of JWKSRefresh 100ms")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if accepted(old) {
		t.Fatal("a token of the replaced key is still accepted")
	}
	if err := os.WriteFile(d.file, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a few failed refreshes
	if !accepted(fresh) {
		t.Fatal("a failed refresh dropped the keys read before")
	}
}

// BenchmarkOAuthBearerFirstMessage parses a client first message of
// 500 KiB (the most a frame may have before authentication), by hand as
// the broker does and with Kafka's regular expression for comparison.
func BenchmarkOAuthBearerFirstMessage(b *testing.B) {
	msg := oauthFirst(strings.Repeat("A.", 250<<10))
	b.Run("broker", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, err := parseOAuthMessage(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	re := regexp.MustCompile(`^n,(?:a=((?:[\x01-\x2B\x2D-\x3C\x3E-\x7F]|=2C|=3D)+))?,\x01((?:[A-Za-z]+=[\x21-\x7E \t\r\n]+\x01)*)\x01$`)
	b.Run("kafka-pattern", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if re.FindSubmatch(msg) == nil {
				b.Fatal("no match")
			}
		}
	})
}
