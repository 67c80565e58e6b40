package broker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// OAuthBearerConfig configures the SASL/OAUTHBEARER mechanism (RFC 7628,
// KIP-255, KIP-768): which tokens the broker accepts and whose principal
// they carry. Exactly one validator is chosen: Unsecured (Kafka's
// OAuthBearerUnsecuredValidatorCallbackHandler, for development) or
// JWKSEndpointURL (Kafka's OAuthBearerValidatorCallbackHandler).
type OAuthBearerConfig struct {
	// Unsecured accepts unsigned JWTs (alg "none"): anyone can claim any
	// principal. For development and tests only.
	Unsecured bool
	// JWKSEndpointURL (sasl.oauthbearer.jwks.endpoint.url) is where the
	// keys that sign tokens are: a file path, a file: URL, an https URL,
	// or an http URL on a loopback address. Refreshed every JWKSRefresh
	// (sasl.oauthbearer.jwks.endpoint.refresh.ms), and when a token names
	// a key id the set does not have (at most every jwksMissingKeyRetry).
	JWKSEndpointURL string
	JWKSRefresh     time.Duration
	// ExpectedAudience (sasl.oauthbearer.expected.audience): a token's
	// aud must name one of them. Empty: a token must have no aud, as
	// Kafka's jose4j consumer requires.
	ExpectedAudience []string
	// ExpectedIssuer (sasl.oauthbearer.expected.issuer): the iss a token
	// must have; empty: any.
	ExpectedIssuer string
	// SubClaimName (sasl.oauthbearer.sub.claim.name, the unsecured
	// validator's unsecuredValidatorPrincipalClaimName) is the claim
	// whose string is the principal's name; default "sub".
	SubClaimName string
	// ScopeClaimName (sasl.oauthbearer.scope.claim.name); default "scope".
	ScopeClaimName string
	// RequiredScope (unsecuredValidatorRequiredScope): scopes a token must
	// all have, else insufficient_scope. Applied by both validators.
	RequiredScope []string
	// ClockSkew (sasl.oauthbearer.clock.skew.seconds) is the leeway of
	// the exp, nbf and iat checks.
	ClockSkew time.Duration
}

// DefaultOAuthBearerConfig has Kafka's defaults: JWKS refreshed hourly, 30 s
// of clock skew, principal from sub, scopes from scope.
func DefaultOAuthBearerConfig() OAuthBearerConfig {
	return OAuthBearerConfig{JWKSRefresh: time.Hour, SubClaimName: "sub", ScopeClaimName: "scope", ClockSkew: 30 * time.Second}
}

// Enabled reports whether a validator is configured.
func (c OAuthBearerConfig) Enabled() bool { return c.Unsecured || c.JWKSEndpointURL != "" }

// oauthToken is a validated token.
type oauthToken struct {
	principal string
	expiry    time.Time // exp: the credential's lifetime (KIP-368)
}

// tokenError is a token the validator refused: the RFC 7628 error status
// ("invalid_token", "insufficient_scope") and scope, with the reason for
// the broker's log (never sent to the client).
type tokenError struct {
	status, scope, reason string
}

func (e *tokenError) Error() string { return e.reason }

func invalidToken(format string, args ...any) *tokenError {
	return &tokenError{status: "invalid_token", reason: fmt.Sprintf(format, args...)}
}

// tokenValidator checks a token's compact serialization at a given time.
type tokenValidator interface {
	validate(raw string, now time.Time) (oauthToken, *tokenError)
}

