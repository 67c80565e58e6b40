package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/sync/singleflight"
)

// jwksMaxBytes bounds a JWKS document read from a file or an endpoint.
const jwksMaxBytes = 1 << 20

// jwksMissingKeyRetry is how often, at most, a token naming a key id the
// set does not have makes the set be fetched again (an identity provider
// rotating its keys), so that tokens with made-up key ids cannot make the
// broker hammer the endpoint.
const jwksMissingKeyRetry = 10 * time.Second

// jwksSignatureAlgorithms are the algorithms a token may be signed with:
// the asymmetric JWS ones. none and the HMAC ones (whose key would be a
// shared secret in a public document) are refused, as Kafka refuses none.
var jwksSignatureAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
}

// jwksValidator checks signed JWTs against the keys of a JWKS, as Kafka's
// OAuthBearerValidatorCallbackHandler (ValidatorAccessTokenValidator)
// does: signature by a key of the set, exp and iat required, exp, nbf and
// iat within the clock skew, iss and aud as configured, the principal
// claim a non-blank string.
type jwksValidator struct {
	cfg  OAuthBearerConfig
	log  *slog.Logger
	src  string // the file path or the URL
	http *http.Client

	keys        atomic.Pointer[jose.JSONWebKeySet]
	flight      singleflight.Group
	mu          sync.Mutex // guards lastMissing
	lastMissing time.Time  // when a missing key id last made the set be fetched
}

// newJWKSValidator reads the key set once: a broker whose JWKS cannot be
// read does not start. It is then refreshed every cfg.JWKSRefresh until
// ctx ends; a failed refresh keeps the keys it had and is logged.
func newJWKSValidator(ctx context.Context, cfg OAuthBearerConfig, log *slog.Logger) (*jwksValidator, error) {
	v := &jwksValidator{cfg: cfg, log: log, http: &http.Client{Timeout: 10 * time.Second}}
	u, err := url.Parse(cfg.JWKSEndpointURL)
	switch {
	case err != nil || u.Scheme == "":
		v.src = cfg.JWKSEndpointURL // a path
	case u.Scheme == "file":
		v.src = u.Path
	case u.Scheme == "https":
		v.src = u.String()
	case u.Scheme == "http":
		if !loopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("--sasl-oauthbearer-jwks-endpoint-url %s: http is only allowed to a loopback address; use https", cfg.JWKSEndpointURL)
		}
		v.src = u.String()
	default:
		return nil, fmt.Errorf("--sasl-oauthbearer-jwks-endpoint-url %s: scheme %q is not file, https or loopback http", cfg.JWKSEndpointURL, u.Scheme)
	}
	if err := v.refresh(ctx); err != nil {
		return nil, fmt.Errorf("--sasl-oauthbearer-jwks-endpoint-url: %w", err)
	}
	if cfg.JWKSRefresh > 0 {
		go v.refreshLoop(ctx)
	}
	return v, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (v *jwksValidator) refreshLoop(ctx context.Context) {
	t := time.NewTicker(v.cfg.JWKSRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := v.refresh(ctx); err != nil {
				v.log.Warn("JWKS refresh failed; the keys read before stay in use", "source", v.src, "err", err)
			}
		}
	}
}

// refresh reads the key set and replaces the one in use. Concurrent
// callers share one read, and no lock is held while it runs.
func (v *jwksValidator) refresh(ctx context.Context) error {
	_, err, _ := v.flight.Do("jwks", func() (any, error) {
		b, err := v.read(ctx)
		if err != nil {
			return nil, err
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			return nil, fmt.Errorf("JWKS %s: %w", v.src, err)
		}
		usable := 0
		for _, k := range set.Keys {
			if k.Valid() && k.IsPublic() {
				usable++
			}
		}
		if usable == 0 {
			return nil, fmt.Errorf("JWKS %s has no public key", v.src)
		}
		v.keys.Store(&set)
		return nil, nil
	})
	return err
}

