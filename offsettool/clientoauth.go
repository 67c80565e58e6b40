package offsettool

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// The Kafka client classes an OAUTHBEARER client.properties names.
const (
	oauthModule       = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
	oauthLoginHandler = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
	// oauthLoginHandlerOld is its name before Kafka 3.4 (KIP-768's first
	// release), still in many client.properties.
	oauthLoginHandlerOld = "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler"
)

// oauthTokenFile takes sasl.oauthbearer.token.endpoint.url: Kafka's
// client reads the token from a file: URL, and fetches it from an
// identity provider otherwise, which the CLI does not do.
func oauthTokenFile(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return "", fmt.Errorf("sasl.oauthbearer.token.endpoint.url=%s: only a file: URL holding the token is supported (rewind's commands do not call a token endpoint; write the token to a file and use file:///path)", v)
	}
	return u.Path, nil
}

// validateOAuth checks the OAUTHBEARER settings: a token file, or the
// unsecured login module's options (Kafka's default login handler for
// OAUTHBEARER, OAuthBearerUnsecuredLoginCallbackHandler), which must name
// the principal.
func (c *ClientConfig) validateOAuth() error {
	if c.OAuthTokenFile != "" {
		return nil
	}
	if c.OAuthOptions == nil {
		return fmt.Errorf("sasl.mechanism=OAUTHBEARER needs sasl.jaas.config=%s required unsecuredLoginStringClaim_sub=\"NAME\"; (unsecured tokens) or sasl.oauthbearer.token.endpoint.url=file:///path/to/token", oauthModule)
	}
	for k := range c.OAuthOptions {
		if !strings.HasPrefix(k, "unsecuredLogin") {
			return fmt.Errorf("sasl.jaas.config: option %s of OAuthBearerLoginModule is for a token endpoint, which rewind's commands do not call; use sasl.oauthbearer.token.endpoint.url=file:///path/to/token, or the unsecuredLogin* options", k)
		}
	}
	if _, err := c.unsecuredClaims(time.Now()); err != nil {
		return err
	}
	return nil
}

func (c *ClientConfig) principalClaim() string {
	if n := c.OAuthOptions["unsecuredLoginPrincipalClaimName"]; n != "" {
		return n
	}
	return "sub"
}

// unsecuredClaims are the claims Kafka's unsecured login handler puts in
// its token: the unsecuredLogin{String,Number,List}Claim_<name> options,
// iat now and exp unsecuredLoginLifetimeSeconds (default 3600) later.
func (c *ClientConfig) unsecuredClaims(now time.Time) (map[string]any, error) {
	lifetime := 3600 * time.Second
	claims := map[string]any{}
	for k, v := range c.OAuthOptions {
		switch {
		case k == "unsecuredLoginPrincipalClaimName":
		case k == "unsecuredLoginLifetimeSeconds":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("sasl.jaas.config: unsecuredLoginLifetimeSeconds=%q: want a positive number of seconds", v)
			}
			lifetime = time.Duration(n) * time.Second
		case strings.HasPrefix(k, "unsecuredLoginStringClaim_"):
			claims[strings.TrimPrefix(k, "unsecuredLoginStringClaim_")] = v
		case strings.HasPrefix(k, "unsecuredLoginNumberClaim_"):
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("sasl.jaas.config: %s=%q is not a number", k, v)
			}
			claims[strings.TrimPrefix(k, "unsecuredLoginNumberClaim_")] = n
		case strings.HasPrefix(k, "unsecuredLoginListClaim_"):
			// The first character separates the elements: ",a,b".
			var list []string
			if v != "" {
				for _, e := range strings.Split(v[1:], v[:1]) {
					if e != "" {
						list = append(list, e)
					}
				}
			}
			claims[strings.TrimPrefix(k, "unsecuredLoginListClaim_")] = list
		case strings.HasPrefix(k, "unsecuredLoginExtension_"):
		default:
			return nil, fmt.Errorf("sasl.jaas.config: unknown option %s of OAuthBearerLoginModule", k)
		}
	}
	if s, _ := claims[c.principalClaim()].(string); s == "" {
		return nil, fmt.Errorf("sasl.jaas.config: OAuthBearerLoginModule needs unsecuredLoginStringClaim_%s=\"NAME\", the principal", c.principalClaim())
	}
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(lifetime).Unix()
	return claims, nil
}

// oauthToken is the token of each authentication: read from the file
// again (a renewed token is used at the next connection), or a fresh
// unsecured one.
func (c *ClientConfig) oauthToken(context.Context) (oauth.Auth, error) {
	if c.OAuthTokenFile != "" {
		b, err := os.ReadFile(c.OAuthTokenFile)
		if err != nil {
			return oauth.Auth{}, fmt.Errorf("OAUTHBEARER token: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return oauth.Auth{}, fmt.Errorf("OAUTHBEARER token file %s is empty", c.OAuthTokenFile)
		}
		return oauth.Auth{Token: tok}, nil
	}
	claims, err := c.unsecuredClaims(time.Now())
	if err != nil {
		return oauth.Auth{}, err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return oauth.Auth{}, err
	}
	enc := base64.RawURLEncoding
	a := oauth.Auth{Token: enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString(body) + "."}
	for k, v := range c.OAuthOptions {
		if ext, ok := strings.CutPrefix(k, "unsecuredLoginExtension_"); ok {
			if a.Extensions == nil {
				a.Extensions = map[string]string{}
			}
			a.Extensions[ext] = v
		}
	}
	return a, nil
}

// oauthPrincipal is User:<principal claim>, read from the unsecured
// options or from the token file's (unverified) claims.
func (c *ClientConfig) oauthPrincipal() string {
	if c.OAuthTokenFile == "" {
		return "User:" + c.OAuthOptions["unsecuredLoginStringClaim_"+c.principalClaim()]
	}
	a, err := c.oauthToken(context.Background())
	if err == nil {
		if parts := strings.Split(a.Token, "."); len(parts) == 3 {
			var claims struct {
				Sub string `json:"sub"`
			}
			if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil && json.Unmarshal(b, &claims) == nil && claims.Sub != "" {
				return "User:" + claims.Sub
			}
		}
	}
	return "the token's principal"
}