// The client's first message (RFC 7628 section 3.1), with the grammar of
// Kafka's OAuthBearerClientInitialResponse:
//
//	n,[a=<authzid>],%x01<key>=<value>%x01...%x01
//
// where the key-value pairs must include auth=Bearer <token> and may add
// extensions (KIP-342), accepted and ignored here as Kafka's validators do.
// Kafka matches it with regular expressions; Rewind checks the same grammar
// in one pass over the bytes (matchFirstMessage, matchAuthValue): a
// message may be 512 KiB, on which Go's regexp with capture groups takes
// 14 ms (37 MB/s, BenchmarkOAuthBearerFirstMessage) against 4 ms, and 12
// clients sending such messages kept both cores busy (Metadata answered
// in 490 ms instead of 34 ms, TestOAuthBearerHostileTokens). Fuzzing
// (FuzzOAuthBearerMessage) checks that both accept the same messages with
// the same parts.

// matchFirstMessage checks
// ^n,(?:a=(SASLNAME))?,\x01((?:[A-Za-z]+=[\x21-\x7E \t\r\n]+\x01)*)\x01$
// with SASLNAME (?:[\x01-\x7F] but , and =|=2C|=3D)+, returning the
// authorization id and the key-value pairs.
func matchFirstMessage(msg []byte) (authzid, kvpairs []byte, ok bool) {
	rest, found := bytes.CutPrefix(msg, []byte("n,"))
	if !found {
		return nil, nil, false
	}
	if name, found := bytes.CutPrefix(rest, []byte("a=")); found {
		end := bytes.IndexByte(name, ',')
		if end <= 0 || !saslName(name[:end]) {
			return nil, nil, false
		}
		authzid, rest = name[:end], name[end:]
	}
	rest, found = bytes.CutPrefix(rest, []byte(",\x01"))
	if !found || len(rest) == 0 || rest[len(rest)-1] != 0x01 {
		return nil, nil, false
	}
	kvpairs = rest[:len(rest)-1]
	for p := kvpairs; len(p) > 0; {
		i := bytes.IndexByte(p, 0x01)
		if i < 0 {
			return nil, nil, false
		}
		pair := p[:i]
		p = p[i+1:]
		eq := bytes.IndexByte(pair, '=')
		if eq <= 0 || !allBytes(pair[:eq], isAlpha) || eq == len(pair)-1 || !allBytes(pair[eq+1:], isValueByte) {
			return nil, nil, false
		}
	}
	return authzid, kvpairs, true
}

// saslName is RFC 5801's saslname as Kafka's pattern has it: ASCII
// without NUL, with , and = written =2C and =3D.
func saslName(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '=':
			if i+2 >= len(b) || !(b[i+1] == '2' && b[i+2] == 'C' || b[i+1] == '3' && b[i+2] == 'D') {
				return false
			}
			i += 2
		case c == 0 || c == ',' || c > 0x7F:
			return false
		}
	}
	return len(b) > 0
}

