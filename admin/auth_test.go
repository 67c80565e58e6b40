package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/crypto/bcrypt"
)

// securedEnv is a broker with the standard authorizer (User:ANONYMOUS, the
// test's own Kafka client, a super user) and an admin listener with the
// users alice and bob (passwords) and carol (a bearer token).
type securedEnv struct {
	*env
	hc *http.Client
}

const carolToken = "c4r0l-t0ken-0123456789abcdef"

func writeUsers(t *testing.T) string {
	t.Helper()
	var lines []string
	for _, u := range []string{"alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-secret"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u+":"+string(h))
	}
	sum := sha256.Sum256([]byte(carolToken))
	lines = append(lines, "# carol's token", "carol:sha256:"+hex.EncodeToString(sum[:]))
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newSecuredEnv(t *testing.T, cfg SecurityConfig) *securedEnv {
	t.Helper()
	b := rewindtest.Start(t, func(c *broker.Config) {
		c.Authorizer = broker.AuthorizerStandard
		c.SuperUsers = []string{"User:ANONYMOUS"}
	})
	sec, err := LoadSecurity(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := New(b.AdminAPI(), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), WithSecurity(sec))
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	scheme := "http://"
	if sec.tls != nil {
		scheme = "https://"
	}
	return &securedEnv{env: &env{b: b, srv: srv, base: scheme + srv.Addr()}, hc: &http.Client{Timeout: 30 * time.Second}}
}

