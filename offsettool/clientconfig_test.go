package offsettool

import (
	"strings"
	"testing"
)

// TestParseJAAS: sasl.jaas.config as Kafka's JaasConfig reads it: quoted
// values with escapes, bare values, options in any order, other options
// ignored.
func TestParseJAAS(t *testing.T) {
	for _, tc := range []struct{ in, user, pass, err string }{
		{`org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="s3cr;t";`, "alice", "s3cr;t", ""},
		{`org.apache.kafka.common.security.scram.ScramLoginModule required password='p\'q' username=bob tokenauth=false;`, "bob", "p'q", ""},
		{"org.apache.kafka.common.security.scram.ScramLoginModule   required\n  username=\"a b\"\n  password=\"x\\\"y\" ;", "a b", `x"y`, ""},
		{`org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="x"`, "", "", "missing the ';'"},
		{`org.apache.kafka.common.security.plain.PlainLoginModule required password="x";`, "", "", "no username"},
		{`org.apache.kafka.common.security.plain.PlainLoginModule required username="alice;`, "", "", "unterminated"},
		{`com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;`, "", "", "Krb5LoginModule is not supported"},
		{`org.apache.kafka.common.security.plain.PlainLoginModule always username="a";`, "", "", `control flag "always"`},
	} {
		u, p, err := parseJAAS(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "sasl.jaas.config: ") {
				t.Errorf("%s: error %v, want one naming sasl.jaas.config with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || u != tc.user || p != tc.pass {
			t.Errorf("%s: %q %q %v, want %q %q", tc.in, u, p, err, tc.user, tc.pass)
		}
	}
}

// TestInlinePEM: a PEM block whose lines a properties continuation joined
// with spaces is rebuilt; a damaged or encrypted one is refused naming
// the property.
func TestInlinePEM(t *testing.T) {
	const body = "MIIBszCCAVmgAwIBAgIBATAKBggqhkjOPQQDAjAZMRcwFQYDVQQDEw5SZXdpbmQg"
	got, err := inlinePEM("ssl.truststore.certificates", "-----BEGIN CERTIFICATE----- "+body[:30]+"   "+body[30:]+" -----END CERTIFICATE-----")
	if err != nil || got != "-----BEGIN CERTIFICATE-----\n"+body+"\n-----END CERTIFICATE-----\n" {
		t.Fatalf("rebuilt %q, %v", got, err)
	}
	for in, want := range map[string]string{
		"not pem": "no PEM block",
		"-----BEGIN CERTIFICATE----- !!! -----END CERTIFICATE-----":                              "damaged",
		"-----BEGIN ENCRYPTED PRIVATE KEY----- " + body + " -----END ENCRYPTED PRIVATE KEY-----": "encrypted",
	} {
		if _, err := inlinePEM("ssl.keystore.key", in); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "ssl.keystore.key: ") {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