// matchAuthValue checks ^(\w+) +([-_~+/.a-zA-Z0-9]+=*)$, returning the
// scheme and the token.
func matchAuthValue(v string) (scheme, token string, ok bool) {
	i := 0
	for i < len(v) && (isAlpha(v[i]) || isDigit(v[i]) || v[i] == '_') {
		i++
	}
	j := i
	for j < len(v) && v[j] == ' ' {
		j++
	}
	k := j
	for k < len(v) && (isAlpha(v[k]) || isDigit(v[k]) || strings.IndexByte("-_~+/.", v[k]) >= 0) {
		k++
	}
	e := k
	for e < len(v) && v[e] == '=' {
		e++
	}
	if i == 0 || j == i || k == j || e != len(v) {
		return "", "", false
	}
	return v[:i], v[j:], true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isValueByte(c byte) bool {
	return c >= 0x21 && c <= 0x7E || c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

func allBytes(b []byte, f func(byte) bool) bool {
	for _, c := range b {
		if !f(c) {
			return false
		}
	}
	return true
}

// errOAuthScheme is an auth value of another scheme than Bearer. Kafka's
// OAuthBearerClientInitialResponse fails on it with an exception that is
// no SaslException (it asks its matcher for a group the pattern does not
// have), so its SaslServerAuthenticator closes the connection without an
// answer: Rewind does the same.
var errOAuthScheme = errors.New("invalid scheme in OAUTHBEARER client first message")

// oauthMessage is a parsed client first message.
type oauthMessage struct {
	authzid    string
	token      string
	extensions map[string]string
}

// parseOAuthMessage reads the client's first message. Its errors are for
// the broker's log: the client gets Kafka's generic failure message.
func parseOAuthMessage(msg []byte) (oauthMessage, error) {
	authzid, kvpairs, ok := matchFirstMessage(msg)
	if !ok {
		return oauthMessage{}, errors.New("invalid OAUTHBEARER client first message")
	}
	out := oauthMessage{authzid: string(authzid), extensions: map[string]string{}}
	var auth string
	var haveAuth bool
	for kv := range strings.SplitSeq(strings.TrimSuffix(string(kvpairs), "\x01"), "\x01") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == "auth" {
			auth, haveAuth = v, true
			continue
		}
		out.extensions[k] = v // its name and value are checked by matchFirstMessage
	}
	if !haveAuth {
		return oauthMessage{}, errors.New("invalid OAUTHBEARER client first message: 'auth' not specified")
	}
	scheme, token, ok := matchAuthValue(auth)
	if !ok {
		return oauthMessage{}, errors.New("invalid OAUTHBEARER client first message: invalid 'auth' format")
	}
	if !strings.EqualFold(scheme, "bearer") {
		return oauthMessage{}, fmt.Errorf("%w: %s", errOAuthScheme, scheme)
	}
	out.token = token
	return out, nil
}

// oauthStep takes one OAUTHBEARER client message, as Kafka's
// OAuthBearerSaslServer does: a refused token is answered with the JSON
// error of RFC 7628 section 3.2.2 as a challenge (no error code); the
// client's %x01 that acknowledges it fails the authentication with that
// JSON as the message.
func (c *conn) oauthStep(tok []byte, generic string) (out []byte, user, fail string) {
	if len(tok) == 1 && tok[0] == 0x01 && c.sec.oauthErr != "" {
		return nil, "", c.sec.oauthErr
	}
	c.sec.oauthErr, c.sec.oauthReason = "", ""
	msg, err := parseOAuthMessage(tok)
	if err != nil {
		c.sec.oauthReason = err.Error()
		c.sec.oauthAbort = errors.Is(err, errOAuthScheme)
		return nil, "", generic
	}
	v := c.b.sec.oauth
	if v == nil {
		return nil, "", generic
	}
	t, terr := v.validate(msg.token, time.Now())
	if terr != nil {
		c.sec.oauthReason = terr.reason
		c.sec.oauthErr = terr.json()
		c.b.sec.authFails.warn("SASL/OAUTHBEARER token refused", "remote", c.nc.RemoteAddr().String(), "listener", c.lis.spec.Name, "reason", terr.reason)
		return []byte(c.sec.oauthErr), "", ""
	}
	if msg.authzid != "" && msg.authzid != t.principal {
		return nil, t.principal, fmt.Sprintf("Authentication failed: Client requested an authorization id (%s) that is different from the token's principal name (%s)", msg.authzid, t.principal)
	}
	c.sec.credExpiry = t.expiry
	return nil, t.principal, ""
}

// json is the error as OAuthBearerSaslServer writes it.
func (e *tokenError) json() string {
	s := fmt.Sprintf(`{"status":"%s"`, e.status)
	if e.scope != "" {
		s += fmt.Sprintf(`, "scope":"%s"`, e.scope)
	}
	return s + "}"
}

// jwtClaims are a token's claims, decoded with numbers kept as written.
type jwtClaims map[string]any

func (c jwtClaims) number(name string) (float64, bool, *tokenError) {
	v, ok := c[name]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, false, invalidToken("the %s claim is not a number", name)
	}
	f, err := n.Float64()
	if err != nil {
		return 0, false, invalidToken("the %s claim is not a number", name)
	}
	return f, true, nil
}