func (v *jwksValidator) read(ctx context.Context) ([]byte, error) {
	if !strings.HasPrefix(v.src, "http://") && !strings.HasPrefix(v.src, "https://") {
		f, err := os.Open(v.src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(io.LimitReader(f, jwksMaxBytes))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.src, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS endpoint %s answered %s", v.src, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes))
}

// key finds the verification key of a token's header: by key id, or the
// one key of the set usable with the algorithm when the token names none.
// An unknown key id makes the set be read again (rate-limited).
func (v *jwksValidator) key(h jose.Header) (*jose.JSONWebKey, error) {
	if k := pickKey(v.keys.Load(), h); k != nil {
		return k, nil
	}
	if h.KeyID == "" {
		return nil, fmt.Errorf("the token names no key id (kid) and the JWKS has no single key for %s", h.Algorithm)
	}
	v.mu.Lock()
	retry := time.Since(v.lastMissing) >= jwksMissingKeyRetry
	if retry {
		v.lastMissing = time.Now()
	}
	v.mu.Unlock()
	if retry {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := v.refresh(ctx)
		cancel()
		if err != nil {
			v.log.Warn("JWKS refresh for an unknown key id failed", "source", v.src, "kid", h.KeyID, "err", err)
		}
		if k := pickKey(v.keys.Load(), h); k != nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no key with id %q in the JWKS", h.KeyID)
}

func pickKey(set *jose.JSONWebKeySet, h jose.Header) *jose.JSONWebKey {
	if set == nil {
		return nil
	}
	usable := func(k *jose.JSONWebKey) bool {
		return k.Valid() && k.IsPublic() && (k.Use == "" || k.Use == "sig") &&
			(k.Algorithm == "" || k.Algorithm == h.Algorithm)
	}
	var found *jose.JSONWebKey
	for i := range set.Keys {
		k := &set.Keys[i]
		if !usable(k) {
			continue
		}
		if h.KeyID != "" {
			if k.KeyID == h.KeyID {
				return k
			}
			continue
		}
		if found != nil {
			return nil // several candidates: the token must say which
		}
		found = k
	}
	return found
}

func (v *jwksValidator) validate(raw string, now time.Time) (oauthToken, *tokenError) {
	tok, err := jwt.ParseSigned(raw, jwksSignatureAlgorithms)
	if err != nil {
		return oauthToken{}, invalidToken("could not parse the access token: %v", err)
	}
	if len(tok.Headers) != 1 {
		return oauthToken{}, invalidToken("the access token has %d signatures, want 1", len(tok.Headers))
	}
	k, err := v.key(tok.Headers[0])
	if err != nil {
		return oauthToken{}, invalidToken("could not validate the access token: %v", err)
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(k.Key, &std, &all); err != nil {
		return oauthToken{}, invalidToken("could not validate the access token: %v", err)
	}
	if std.Expiry == nil {
		return oauthToken{}, invalidToken("no expiration time (exp) in the access token")
	}
	if std.IssuedAt == nil {
		return oauthToken{}, invalidToken("no issued-at time (iat) in the access token")
	}
	if len(v.cfg.ExpectedAudience) == 0 && len(std.Audience) > 0 {
		// jose4j's default, which Kafka keeps: an aud the broker was not
		// told to expect refuses the token.
		return oauthToken{}, invalidToken("audience %v present in the access token but no expected audience configured", []string(std.Audience))
	}
	exp := jwt.Expected{Issuer: v.cfg.ExpectedIssuer, AnyAudience: v.cfg.ExpectedAudience, Time: now}
	if err := std.ValidateWithLeeway(exp, v.cfg.ClockSkew); err != nil {
		switch {
		case errors.Is(err, jwt.ErrInvalidAudience):
			err = fmt.Errorf("%w: %v, expected one of %v", err, []string(std.Audience), v.cfg.ExpectedAudience)
		case errors.Is(err, jwt.ErrInvalidIssuer):
			err = fmt.Errorf("%w: %q, expected %q", err, std.Issuer, v.cfg.ExpectedIssuer)
		}
		return oauthToken{}, invalidToken("could not validate the access token: %v", err)
	}
	principal, _ := all[v.cfg.SubClaimName].(string)
	if strings.TrimSpace(principal) == "" {
		return oauthToken{}, invalidToken("no principal name in the access token's %s claim", v.cfg.SubClaimName)
	}
	if terr := checkScope(jwtClaims(all).scope(v.cfg.ScopeClaimName), v.cfg.RequiredScope); terr != nil {
		return oauthToken{}, terr
	}
	return oauthToken{principal: principal, expiry: std.Expiry.Time()}, nil
}

// newOAuthValidator is the validator cfg names, or an error saying why
// none can be made.
func newOAuthValidator(ctx context.Context, cfg OAuthBearerConfig, log *slog.Logger) (tokenValidator, error) {
	if cfg.SubClaimName == "" {
		cfg.SubClaimName = "sub"
	}
	if cfg.ScopeClaimName == "" {
		cfg.ScopeClaimName = "scope"
	}
	if cfg.ClockSkew < 0 {
		return nil, fmt.Errorf("--sasl-oauthbearer-clock-skew %v must not be negative", cfg.ClockSkew)
	}
	switch {
	case cfg.Unsecured && cfg.JWKSEndpointURL != "":
		return nil, errors.New("--sasl-oauthbearer-unsecured and --sasl-oauthbearer-jwks-endpoint-url cannot be given together")
	case cfg.Unsecured:
		if len(cfg.ExpectedAudience) > 0 || cfg.ExpectedIssuer != "" {
			return nil, errors.New("--sasl-oauthbearer-expected-audience and --sasl-oauthbearer-expected-issuer need --sasl-oauthbearer-jwks-endpoint-url: unsecured tokens are not signed")
		}
		return &unsecuredValidator{cfg: cfg}, nil
	case cfg.JWKSEndpointURL != "":
		return newJWKSValidator(ctx, cfg, log)
	}
	return nil, errors.New("SASL mechanism OAUTHBEARER needs --sasl-oauthbearer-jwks-endpoint-url (signed tokens) or --sasl-oauthbearer-unsecured (development)")
}

// oauthMechanismsNeeded reports a validator configured without the
// OAUTHBEARER mechanism enabled: the flags would have no effect.
func oauthMechanismsNeeded(cfg OAuthBearerConfig, mechs []string) error {
	if cfg.Enabled() && !slices.Contains(mechs, "OAUTHBEARER") {
		return fmt.Errorf("an OAUTHBEARER validator is configured but OAUTHBEARER is not in --sasl-enabled-mechanisms %v", mechs)
	}
	return nil
}
