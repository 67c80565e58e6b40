package main

import (
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
)

// secureBroker is a broker with SSL (client certificates requested),
// SASL_SSL and SASL_PLAINTEXT listeners, the standard authorizer, super
// users User:admin and User:CN=ops, and users admin and alice.
type secureBroker struct {
	pki  *proctest.PKI
	addr map[string]string // by protocol
	dir  string
}

func startSecureBroker(t *testing.T) *secureBroker {
	t.Helper()
	dir := t.TempDir()
	for u, pw := range map[string]string{"admin": "admin-secret", "alice": "alice-secret"} {
		if err := broker.SetUserPassword(dir, u, pw); err != nil {
			t.Fatal(err)
		}
	}
	p := proctest.NewPKI(t)
	b, err := broker.New(broker.WithDataDir(dir), broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *broker.Config) {
			c.Listeners = []broker.ListenerSpec{
				{Name: broker.ProtocolSSL, Addr: "127.0.0.1:0"},
				{Name: broker.ProtocolSASLSSL, Addr: "127.0.0.1:0"},
				{Name: broker.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
			}
			c.TLS = broker.TLSConfig{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile, ClientAuth: "requested"}
			c.Authorizer = broker.AuthorizerStandard
			c.SuperUsers = []string{"User:admin", "User:CN=ops"}
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s := &secureBroker{pki: p, dir: dir, addr: map[string]string{}}
	for _, proto := range []string{broker.ProtocolSSL, broker.ProtocolSASLSSL, broker.ProtocolSASLPlaintext} {
		s.addr[proto] = b.ListenerAddr(proto)
	}
	return s
}

// writeProps writes a client properties file and returns its path.
func writeProps(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// javaProps are the properties a Java client user writes for SASL_SSL
// with mechanism mech.
func (s *secureBroker) javaProps(t *testing.T, mech, user, pass string) string {
	module := "org.apache.kafka.common.security.scram.ScramLoginModule"
	if mech == "PLAIN" {
		module = "org.apache.kafka.common.security.plain.PlainLoginModule"
	}
	return writeProps(t,
		"# as in the Kafka documentation's client.properties",
		"security.protocol=SASL_SSL",
		"sasl.mechanism="+mech,
		fmt.Sprintf(`sasl.jaas.config=%s required \`, module),
		fmt.Sprintf(`    username="%s" \`, user),
		fmt.Sprintf(`    password="%s";`, pass),
		"ssl.truststore.type=PEM",
		"ssl.truststore.location="+s.pki.CAFile,
		"ssl.endpoint.identification.algorithm=https",
	)
}

// TestCommandConfigEachMechanism: with a Java-style client.properties the
// commands create a topic, produce, consume it and read lag over
// SASL_SSL with each mechanism.
func TestCommandConfigEachMechanism(t *testing.T) {
	s := startSecureBroker(t)
	addr := s.addr[broker.ProtocolSASLSSL]
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			props := s.javaProps(t, mech, "admin", "admin-secret")
			topic := "orders-" + strings.ToLower(mech)
			cli(t, addr, "--command-config", props, "topic", "create", topic)
			if _, _, err := cliRun(t, addr, "a\nb\n", "--command-config", props, "produce", topic); err != nil {
				t.Fatalf("produce: %v", err)
			}
			out := cli(t, addr, "--command-config", props, "consume", topic, "--from", "oldest", "--count", "2", "--group", "audit")
			if out != "a\nb\n" {
				t.Fatalf("consume printed %q, want a, b", out)
			}
			lag := cli(t, addr, "--command-config", props, "lag", "--group", "audit")
			// GROUP TOPIC STATE MEMBERS PARTITIONS UNCOMMITTED LAG: the
			// consume committed both records.
			wantFields(t, tableRow(t, lag, "audit", topic), "audit", topic, "Empty", "0", "1", "0", "0")
		})
	}
}

// TestCommandConfigLibrdkafkaNamesAndFlags: librdkafka's property names
// work, bootstrap.servers in the file replaces --brokers' default, and a
// flag wins over the file (a wrong password in the file, the right one
// in --sasl-password, and the reverse).
func TestCommandConfigLibrdkafkaNamesAndFlags(t *testing.T) {
	s := startSecureBroker(t)
	addr := s.addr[broker.ProtocolSASLSSL]
	props := writeProps(t,
		"bootstrap.servers="+addr,
		"security.protocol=sasl_ssl",
		"sasl.mechanisms=SCRAM-SHA-256",
		"sasl.username=admin",
		"sasl.password=wrong",
		"ssl.ca.location="+s.pki.CAFile,
	)
	out := cli(t, "", "--command-config", props, "--sasl-password", "admin-secret", "topic", "list")
	if !strings.Contains(out, "TOPIC") {
		t.Fatalf("topic list:\n%s", out)
	}
	msg := cliFail(t, "", []string{"--command-config", props, "topic", "list"}, "SASL_AUTHENTICATION_FAILED", "authentication failed", "User:admin")
	if strings.Contains(msg, "start one with") {
		t.Errorf("a refused password is reported as an unreachable broker: %s", msg)
	}
	// The same over SASL_PLAINTEXT from flags alone.
	cli(t, s.addr[broker.ProtocolSASLPlaintext], "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "SCRAM-SHA-512",
		"--sasl-username", "admin", "--sasl-password", "admin-secret", "topic", "list")
	t.Setenv("REWIND_SASL_PASSWORD", "wrong")
	cliFail(t, s.addr[broker.ProtocolSASLPlaintext], []string{"--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN",
		"--sasl-username", "admin", "topic", "list"}, "SASL_AUTHENTICATION_FAILED")
}

// TestCommandConfigPEMInlineAndMTLS: ssl.truststore.certificates inline
// over several lines, and an SSL client certificate from a PEM keystore
// (key and chain in one file, ssl.keystore.location) whose subject is a
// super user.
func TestCommandConfigPEMInlineAndMTLS(t *testing.T) {
	s := startSecureBroker(t)
	ca, err := os.ReadFile(s.pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	// As users paste it: the PEM lines joined with \ continuations.
	inline := strings.ReplaceAll(strings.TrimSpace(string(ca)), "\n", " \\\n    ")
	certFile, keyFile := s.pki.Client(t, "ops", pkix.Name{CommonName: "ops"})
	cert, _ := os.ReadFile(certFile)
	key, _ := os.ReadFile(keyFile)
	keystore := filepath.Join(t.TempDir(), "ops-keystore.pem")
	if err := os.WriteFile(keystore, append(key, cert...), 0o600); err != nil {
		t.Fatal(err)
	}
	props := writeProps(t,
		"security.protocol=SSL",
		"ssl.truststore.type=PEM",
		"ssl.truststore.certificates="+inline,
		"ssl.keystore.type=PEM",
		"ssl.keystore.location="+keystore,
	)
	addr := s.addr[broker.ProtocolSSL]
	// Creating a topic needs CREATE on the cluster or the topic: only a
	// super user (User:CN=ops) has it.
	cli(t, addr, "--command-config", props, "topic", "create", "mtls")
	// Without the certificate the principal is User:ANONYMOUS, refused.
	anon := writeProps(t, "security.protocol=SSL", "ssl.truststore.type=PEM", "ssl.truststore.location="+s.pki.CAFile)
	cliFail(t, addr, []string{"--command-config", anon, "topic", "create", "mtls2"},
		"TOPIC_AUTHORIZATION_FAILED: principal User:ANONYMOUS needs CREATE on TOPIC mtls2")
	// A trust store without the broker's CA fails the handshake.
	other := proctest.NewPKI(t)
	wrong := writeProps(t, "security.protocol=SSL", "ssl.truststore.type=PEM", "ssl.truststore.location="+other.CAFile)
	cliFail(t, addr, []string{"--command-config", wrong, "topic", "list"}, "authentication failed", "certificate")
}

// TestCommandConfigMissingACLHints: each refusal names the principal, the
// operation and the resource, and the rewind acl command it suggests,
// run as an administrator, is what lets the next step through, until
// the reset succeeds.
func TestCommandConfigMissingACLHints(t *testing.T) {
	s := startSecureBroker(t)
	addr := s.addr[broker.ProtocolSASLSSL]
	admin := s.javaProps(t, "SCRAM-SHA-256", "admin", "admin-secret")
	alice := s.javaProps(t, "SCRAM-SHA-256", "alice", "alice-secret")
	cli(t, addr, "--command-config", admin, "topic", "create", "orders")
	if _, _, err := cliRun(t, addr, "x\ny\n", "--command-config", admin, "produce", "orders"); err != nil {
		t.Fatal(err)
	}

	// produce: WRITE on the topic; nothing is written.
	_, _, err := cliRun(t, addr, "z\n", "--command-config", alice, "produce", "orders")
	for _, want := range []string{"TOPIC_AUTHORIZATION_FAILED: principal User:alice needs WRITE on TOPIC orders",
		"rewind acl --add --allow-principal User:alice --operation Write --topic orders"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("produce as alice: %v, want %q", err, want)
		}
	}
	if out := cli(t, addr, "--command-config", admin, "consume", "orders", "--from", "oldest", "--end"); out != "x\ny\n" {
		t.Fatalf("the refused produce changed the topic: %q", out)
	}

	reset := []string{"--command-config", alice, "group", "reset", "svc", "--topic", "orders", "--to-earliest", "--execute"}
	steps := []struct{ want, grant string }{
		{"GROUP_AUTHORIZATION_FAILED: principal User:alice needs READ on GROUP svc", "rewind acl --add --allow-principal User:alice --operation Read --group svc"},
		{"TOPIC_AUTHORIZATION_FAILED: principal User:alice needs READ on TOPIC orders", "rewind acl --add --allow-principal User:alice --operation Read --topic orders"},
	}
	for _, st := range steps {
		cliFail(t, addr, reset, st.want, st.grant)
		grant := strings.Fields(strings.TrimPrefix(st.grant, "rewind "))
		cli(t, addr, append([]string{"--command-config", admin}, grant...)...)
	}
	out := cli(t, addr, reset...)
	if !strings.Contains(out, "orders") {
		t.Fatalf("reset after the ACLs were added:\n%s", out)
	}
	// rewind acl itself, as alice: ALTER on the cluster.
	cliFail(t, addr, []string{"--command-config", alice, "acl", "--add", "--allow-principal", "User:bob", "--topic", "x"},
		"CLUSTER_AUTHORIZATION_FAILED: principal User:alice needs ALTER on the CLUSTER", "--operation Alter --cluster")
}

// TestCommandConfigBadProperties: a property the commands do not know or
// support fails naming it, before any connection.
func TestCommandConfigBadProperties(t *testing.T) {
	cases := []struct {
		lines []string
		want  string
	}{
		{[]string{"security.protocol=SASL_SSL", "sasl.mechanism=PLAIN", "sasl.username=a", "fetch.max.bytes=1"}, "unknown property fetch.max.bytes"},
		{[]string{"security.protocol=SSL", "ssl.truststore.type=JKS", "ssl.truststore.location=/x.jks"}, "ssl.truststore.type=JKS: only PEM"},
		{[]string{"security.protocol=SSL", "ssl.keymanager.algorithm=SunX509"}, "property ssl.keymanager.algorithm is not supported"},
		{[]string{"security.protocol=SASL_SSL", "sasl.mechanism=GSSAPI", "sasl.kerberos.service.name=kafka"}, "property sasl.kerberos.service.name is not supported"},
		{[]string{"security.protocol=SASL_SSL", "sasl.mechanism=GSSAPI", "sasl.username=a"}, "sasl.mechanism=GSSAPI is not supported"},
		{[]string{"security.protocol=SASL_SSL", "sasl.username=a"}, "needs sasl.mechanism"},
		{[]string{"security.protocol=SASL_SSL", "sasl.mechanism=PLAIN", `sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;`}, "login module com.sun.security.auth.module.Krb5LoginModule is not supported"},
		{[]string{"sasl.mechanism=PLAIN", "sasl.username=a", "sasl.password=b"}, "security.protocol=PLAINTEXT does not use them"},
		{[]string{"security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN", "sasl.username=a", "ssl.ca.location=/ca.pem"}, "TLS settings are given but security.protocol=SASL_PLAINTEXT"},
		{[]string{"security.protocol=TLS"}, "security.protocol=TLS: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"},
		{[]string{"security.protocol=SSL", "ssl.key.password=secret", "ssl.keystore.location=/k.pem"}, "ssl.key.password: encrypted private keys are not supported"},
	}
	for _, tc := range cases {
		props := writeProps(t, tc.lines...)
		// --brokers points nowhere: the error must come before any dial.
		cliFail(t, "127.0.0.1:1", []string{"--command-config", props, "topic", "list"}, "--command-config", tc.want)
	}
	cliFail(t, "127.0.0.1:1", []string{"--command-config", filepath.Join(t.TempDir(), "missing.properties"), "topic", "list"}, "--command-config", "no such file")
}

// TestMigrateCommandConfigs: migrate reads the source with
// --command-config and writes the target with --to-command-config, two
// clusters with different users and CAs; the wrong file for the target is
// refused at its authentication.
func TestMigrateCommandConfigs(t *testing.T) {
	src, dst := startSecureBroker(t), startSecureBroker(t)
	srcAddr, dstAddr := src.addr[broker.ProtocolSASLSSL], dst.addr[broker.ProtocolSASLSSL]
	srcProps := src.javaProps(t, "SCRAM-SHA-512", "admin", "admin-secret")
	dstProps := dst.javaProps(t, "PLAIN", "admin", "admin-secret")
	cli(t, srcAddr, "--command-config", srcProps, "topic", "create", "orders")
	if _, _, err := cliRun(t, srcAddr, "a\nb\nc\n", "--command-config", srcProps, "produce", "orders"); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	// The source's file names the source's CA: the target's certificate
	// does not verify with it.
	cliFail(t, srcAddr, []string{"--command-config", srcProps, "migrate", "--to", dstAddr, "--to-command-config", srcProps, "--state", state, "--execute"}, "certificate")
	out := cli(t, srcAddr, "--command-config", srcProps, "migrate", "--to", dstAddr, "--to-command-config", dstProps, "--state", state, "--execute")
	if !strings.Contains(out, "verified") {
		t.Fatalf("migrate:\n%s", out)
	}
	if got := cli(t, dstAddr, "--command-config", dstProps, "consume", "orders", "--from", "oldest", "--end"); got != "a\nb\nc\n" {
		t.Fatalf("target holds %q", got)
	}
}

// TestCommandConfigHintsPerCommand: the other commands name what they
// lack too, each with the resource it was asked about.
func TestCommandConfigHintsPerCommand(t *testing.T) {
	s := startSecureBroker(t)
	addr := s.addr[broker.ProtocolSASLSSL]
	admin := s.javaProps(t, "PLAIN", "admin", "admin-secret")
	alice := s.javaProps(t, "PLAIN", "alice", "alice-secret")
	cli(t, addr, "--command-config", admin, "topic", "create", "orders")
	if _, _, err := cliRun(t, addr, "x\n", "--command-config", admin, "produce", "orders"); err != nil {
		t.Fatal(err)
	}
	cli(t, addr, "--command-config", admin, "group", "reset", "svc", "--topic", "orders", "--to-earliest", "--execute")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "delete", "orders"}, "TOPIC_AUTHORIZATION_FAILED: principal User:alice needs DELETE on TOPIC orders"},
		{[]string{"topic", "describe", "orders"}, "TOPIC_AUTHORIZATION_FAILED: principal User:alice needs DESCRIBE and DESCRIBE_CONFIGS on TOPIC orders"},
		{[]string{"topic", "add-partitions", "orders", "--num", "2"}, "TOPIC_AUTHORIZATION_FAILED: principal User:alice needs ALTER on TOPIC orders"},
		{[]string{"consume", "orders", "--from", "oldest", "--end"}, "TOPIC_AUTHORIZATION_FAILED: principal User:alice needs READ on TOPIC orders"},
		{[]string{"group", "describe", "svc"}, "GROUP_AUTHORIZATION_FAILED: principal User:alice needs DESCRIBE on GROUP svc"},
		{[]string{"group", "delete", "svc"}, "GROUP_AUTHORIZATION_FAILED: principal User:alice needs DELETE on GROUP svc"},
		{[]string{"transactions", "describe", "tx-1"}, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED: principal User:alice needs DESCRIBE on TRANSACTIONAL_ID tx-1"},
	} {
		cliFail(t, addr, append([]string{"--command-config", alice}, tc.args...), tc.want, "rewind acl --add --allow-principal User:alice")
	}
	// Consuming in a group needs READ on the group once the topic is
	// readable.
	cli(t, addr, "--command-config", admin, "acl", "--add", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "orders")
	cliFail(t, addr, []string{"--command-config", alice, "consume", "orders", "--group", "audit", "--from", "oldest", "--end"},
		"GROUP_AUTHORIZATION_FAILED: principal User:alice needs READ on GROUP audit", "--operation Read --group audit")
}

// TestCommandConfigOAuthBearer: OAUTHBEARER as a Java client configures
// it: the unsecured login module's options (the token made for each
// connection, its sub the principal), or a token file given as a file:
// sasl.oauthbearer.token.endpoint.url; an expired token is refused at
// authentication, a token endpoint is refused naming the property.
func TestCommandConfigOAuthBearer(t *testing.T) {
	dir := t.TempDir()
	b, err := broker.New(broker.WithDataDir(dir), broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *broker.Config) {
			c.Listeners = []broker.ListenerSpec{{Name: broker.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}}
			c.OAuthBearer.Unsecured = true
			c.Authorizer = broker.AuthorizerStandard
			c.SuperUsers = []string{"User:admin"}
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	addr := b.ListenerAddr(broker.ProtocolSASLPlaintext)
	unsecured := func(sub string) string {
		return writeProps(t, "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=OAUTHBEARER",
			`sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \`,
			`    unsecuredLoginStringClaim_sub="`+sub+`" unsecuredLoginListClaim_scope=",kafka,read";`)
	}
	cli(t, addr, "--command-config", unsecured("admin"), "topic", "create", "orders")
	_, _, err = cliRun(t, addr, "x\n", "--command-config", unsecured("alice"), "produce", "orders")
	if err == nil || !strings.Contains(err.Error(), "TOPIC_AUTHORIZATION_FAILED: principal User:alice needs WRITE on TOPIC orders") {
		t.Fatalf("produce as alice: %v", err)
	}
	token := func(sub string, exp time.Time) string {
		enc := base64.RawURLEncoding
		body := fmt.Sprintf(`{"sub":%q,"iat":%d,"exp":%d}`, sub, time.Now().Add(-time.Hour).Unix(), exp.Unix())
		path := filepath.Join(t.TempDir(), "token.jwt")
		if err := os.WriteFile(path, []byte(enc.EncodeToString([]byte(`{"alg":"none"}`))+"."+enc.EncodeToString([]byte(body))+".\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return writeProps(t, "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=OAUTHBEARER",
			"sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
			"sasl.oauthbearer.token.endpoint.url=file://"+path,
			"sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;")
	}
	out := cli(t, addr, "--command-config", token("admin", time.Now().Add(time.Hour)), "topic", "list")
	if !strings.Contains(out, "orders") {
		t.Fatalf("topic list with a token file:\n%s", out)
	}
	cliFail(t, addr, []string{"--command-config", token("admin", time.Now().Add(-time.Minute)), "topic", "list"}, "authentication failed", "SASL_AUTHENTICATION_FAILED")
	endpoint := writeProps(t, "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=OAUTHBEARER",
		"sasl.oauthbearer.token.endpoint.url=https://idp.example.com/token",
		`sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="c" clientSecret="s";`)
	cliFail(t, "127.0.0.1:1", []string{"--command-config", endpoint, "topic", "list"}, "sasl.oauthbearer.token.endpoint.url=https://idp.example.com/token: only a file: URL")
	noSub := writeProps(t, "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=OAUTHBEARER",
		`sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_name="x";`)
	cliFail(t, "127.0.0.1:1", []string{"--command-config", noSub, "topic", "list"}, "needs unsecuredLoginStringClaim_sub")
}

// TestUserCommandOnline: with --command-config, rewind user set, list and
// delete go through AlterUserScramCredentials and
// DescribeUserScramCredentials: the user made can authenticate with both
// SCRAM mechanisms, and after delete cannot; a principal without ALTER on
// the cluster is told so.
func TestUserCommandOnline(t *testing.T) {
	s := startSecureBroker(t)
	addr := s.addr[broker.ProtocolSASLSSL]
	admin := s.javaProps(t, "SCRAM-SHA-256", "admin", "admin-secret")
	out, _, err := cliRun(t, addr, "bob-secret\n", "--command-config", admin, "user", "set", "bob")
	if err != nil || !strings.Contains(out, "stored on the cluster") {
		t.Fatalf("user set bob: %v\n%s", err, out)
	}
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		cli(t, addr, "--command-config", s.javaProps(t, mech, "bob", "bob-secret"), "topic", "list")
	}
	list := cli(t, addr, "--command-config", admin, "user", "list")
	if !strings.Contains(list, "bob\tSCRAM-SHA-256,SCRAM-SHA-512\n") {
		t.Fatalf("user list:\n%s", list)
	}
	cli(t, addr, "--command-config", admin, "user", "delete", "bob")
	cliFail(t, addr, []string{"--command-config", s.javaProps(t, "SCRAM-SHA-512", "bob", "bob-secret"), "topic", "list"}, "SASL_AUTHENTICATION_FAILED")
	cliFail(t, addr, []string{"--command-config", admin, "user", "delete", "bob"}, "user bob does not exist on the cluster")
	_, _, err = cliRun(t, addr, "x\n", "--command-config", s.javaProps(t, "PLAIN", "alice", "alice-secret"), "user", "set", "carol")
	if err == nil || !strings.Contains(err.Error(), "CLUSTER_AUTHORIZATION_FAILED: principal User:alice needs ALTER on the CLUSTER") {
		t.Fatalf("user set as alice: %v", err)
	}
	// Both ways at once is refused.
	cliFail(t, addr, []string{"--command-config", admin, "user", "list", "--data-dir", t.TempDir()}, "use either --data-dir")
}