// allow gives principal op on a resource, through CreateACLs.
func (e *securedEnv) allow(t *testing.T, principal string, rt kmsg.ACLResourceType, name string, ops ...kmsg.ACLOperation) {
	t.Helper()
	req := kmsg.NewPtrCreateACLsRequest()
	for _, op := range ops {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, kmsg.ACLResourcePatternTypeLiteral
		c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", op, kmsg.ACLPermissionTypeAllow
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctxT(t), e.client(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Results {
		if r.ErrorCode != 0 {
			t.Fatalf("CreateACLs: code %d %v", r.ErrorCode, r.ErrorMessage)
		}
	}
}

// do sends a request with an Authorization set by auth (nil: none) and
// decodes a JSON answer into v.
func (e *securedEnv) do(t *testing.T, method, path, body string, auth func(*http.Request), v any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if testing.Verbose() {
		t.Logf("%s %s: %s %s", method, path, resp.Status, data)
	}
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func (e *securedEnv) committed(t *testing.T, group string) int64 {
	t.Helper()
	os, err := kadm.NewClient(e.client(t)).FetchOffsets(ctxT(t), group)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := os.Lookup("orders", 0)
	if !ok {
		t.Fatalf("group %s has no offset for orders-0", group)
	}
	return o.At
}

// TestConsoleAuthentication: with --http-auth-file every request needs
// credentials (401 with a Basic challenge otherwise), the console page
// and /metrics included; a wrong password, an unknown user and a wrong
// token are 401; --http-metrics-open leaves /metrics and health open.
func TestConsoleAuthentication(t *testing.T) {
	e := newSecuredEnv(t, SecurityConfig{AuthFile: writeUsers(t)})
	for _, path := range []string{"/", "/api/v1/groups", "/api/v1/overview", "/metrics", "/healthz"} {
		resp := e.do(t, "GET", path, "", nil, nil)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("GET %s without credentials: %s (WWW-Authenticate %q), want 401 with a Basic challenge", path, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	for name, auth := range map[string]func(*http.Request){
		"wrong password":    basic("alice", "bob-secret"),
		"unknown user":      basic("mallory", "alice-secret"),
		"empty password":    basic("alice", ""),
		"wrong token":       bearer(carolToken + "x"),
		"password as token": bearer("alice-secret"),
		"other scheme":      func(r *http.Request) { r.Header.Set("Authorization", "Digest x") },
	} {
		if resp := e.do(t, "GET", "/api/v1/groups", "", auth, nil); resp.StatusCode != 401 {
			t.Errorf("%s: %s, want 401", name, resp.Status)
		}
	}
	for name, auth := range map[string]func(*http.Request){"alice": basic("alice", "alice-secret"), "carol's token": bearer(carolToken)} {
		for _, path := range []string{"/", "/api/v1/groups", "/metrics"} {
			if resp := e.do(t, "GET", path, "", auth, nil); resp.StatusCode != 200 {
				t.Errorf("%s GET %s: %s, want 200", name, path, resp.Status)
			}
		}
	}

	open := newSecuredEnv(t, SecurityConfig{AuthFile: writeUsers(t), MetricsOpen: true})
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if resp := open.do(t, "GET", path, "", nil, nil); resp.StatusCode != 200 {
			t.Errorf("--http-metrics-open GET %s without credentials: %s, want 200", path, resp.Status)
		}
	}
	for _, path := range []string{"/", "/api/v1/groups"} {
		if resp := open.do(t, "GET", path, "", nil, nil); resp.StatusCode != 401 {
			t.Errorf("--http-metrics-open GET %s without credentials: %s, want 401", path, resp.Status)
		}
	}
}

// TestConsoleAuthorization: the console's changes are checked with the
// Kafka protocol's ACLs for User:NAME. alice (READ on the group and the
// topic) resets the group; bob (DESCRIBE only) is refused with 403 and the
// committed offset stays; carol (no ACL) does not see the group or the
// topic at all; deleting needs DELETE.
func TestConsoleAuthorization(t *testing.T) {
	e := newSecuredEnv(t, SecurityConfig{AuthFile: writeUsers(t)})
	e.createTopic(t, "orders", 1)
	e.createTopic(t, "secret", 1)
	cl := e.client(t)
	for range 10 {
		e.produce(t, cl, &kgo.Record{Topic: "orders", Value: []byte("v")})
	}
	e.commitNow(t, "billing", "orders", map[int32]int64{0: 7})
	e.allow(t, "User:alice", kmsg.ACLResourceTypeGroup, "billing", kmsg.ACLOperationRead)
	e.allow(t, "User:alice", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationRead)
	e.allow(t, "User:bob", kmsg.ACLResourceTypeGroup, "billing", kmsg.ACLOperationDescribe)
	e.allow(t, "User:bob", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationDescribe)
	alice, bob, carol := basic("alice", "alice-secret"), basic("bob", "bob-secret"), bearer(carolToken)
	reset := `{"target":"to-earliest","execute":true}`

	var apiErr apiError
	resp := e.do(t, "POST", "/api/v1/groups/billing/reset", reset, bob, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("bob's reset: %s, want 403", resp.Status)
	}
	if got := e.committed(t, "billing"); got != 7 {
		t.Fatalf("after bob's refused reset the group is at %d, want 7", got)
	}
	// bob may plan (DESCRIBE), not execute.
	if resp := e.do(t, "POST", "/api/v1/groups/billing/reset", `{"target":"to-earliest"}`, bob, nil); resp.StatusCode != 200 {
		t.Errorf("bob's dry run: %s, want 200", resp.Status)
	}
	if resp := e.do(t, "POST", "/api/v1/groups/billing/reset", reset, carol, &apiErr); resp.StatusCode != 403 {
		t.Errorf("carol's reset: %s, want 403", resp.Status)
	}
	var res resetResponse
	if resp := e.do(t, "POST", "/api/v1/groups/billing/reset", reset, alice, &res); resp.StatusCode != 200 || !res.Plan.Executed {
		t.Fatalf("alice's reset: %s executed=%v, want 200 and executed", resp.Status, res.Plan.Executed)
	}
	if got := e.committed(t, "billing"); got != 0 {
		t.Fatalf("after alice's reset the group is at %d, want 0", got)
	}

	// Reads: what the principal may not DESCRIBE is left out, or 403.
	var groups []groupRow
	e.do(t, "GET", "/api/v1/groups", "", bob, &groups)
	if len(groups) != 1 || groups[0].Group != "billing" {
		t.Errorf("bob's groups %+v, want billing", groups)
	}
	groups = nil
	e.do(t, "GET", "/api/v1/groups", "", carol, &groups)
	if len(groups) != 0 {
		t.Errorf("carol's groups %+v, want none", groups)
	}
	var topics []topicRow
	e.do(t, "GET", "/api/v1/topics", "", bob, &topics)
	if len(topics) != 1 || topics[0].Name != "orders" {
		t.Errorf("bob's topics %+v, want orders alone (not secret)", topics)
	}
	for _, path := range []string{"/api/v1/groups/billing", "/api/v1/topics/orders", "/api/v1/topics/secret", "/api/v1/topics/nonexistent"} {
		if resp := e.do(t, "GET", path, "", carol, nil); resp.StatusCode != 403 {
			t.Errorf("carol GET %s: %s, want 403", path, resp.Status)
		}
	}
	// The clients' telemetry is the cluster's.
	if resp := e.do(t, "GET", "/api/v1/clients", "", carol, nil); resp.StatusCode != 403 {
		t.Errorf("carol GET /api/v1/clients: %s, want 403", resp.Status)
	}
	e.allow(t, "User:carol", kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLOperationDescribe)
	if resp := e.do(t, "GET", "/api/v1/clients", "", carol, nil); resp.StatusCode != 200 {
		t.Errorf("carol GET /api/v1/clients with DESCRIBE on the cluster: %s, want 200", resp.Status)
	}
	// Records need READ: bob has DESCRIBE only.
	if resp := e.do(t, "GET", "/api/v1/topics/orders/records?partition=0", "", bob, nil); resp.StatusCode != 403 {
		t.Errorf("bob's records: %s, want 403", resp.Status)
	}
	if resp := e.do(t, "GET", "/api/v1/topics/orders/records?partition=0", "", alice, nil); resp.StatusCode != 200 {
		t.Errorf("alice's records: %s, want 200", resp.Status)
	}

	// Deletions need DELETE; refused, nothing is gone.
	if resp := e.do(t, "DELETE", "/api/v1/groups/billing", "{}", alice, nil); resp.StatusCode != 403 {
		t.Errorf("alice deletes the group: %s, want 403", resp.Status)
	}
	if resp := e.do(t, "DELETE", "/api/v1/topics/orders", "{}", alice, nil); resp.StatusCode != 403 {
		t.Errorf("alice deletes the topic: %s, want 403", resp.Status)
	}
	if resp := e.do(t, "POST", "/api/v1/topics", `{"name":"fresh","partitions":1}`, alice, nil); resp.StatusCode != 403 {
		t.Errorf("alice creates a topic: %s, want 403", resp.Status)
	}
	if _, ok := e.b.AdminAPI().Topic("orders"); !ok {
		t.Fatal("orders is gone after a refused deletion")
	}
	if _, ok := e.b.AdminAPI().Topic("fresh"); ok {
		t.Fatal("fresh exists after a refused creation")
	}
	if got := e.committed(t, "billing"); got != 0 {
		t.Fatalf("the group is at %d after a refused deletion, want 0", got)
	}
	e.allow(t, "User:alice", kmsg.ACLResourceTypeGroup, "billing", kmsg.ACLOperationDelete)
	e.allow(t, "User:alice", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationDelete)
	if resp := e.do(t, "DELETE", "/api/v1/groups/billing", "{}", alice, nil); resp.StatusCode != 200 {
		t.Errorf("alice deletes the group with DELETE: %s, want 200", resp.Status)
	}
	if resp := e.do(t, "DELETE", "/api/v1/topics/orders", "{}", alice, nil); resp.StatusCode != 200 {
		t.Errorf("alice deletes the topic with DELETE: %s, want 200", resp.Status)
	}
}

// TestConsoleUsersFileReload: a changed users file is read again; a
// broken one leaves the previous users.
func TestConsoleUsersFileReload(t *testing.T) {
	path := writeUsers(t)
	e := newSecuredEnv(t, SecurityConfig{AuthFile: path})
	if resp := e.do(t, "GET", "/api/v1/groups", "", basic("alice", "alice-secret"), nil); resp.StatusCode != 200 {
		t.Fatalf("alice: %s", resp.Status)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("new-secret"), bcrypt.MinCost)
	if err := os.WriteFile(path, []byte("alice:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.srv.Reload()
	if resp := e.do(t, "GET", "/api/v1/groups", "", basic("alice", "alice-secret"), nil); resp.StatusCode != 401 {
		t.Errorf("alice's old password after the change: %s, want 401", resp.Status)
	}
	if resp := e.do(t, "GET", "/api/v1/groups", "", basic("alice", "new-secret"), nil); resp.StatusCode != 200 {
		t.Errorf("alice's new password: %s, want 200", resp.Status)
	}
	if err := os.WriteFile(path, []byte("alice:not-a-hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.srv.Reload()
	if resp := e.do(t, "GET", "/api/v1/groups", "", basic("alice", "new-secret"), nil); resp.StatusCode != 200 {
		t.Errorf("after a broken file: %s, want 200 (the previous users stay)", resp.Status)
	}
}

// TestAdminBindBeyondLoopback: beyond loopback without authentication the
// listener is refused unless AllowUnauthenticated; with a users file it is
// served.
func TestAdminBindBeyondLoopback(t *testing.T) {
	ip := nonLoopbackIP(t)
	if _, err := ListenSecure(net.JoinHostPort(ip, "0"), nil, "rewind.example"); err == nil || !strings.Contains(err.Error(), "--http-auth-file") {
		t.Fatalf("no authentication beyond loopback: %v, want a refusal naming --http-auth-file", err)
	}
	for _, cfg := range []SecurityConfig{{AllowUnauthenticated: true}, {AuthFile: writeUsers(t)}} {
		sec, err := LoadSecurity(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := ListenSecure(net.JoinHostPort(ip, "0"), sec, "rewind.example")
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		ln.Close()
	}
}

func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return ""
}

// pki is a CA with certificates it signed, written as PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key}
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(p.dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// issue signs a certificate for cn (a server one for 127.0.0.1 if server)
// and returns its certificate and key files.
func (p *pki) issue(t *testing.T, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"rewind"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, cn+".pem", "CERTIFICATE", der), p.write(t, cn+"-key.pem", "PRIVATE KEY", kder)
}

func (p *pki) client(t *testing.T, cn string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	cfg := &tls.Config{RootCAs: pool}
	if cn != "" {
		cf, kf := p.issue(t, cn, false)
		c, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// TestConsoleHTTPSClientCertificate: HTTPS with --http-ssl-client-auth
// required: a client without a certificate cannot connect; one with a
// certificate is User:<subject>, checked against the ACLs (ops resets,
// dev, without READ, is refused and nothing changes).
func TestConsoleHTTPSClientCertificate(t *testing.T) {
	p := newPKI(t)
	cf, kf := p.issue(t, "127.0.0.1", true)
	e := newSecuredEnv(t, SecurityConfig{TLS: broker.TLSConfig{CertFile: cf, KeyFile: kf, CAFile: p.caFile, ClientAuth: "required"}})
	if !strings.HasPrefix(e.base, "https://") {
		t.Fatalf("base %s, want https", e.base)
	}
	e.createTopic(t, "orders", 1)
	cl := e.client(t)
	for range 5 {
		e.produce(t, cl, &kgo.Record{Topic: "orders", Value: []byte("v")})
	}
	e.commitNow(t, "billing", "orders", map[int32]int64{0: 4})
	ops := "User:CN=ops,O=rewind"
	e.allow(t, ops, kmsg.ACLResourceTypeGroup, "billing", kmsg.ACLOperationRead)
	e.allow(t, ops, kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationRead)
	e.allow(t, "User:CN=dev,O=rewind", kmsg.ACLResourceTypeGroup, "billing", kmsg.ACLOperationDescribe)
	e.allow(t, "User:CN=dev,O=rewind", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationDescribe)

	if _, err := p.client(t, "").Get(e.base + "/api/v1/groups"); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	reset := `{"target":"to-earliest","execute":true}`
	e.hc = p.client(t, "dev")
	if resp := e.do(t, "POST", "/api/v1/groups/billing/reset", reset, nil, nil); resp.StatusCode != 403 {
		t.Fatalf("dev's reset: %s, want 403", resp.Status)
	}
	if got := e.committed(t, "billing"); got != 4 {
		t.Fatalf("after dev's refused reset the group is at %d, want 4", got)
	}
	e.hc = p.client(t, "ops")
	if resp := e.do(t, "GET", "/", "", nil, nil); resp.StatusCode != 200 {
		t.Errorf("ops GET /: %s", resp.Status)
	}
	var res resetResponse
	if resp := e.do(t, "POST", "/api/v1/groups/billing/reset", reset, nil, &res); resp.StatusCode != 200 || !res.Plan.Executed {
		t.Fatalf("ops's reset: %s executed=%v", resp.Status, res.Plan.Executed)
	}
	if got := e.committed(t, "billing"); got != 0 {
		t.Fatalf("after ops's reset the group is at %d, want 0", got)
	}
}