// scope is the token's scope as Kafka reads it: a string claim is one
// scope (not split), a list claim its non-blank strings.
func (c jwtClaims) scope(name string) []string {
	switch v := c[name].(type) {
	case string:
		if s := strings.TrimSpace(v); s != "" {
			return []string{s}
		}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok && strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimSpace(s))
			}
		}
		return out
	}
	return nil
}

// checkScope refuses a token lacking one of the required scopes, with
// insufficient_scope and the required scope as Kafka lists it.
func checkScope(have, required []string) *tokenError {
	for _, r := range required {
		if !slices.Contains(have, r) {
			return &tokenError{status: "insufficient_scope", scope: "[" + strings.Join(required, ", ") + "]",
				reason: fmt.Sprintf("the provided scope %v was missing a required scope (%s); all required scope elements: %v", have, r, required)}
		}
	}
	return nil
}

func msTime(sec float64) time.Time { return time.UnixMilli(int64(sec * 1000)) }

// unsecuredValidator accepts unsigned JWTs as Kafka's
// OAuthBearerUnsecuredValidatorCallbackHandler does: alg none, no
// signature, exp required and not passed, iat (if any) not in the future,
// exp after iat, the principal claim a non-blank string, the required
// scope present.
type unsecuredValidator struct {
	cfg OAuthBearerConfig
}

func (v *unsecuredValidator) validate(raw string, now time.Time) (oauthToken, *tokenError) {
	if strings.Contains(raw, "..") {
		return oauthToken{}, invalidToken("malformed compact serialization contains '..'")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return oauthToken{}, invalidToken("unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values")
	}
	header, terr := decodeJWTPart(parts[0])
	if terr != nil {
		return oauthToken{}, terr
	}
	claims, terr := decodeJWTPart(parts[1])
	if terr != nil {
		return oauthToken{}, terr
	}
	if alg, _ := header["alg"].(string); alg != "none" {
		return oauthToken{}, invalidToken("unsecured JWS must have 'none' for an algorithm")
	}
	if parts[2] != "" {
		return oauthToken{}, invalidToken("unsecured JWS must not contain a digital signature")
	}
	exp, ok, terr := claims.number("exp")
	if terr != nil {
		return oauthToken{}, terr
	}
	if !ok {
		return oauthToken{}, invalidToken("no expiration time in JWT")
	}
	principal, _ := claims[v.cfg.SubClaimName].(string)
	if strings.TrimSpace(principal) == "" {
		return oauthToken{}, invalidToken("no principal name in JWT claim: %s", v.cfg.SubClaimName)
	}
	iat, hasIat, terr := claims.number("iat")
	if terr != nil {
		return oauthToken{}, terr
	}
	skew := v.cfg.ClockSkew
	if hasIat && msTime(iat).After(now.Add(skew)) {
		return oauthToken{}, invalidToken("the Issued At value (%v seconds) was after the indicated time plus allowable clock skew (%v)", iat, skew)
	}
	if !now.Add(-skew).Before(msTime(exp)) {
		return oauthToken{}, invalidToken("the indicated time minus allowable clock skew (%v) was on or after the Expiration Time value (%v seconds)", skew, exp)
	}
	if hasIat && exp <= iat {
		return oauthToken{}, invalidToken("the Expiration Time (%v seconds) was not after the Issued At time (%v seconds)", exp, iat)
	}
	if terr := checkScope(claims.scope(v.cfg.ScopeClaimName), v.cfg.RequiredScope); terr != nil {
		return oauthToken{}, terr
	}
	return oauthToken{principal: principal, expiry: msTime(exp)}, nil
}

// decodeJWTPart decodes a base64url JSON object of a compact JWT. Kafka's
// decoder also takes the standard alphabet, and padding: so does this one.
func decodeJWTPart(s string) (jwtClaims, *tokenError) {
	s = strings.TrimRight(s, "=")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, invalidToken("malformed Base64 URL encoded value")
		}
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var m jwtClaims
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, invalidToken("malformed JSON")
	}
	return m, nil
}
