package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestServeOAuthBearerFlags: the OAUTHBEARER flags reach the broker, from
// the command line and from REWIND_* variables: a validator enables the
// mechanism beside the default ones, and a bad combination stops the
// start with an error naming the flags.
func TestServeOAuthBearerFlags(t *testing.T) {
	base := []string{"--listeners", "SASL_PLAINTEXT://127.0.0.1:0", "--http", "", "--data-dir", filepath.Join(t.TempDir(), "data")}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--sasl-enabled-mechanisms", "OAUTHBEARER"}, nil, "needs --sasl-oauthbearer-jwks-endpoint-url (signed tokens) or --sasl-oauthbearer-unsecured"},
		// OAUTHBEARER is enabled by the validator: its URL is checked.
		{[]string{"--sasl-oauthbearer-jwks-endpoint-url", "http://idp.example.com/jwks"}, nil, "http is only allowed to a loopback address"},
		{nil, map[string]string{"REWIND_SASL_OAUTHBEARER_JWKS_ENDPOINT_URL": "http://idp.example.com/jwks"}, "http is only allowed to a loopback address"},
		{[]string{"--sasl-oauthbearer-unsecured", "--sasl-enabled-mechanisms", "PLAIN"}, nil, "OAUTHBEARER is not in --sasl-enabled-mechanisms"},
		{[]string{"--sasl-oauthbearer-unsecured", "--sasl-oauthbearer-expected-issuer", "https://idp"}, nil, "need --sasl-oauthbearer-jwks-endpoint-url"},
		{[]string{"--connections-max-reauth-ms", "-5"}, nil, "--connections-max-reauth-ms"},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		err := serveMustFail(t, append(c.args, base...)...)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %v %v: %q lacks %q", c.args, c.env, err, c.want)
		}
		for k := range c.env {
			t.Setenv(k, "")
		}
	}
}
