package broker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	kscram "github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"
)

// testPKI is a CA and certificates it signed, written as PEM files.
type testPKI struct {
	dir               string
	caKey             *ecdsa.PrivateKey
	ca                *x509.Certificate
	caFile            string
	certFile, keyFile string
	serial            int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), serial: 1}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Rewind Test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	p.certFile, p.keyFile = filepath.Join(p.dir, "server.pem"), filepath.Join(p.dir, "server.key")
	p.writeServer(t, "rewind-server-1")
	return p
}

// issue signs a certificate for subject; server certificates are valid
// for 127.0.0.1.
func (p *testPKI) issue(t *testing.T, subject pkix.Name, server bool) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func (p *testPKI) writeServer(t *testing.T, cn string) {
	t.Helper()
	der, key := p.issue(t, pkix.Name{CommonName: cn}, true)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Key first, then the certificate renamed into place: a reload never
	// sees a certificate without its key.
	writePEM(t, p.keyFile+".tmp", "EC PRIVATE KEY", kb)
	writePEM(t, p.certFile+".tmp", "CERTIFICATE", der)
	if err := os.Rename(p.keyFile+".tmp", p.keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p.certFile+".tmp", p.certFile); err != nil {
		t.Fatal(err)
	}
}

func (p *testPKI) clientCert(t *testing.T, subject pkix.Name) tls.Certificate {
	t.Helper()
	der, key := p.issue(t, subject, false)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *testPKI) clientTLS(certs ...tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{RootCAs: pool, Certificates: certs, ServerName: "127.0.0.1"}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var allListeners = []ListenerSpec{
	{Name: ProtocolPlaintext, Addr: "127.0.0.1:0"},
	{Name: ProtocolSSL, Addr: "127.0.0.1:0"},
	{Name: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
	{Name: ProtocolSASLSSL, Addr: "127.0.0.1:0"},
}

// startSecure starts a broker with the four listeners and users alice
// (password alice-secret) and bob.
func startSecure(t *testing.T, p *testPKI, clientAuth string, log io.Writer) *Broker {
	t.Helper()
	dir := t.TempDir()
	for u, pw := range map[string]string{"alice": "alice-secret", "bob": "bob-secret"} {
		if err := SetUserPassword(dir, u, pw); err != nil {
			t.Fatal(err)
		}
	}
	if log == nil {
		log = io.Discard
	}
	return startWith(t, WithDataDir(dir), WithGroupInitialRebalanceDelay(0),
		WithLogger(slog.New(slog.NewTextHandler(log, nil))),
		func(c *Config) {
			c.Listeners = allListeners
			c.TLS = TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, CAFile: p.caFile, ClientAuth: clientAuth}
		})
}

func secCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func secClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(3 * time.Second),
		kgo.RequestRetries(2), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// roundTrip produces a record and consumes it back.
func roundTrip(t *testing.T, addr, topic string, opts ...kgo.Opt) {
	t.Helper()
	ctx := secCtx(t)
	cl := secClient(t, addr, opts...)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v-" + topic)}).FirstErr(); err != nil {
		t.Fatalf("produce %s via %s: %v", topic, addr, err)
	}
	cons := secClient(t, addr, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	fs := cons.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil {
		t.Fatalf("consume %s: %v", topic, err)
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "v-"+topic {
		t.Fatalf("consumed %v", recs)
	}
}

func mechanisms(user, pass string) map[string]sasl.Mechanism {
	return map[string]sasl.Mechanism{
		"PLAIN":         plain.Auth{User: user, Pass: pass}.AsMechanism(),
		"SCRAM-SHA-256": kscram.Auth{User: user, Pass: pass}.AsSha256Mechanism(),
		"SCRAM-SHA-512": kscram.Auth{User: user, Pass: pass}.AsSha512Mechanism(),
	}
}

// TestSecureListenersRealClients: franz-go produces and consumes over each
// listener, with each SASL mechanism on both SASL listeners, and Metadata
// on each listener advertises that listener's own address.
func TestSecureListenersRealClients(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "none", nil)
	tlsOpt := kgo.DialTLSConfig(p.clientTLS())
	roundTrip(t, b.ListenerAddr(ProtocolPlaintext), "plain-topic")
	roundTrip(t, b.ListenerAddr(ProtocolSSL), "ssl-topic", tlsOpt)
	for name, m := range mechanisms("alice", "alice-secret") {
		roundTrip(t, b.ListenerAddr(ProtocolSASLPlaintext), "sp-"+name, kgo.SASL(m))
		roundTrip(t, b.ListenerAddr(ProtocolSASLSSL), "ss-"+name, kgo.SASL(m), tlsOpt)
	}
	opts := map[string][]kgo.Opt{
		ProtocolPlaintext:     nil,
		ProtocolSSL:           {tlsOpt},
		ProtocolSASLPlaintext: {kgo.SASL(mechanisms("bob", "bob-secret")["SCRAM-SHA-256"])},
		ProtocolSASLSSL:       {tlsOpt, kgo.SASL(mechanisms("bob", "bob-secret")["PLAIN"])},
	}
	for name, o := range opts {
		addr := b.ListenerAddr(name)
		cl := secClient(t, addr, o...)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(secCtx(t), cl)
		if err != nil {
			t.Fatalf("%s: metadata: %v", name, err)
		}
		got := net.JoinHostPort(resp.Brokers[0].Host, strconv.Itoa(int(resp.Brokers[0].Port)))
		if len(resp.Brokers) != 1 || got != addr {
			t.Fatalf("%s: Metadata advertises %v, want the listener's own %s", name, resp.Brokers, addr)
		}
		dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(secCtx(t), cl)
		if err != nil || net.JoinHostPort(dc.Brokers[0].Host, strconv.Itoa(int(dc.Brokers[0].Port))) != addr {
			t.Fatalf("%s: DescribeCluster %+v %v, want %s", name, dc, err, addr)
		}
	}
	if n := counterValue(t, b.sec.authTotal.WithLabelValues(ProtocolSASLSSL, "SCRAM-SHA-512", "success")); n < 1 {
		t.Fatalf("successful authentications counted %v", n)
	}
}

// TestSASLWrongPassword: a wrong password (and an unknown user) gets the
// client's SASL_AUTHENTICATION_FAILED with Kafka's message, nothing is
// written, and the failure is counted.
func TestSASLWrongPassword(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "none", nil)
	addr := b.ListenerAddr(ProtocolSASLPlaintext)
	good := secClient(t, addr, kgo.SASL(mechanisms("alice", "alice-secret")["PLAIN"]))
	ctx := secCtx(t)
	if err := good.ProduceSync(ctx, &kgo.Record{Topic: "guarded", Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, cred := range [][2]string{{"alice", "wrong"}, {"mallory", "alice-secret"}} {
		for name, m := range mechanisms(cred[0], cred[1]) {
			bad := secClient(t, addr, kgo.SASL(m))
			// A request gets the SASL error; franz-go's producer retries
			// it until its delivery timeout, as it does against Kafka.
			_, err := kmsg.NewPtrMetadataRequest().RequestWith(secCtx(t), bad)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("%s %s: metadata error %v, want SASL_AUTHENTICATION_FAILED", name, cred[0], err)
			}
			want := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + name
			if name == "PLAIN" {
				want = "Authentication failed: Invalid username or password"
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("%s: error %q does not carry Kafka's message %q", name, err, want)
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err = bad.ProduceSync(pctx, &kgo.Record{Topic: "guarded", Value: []byte("intruder")}).FirstErr()
			cancel()
			if err == nil {
				t.Fatalf("%s %s: produce succeeded", name, cred[0])
			}
			bad.Close()
		}
	}
	// Nothing of the failed clients was written.
	if end := b.partition("guarded", 0).LogEndOffset(); end != 1 {
		t.Fatalf("guarded end offset %d after failed authentications, want 1", end)
	}
	var fails float64
	for _, m := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		fails += counterValue(t, b.sec.authTotal.WithLabelValues(ProtocolSASLPlaintext, m, "failure"))
	}
	if fails < 6 {
		t.Fatalf("failed authentications counted %v, want at least 6", fails)
	}
}

// TestTLSClientAuthRequired: with ssl.client.auth=required a client without
// a certificate cannot connect; one with a certificate of the CA can, and
// its principal is the certificate subject. A certificate of another CA is
// refused.
func TestTLSClientAuthRequired(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "required", nil)
	addr := b.ListenerAddr(ProtocolSSL)
	ctx := secCtx(t)

	anon := secClient(t, addr, kgo.DialTLSConfig(p.clientTLS()))
	if err := anon.Ping(ctx); err == nil {
		t.Fatal("a client without a certificate was served with ssl.client.auth=required")
	}
	other := newTestPKI(t)
	stranger := secClient(t, addr, kgo.DialTLSConfig(p.clientTLS(other.clientCert(t, pkix.Name{CommonName: "stranger"}))))
	if err := stranger.Ping(ctx); err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}
	// With TLS 1.3 the client may see the failure before the broker's
	// handshake returns: wait for the count.
	for deadline := time.Now().Add(5 * time.Second); counterValue(t, b.sec.tlsFails) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("TLS handshake failures counted %v, want at least 2", counterValue(t, b.sec.tlsFails))
		}
	}

	cert := p.clientCert(t, pkix.Name{CommonName: "alice", Organization: []string{"Rewind Test"}})
	roundTrip(t, addr, "mtls", kgo.DialTLSConfig(p.clientTLS(cert)))
	var principals []string
	b.connMu.Lock()
	for c := range b.conns {
		if c.lis.spec.Name == ProtocolSSL {
			principals = append(principals, c.sec.principal)
		}
	}
	b.connMu.Unlock()
	if len(principals) == 0 {
		t.Fatal("no SSL connection open")
	}
	for _, pr := range principals {
		if pr != "User:CN=alice,O=Rewind Test" {
			t.Fatalf("principal %q, want User:CN=alice,O=Rewind Test", pr)
		}
	}
}

// TestTLSReload: replacing the certificate files makes new connections get
// the new certificate while a connection open before keeps working.
func TestTLSReload(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "none", nil)
	addr := b.ListenerAddr(ProtocolSSL)
	peerCN := func() string {
		c, err := tls.Dial("tcp", addr, p.clientTLS())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := peerCN(); cn != "rewind-server-1" {
		t.Fatalf("served %q", cn)
	}
	old := secClient(t, addr, kgo.DialTLSConfig(p.clientTLS()))
	ctx := secCtx(t)
	if err := old.ProduceSync(ctx, &kgo.Record{Topic: "reload", Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a modification time the watcher can tell apart
	p.writeServer(t, "rewind-server-2")
	deadline := time.Now().Add(3 * tlsWatchInterval)
	for peerCN() != "rewind-server-2" {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate was not picked up from the changed files")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := old.ProduceSync(ctx, &kgo.Record{Topic: "reload", Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatalf("the connection open before the reload: %v", err)
	}
	// A broken file leaves the certificate in use.
	if err := os.WriteFile(p.certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.ReloadTLS(); err == nil {
		t.Fatal("reloading a broken certificate succeeded")
	}
	if cn := peerCN(); cn != "rewind-server-2" {
		t.Fatalf("after a failed reload the broker serves %q", cn)
	}
}

// secRaw is a raw Kafka connection sending requests as given.
type secRaw struct {
	t    *testing.T
	c    net.Conn
	f    *kmsg.RequestFormatter
	corr int32
}

func dialSec(t *testing.T, addr string) *secRaw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &secRaw{t: t, c: c, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("sec-test"))}
}

// do sends req and reads its response; err is the read error (EOF when
// the broker closed the connection).
func (r *secRaw) do(req kmsg.Request) (kmsg.Response, error) {
	r.corr++
	if _, err := r.c.Write(r.f.AppendRequest(nil, req, r.corr)); err != nil {
		return nil, err
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body = body[4:]
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("decode %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

// closed reports whether the broker closed the connection (EOF or reset,
// not a timeout).
func (r *secRaw) closed() bool {
	// The broker may write before it closes (a TLS alert after garbage):
	// read to the end, within the deadline.
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := r.c.Read(buf)
		if err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

func handshake(v int16, mech string) *kmsg.SASLHandshakeRequest {
	r := kmsg.NewPtrSASLHandshakeRequest()
	r.Version, r.Mechanism = v, mech
	return r
}

func authenticate(v int16, tok []byte) *kmsg.SASLAuthenticateRequest {
	r := kmsg.NewPtrSASLAuthenticateRequest()
	r.Version, r.SASLAuthBytes = v, tok
	return r
}

func metadataReq() *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.Version = 12
	r.AllowAutoTopicCreation = true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("unauth-topic")
	r.Topics = append(r.Topics, mt)
	return r
}

// TestSASLRequestBeforeAuthentication: on a SASL listener any request but
// ApiVersions and SaslHandshake before authentication closes the
// connection, as Kafka's SaslServerAuthenticator does, and creates nothing.
func TestSASLRequestBeforeAuthentication(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "none", nil)
	addr := b.ListenerAddr(ProtocolSASLPlaintext)

	cases := map[string][]kmsg.Request{
		"metadata first":                {metadataReq()},
		"produce after ApiVersions":     {kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrProduceRequest()},
		"authenticate before handshake": {authenticate(2, []byte("\x00alice\x00alice-secret"))},
		"metadata after handshake":      {handshake(1, "PLAIN"), metadataReq()},
		"two ApiVersions":               {kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrApiVersionsRequest()},
	}
	for name, reqs := range cases {
		t.Run(name, func(t *testing.T) {
			c := dialSec(t, addr)
			for i, req := range reqs[:len(reqs)-1] {
				if _, err := c.do(req); err != nil {
					t.Fatalf("request %d (%s): %v", i, kmsg.NameForKey(req.Key()), err)
				}
			}
			last := reqs[len(reqs)-1]
			if resp, err := c.do(last); err == nil {
				t.Fatalf("%s answered before authentication: %+v", kmsg.NameForKey(last.Key()), resp)
			}
			if !c.closed() {
				t.Fatal("connection still open")
			}
		})
	}
	if _, ok := b.topicMeta("unauth-topic"); ok {
		t.Fatal("a Metadata request sent before authentication created its topic")
	}
	// The same requests on the PLAINTEXT listener are served; SASL there
	// is ILLEGAL_SASL_STATE and the connection stays open.
	c := dialSec(t, b.ListenerAddr(ProtocolPlaintext))
	resp, err := c.do(handshake(1, "PLAIN"))
	if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslHandshake on PLAINTEXT: %+v %v", resp, err)
	}
	if _, err := c.do(metadataReq()); err != nil {
		t.Fatalf("metadata on PLAINTEXT after SaslHandshake: %v", err)
	}
	if _, ok := b.topicMeta("unauth-topic"); !ok {
		t.Fatal("the same Metadata request on PLAINTEXT did not create its topic")
	}
}

// TestSASLBadFrames: malformed and adversarial SASL exchanges are answered
// as Kafka answers them and the connection closed; a good exchange on the
// same listener still works.
func TestSASLBadFrames(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "none", nil)
	addr := b.ListenerAddr(ProtocolSASLPlaintext)

	t.Run("unsupported mechanism", func(t *testing.T) {
		c := dialSec(t, addr)
		resp, err := c.do(handshake(1, "GSSAPI"))
		if err != nil {
			t.Fatal(err)
		}
		hr := resp.(*kmsg.SASLHandshakeResponse)
		if hr.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(hr.SupportedMechanisms, ",") != "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" {
			t.Fatalf("handshake GSSAPI: %+v", hr)
		}
		if !c.closed() {
			t.Fatal("connection open after an unsupported mechanism")
		}
	})
	fail := func(t *testing.T, mech string, toks [][]byte, wantMsg string) {
		t.Helper()
		c := dialSec(t, addr)
		if resp, err := c.do(handshake(1, mech)); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
			t.Fatalf("handshake %s: %+v %v", mech, resp, err)
		}
		var ar *kmsg.SASLAuthenticateResponse
		for i, tok := range toks {
			resp, err := c.do(authenticate(2, tok))
			if err != nil {
				t.Fatalf("token %d: %v", i, err)
			}
			ar = resp.(*kmsg.SASLAuthenticateResponse)
			if i < len(toks)-1 && ar.ErrorCode != 0 {
				t.Fatalf("token %d: %+v", i, ar)
			}
		}
		if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil || *ar.ErrorMessage != wantMsg {
			t.Fatalf("last token answered %d %v, want SASL_AUTHENTICATION_FAILED %q", ar.ErrorCode, deref(ar.ErrorMessage), wantMsg)
		}
		if !c.closed() {
			t.Fatal("connection open after a failed authentication")
		}
	}
	generic := "Authentication failed during authentication due to invalid credentials with SASL mechanism "
	t.Run("PLAIN two tokens", func(t *testing.T) {
		fail(t, "PLAIN", [][]byte{[]byte("alice\x00alice-secret")}, generic+"PLAIN")
	})
	t.Run("PLAIN empty", func(t *testing.T) { fail(t, "PLAIN", [][]byte{nil}, generic+"PLAIN") })
	t.Run("PLAIN four tokens", func(t *testing.T) {
		fail(t, "PLAIN", [][]byte{[]byte("\x00alice\x00alice-secret\x00x")}, generic+"PLAIN")
	})
	t.Run("PLAIN other authzid", func(t *testing.T) {
		fail(t, "PLAIN", [][]byte{[]byte("bob\x00alice\x00alice-secret")}, "Authentication failed: Client requested an authorization id that is different from username")
	})
	t.Run("SCRAM garbage", func(t *testing.T) {
		fail(t, "SCRAM-SHA-256", [][]byte{bytes.Repeat([]byte{0xff}, 300)}, generic+"SCRAM-SHA-256")
	})
	t.Run("SCRAM empty GS2 flag", func(t *testing.T) {
		// Crashed the SCRAM library (xdg-go/scram v1.1.2), found by FuzzSASLTokens.
		fail(t, "SCRAM-SHA-256", [][]byte{[]byte(",,,")}, generic+"SCRAM-SHA-256")
	})
	t.Run("SCRAM empty token", func(t *testing.T) { fail(t, "SCRAM-SHA-512", [][]byte{nil}, generic+"SCRAM-SHA-512") })
	t.Run("SCRAM unknown user", func(t *testing.T) {
		fail(t, "SCRAM-SHA-256", [][]byte{[]byte("n,,n=mallory,r=abcdefgh")}, generic+"SCRAM-SHA-256")
	})
	t.Run("SCRAM wrong nonce", func(t *testing.T) {
		fail(t, "SCRAM-SHA-512", [][]byte{[]byte("n,,n=alice,r=abcdefgh"), []byte("c=biws,r=notthenonce,p=AAAA")}, generic+"SCRAM-SHA-512")
	})
	t.Run("SCRAM bad proof", func(t *testing.T) {
		c := dialSec(t, addr)
		c.do(handshake(1, "SCRAM-SHA-256"))
		resp, err := c.do(authenticate(1, []byte("n,,n=alice,r=abcdefgh")))
		if err != nil {
			t.Fatal(err)
		}
		first := string(resp.(*kmsg.SASLAuthenticateResponse).SASLAuthBytes)
		nonce := strings.TrimPrefix(strings.Split(first, ",")[0], "r=")
		if !strings.HasPrefix(nonce, "abcdefgh") || len(nonce) <= 8 {
			t.Fatalf("server-first %q", first)
		}
		resp, err = c.do(authenticate(1, []byte("c=biws,r="+nonce+",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")))
		if err != nil {
			t.Fatal(err)
		}
		if ar := resp.(*kmsg.SASLAuthenticateResponse); ar.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("bad proof answered %+v", ar)
		}
		if !c.closed() {
			t.Fatal("connection open after a bad proof")
		}
	})
	t.Run("good PLAIN then SASL again", func(t *testing.T) {
		c := dialSec(t, addr)
		c.do(handshake(1, "PLAIN"))
		resp, err := c.do(authenticate(0, []byte("\x00alice\x00alice-secret")))
		if err != nil || resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != 0 {
			t.Fatalf("good PLAIN: %+v %v", resp, err)
		}
		if _, err := c.do(metadataReq()); err != nil {
			t.Fatalf("metadata after authentication: %v", err)
		}
		resp, err = c.do(handshake(1, "PLAIN"))
		if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake: %+v %v", resp, err)
		}
		resp, err = c.do(authenticate(2, []byte("\x00alice\x00alice-secret")))
		if err != nil || resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second authenticate: %+v %v", resp, err)
		}
	})
}

// TestListenersConfig: the flag syntax and its refusals, and the warning
// for a PLAINTEXT listener beyond loopback.
func TestListenersConfig(t *testing.T) {
	specs, err := ParseListeners("PLAINTEXT://127.0.0.1:9092, sasl_ssl://0.0.0.0:9094", "SASL_SSL://kafka.example.com:9094")
	if err != nil {
		t.Fatal(err)
	}
	want := []ListenerSpec{{Name: "PLAINTEXT", Addr: "127.0.0.1:9092"}, {Name: "SASL_SSL", Addr: "0.0.0.0:9094", Advertise: "kafka.example.com:9094"}}
	if len(specs) != 2 || specs[0] != want[0] || specs[1] != want[1] {
		t.Fatalf("parsed %+v", specs)
	}
	for _, bad := range [][2]string{
		{"PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093", ""},
		{"INTERNAL://127.0.0.1:9092", ""},
		{"127.0.0.1:9092", ""},
		{"PLAINTEXT://127.0.0.1", ""},
		{"PLAINTEXT://127.0.0.1:9092", "SSL://h:1"},
	} {
		if _, err := ParseListeners(bad[0], bad[1]); err == nil {
			t.Errorf("ParseListeners(%q, %q) accepted", bad[0], bad[1])
		}
	}
	// A TLS listener without a certificate is refused before anything binds.
	if _, err := New(WithDataDir(t.TempDir()), func(c *Config) { c.Listeners = []ListenerSpec{{Name: ProtocolSSL, Addr: "127.0.0.1:0"}} }); err == nil {
		t.Fatal("SSL listener without a certificate accepted")
	}

	var log syncBuf
	b, err := New(WithDataDir(t.TempDir()), WithLogger(slog.New(slog.NewTextHandler(&log, nil))), func(c *Config) {
		c.Listeners = []ListenerSpec{
			{Name: ProtocolPlaintext, Addr: "0.0.0.0:0", Advertise: "127.0.0.1:9"},
			{Name: ProtocolSASLPlaintext, Addr: "0.0.0.0:0", Advertise: "127.0.0.1:10"},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := log.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "listener=PLAINTEXT") {
		t.Fatalf("no warning for PLAINTEXT on 0.0.0.0:\n%s", out)
	}
	if strings.Contains(out, "listener=SASL_PLAINTEXT") {
		t.Fatalf("warning for the SASL listener:\n%s", out)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// counterValue reads a counter as /metrics exposes it.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// rawFrame sends a bare size-prefixed frame and reads one back (after
// SaslHandshake v0).
func (r *secRaw) rawFrame(tok []byte) ([]byte, error) {
	if _, err := r.c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(tok)))); err != nil {
		return nil, err
	}
	if _, err := r.c.Write(tok); err != nil {
		return nil, err
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return nil, err
	}
	out := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(r.c, out)
	return out, err
}

// TestSASLHandshakeV0: after SaslHandshake v0 the tokens are bare frames
// (Kafka clients before 1.0): PLAIN and SCRAM authenticate that way, a
// wrong password closes the connection without an answer, as Kafka does.
func TestSASLHandshakeV0(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "none", nil)
	addr := b.ListenerAddr(ProtocolSASLPlaintext)

	c := dialSec(t, addr)
	if resp, err := c.do(handshake(0, "PLAIN")); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
		t.Fatalf("handshake v0: %+v %v", resp, err)
	}
	out, err := c.rawFrame([]byte("\x00a\x00b")) // shorter than a request header: still a token
	if err == nil {
		t.Fatalf("a wrong PLAIN password was answered %q", out)
	}
	if !c.closed() {
		t.Fatal("connection open after a failed v0 authentication")
	}

	c = dialSec(t, addr)
	c.do(handshake(0, "PLAIN"))
	if out, err := c.rawFrame([]byte("\x00alice\x00alice-secret")); err != nil || len(out) != 0 {
		t.Fatalf("v0 PLAIN: %q %v, want an empty token", out, err)
	}
	if _, err := c.do(metadataReq()); err != nil {
		t.Fatalf("metadata after v0 PLAIN: %v", err)
	}

	c = dialSec(t, addr)
	c.do(handshake(0, "SCRAM-SHA-256"))
	cl, err := xscram.SHA256.NewClient("bob", "bob-secret", "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	var in string
	for !conv.Done() {
		msg, err := conv.Step(in)
		if err != nil {
			t.Fatalf("client step: %v", err)
		}
		if conv.Done() {
			break
		}
		got, err := c.rawFrame([]byte(msg))
		if err != nil {
			t.Fatalf("v0 SCRAM: %v", err)
		}
		in = string(got)
	}
	if !conv.Valid() {
		t.Fatal("the broker's SCRAM server signature did not verify")
	}
	if _, err := c.do(metadataReq()); err != nil {
		t.Fatalf("metadata after v0 SCRAM: %v", err)
	}
}

// TestSASLOversizedFrameBeforeAuth: before authentication a frame above
// Kafka's sasl.server.max.receive.size (512 KiB) closes the connection
// before it is read.
func TestSASLOversizedFrameBeforeAuth(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "none", nil)
	c := dialSec(t, b.ListenerAddr(ProtocolSASLPlaintext))
	c.do(handshake(1, "PLAIN"))
	big := authenticate(2, bytes.Repeat([]byte{'x'}, 600<<10))
	if _, err := c.do(big); err == nil {
		t.Fatal("a 600 KiB SaslAuthenticate before authentication was answered")
	}
	if !c.closed() {
		t.Fatal("connection open")
	}
	// The same size after authentication is only bounded by --max-request-bytes.
	c = dialSec(t, b.ListenerAddr(ProtocolSASLPlaintext))
	c.do(handshake(1, "PLAIN"))
	if resp, err := c.do(authenticate(2, []byte("\x00alice\x00alice-secret"))); err != nil || resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != 0 {
		t.Fatalf("authenticate: %+v %v", resp, err)
	}
	if _, err := c.do(big); err != nil {
		t.Fatalf("large request after authentication: %v", err)
	}
}

// FuzzSASLTokens feeds arbitrary client tokens to each mechanism, one
// conversation per input (first and second token): no panic, and nothing
// but the right password authenticates.
func FuzzSASLTokens(f *testing.F) {
	dir := f.TempDir()
	if err := SetUserPassword(dir, "alice", "alice-secret"); err != nil {
		f.Fatal(err)
	}
	f.Add(0, []byte("\x00alice\x00wrong"), []byte(nil))
	f.Add(0, []byte("alice\x00alice\x00alice-secret\x00"), []byte(nil))
	f.Add(1, []byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add(2, []byte("n,a=bob,n=alice,r=x"), []byte("c=,r=,p="))
	f.Add(1, []byte("y,,n=al=2Cice,r=abc"), []byte{0xff, 0, '='})
	b := &Broker{sec: brokerSecurity{creds: &credStore{path: filepath.Join(dir, CredentialsFile)}}}
	mechs := []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
	f.Fuzz(func(t *testing.T, m int, first, second []byte) {
		c := &conn{b: b, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		c.sec.mech = mechs[uint(m)%3]
		_, user, fail := c.saslStep(first)
		if fail == "" && user == "" && c.sec.mech != "PLAIN" {
			_, user, fail = c.saslStep(second)
		}
		if fail == "" && user != "" && !bytes.Contains(first, []byte("alice-secret")) {
			t.Fatalf("%s authenticated %q without the password: %q %q", c.sec.mech, user, first, second)
		}
	})
}

// TestTLSHandshakeGarbage: a plaintext Kafka request, or random bytes, on
// an SSL listener fails the TLS handshake: the connection is closed and
// counted, and TLS clients are still served.
func TestTLSHandshakeGarbage(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "none", nil)
	addr := b.ListenerAddr(ProtocolSSL)
	c := dialSec(t, addr)
	if _, err := c.do(kmsg.NewPtrApiVersionsRequest()); err == nil {
		t.Fatal("a plaintext ApiVersions on the SSL listener was answered")
	}
	g := dialSec(t, addr)
	junk := make([]byte, 64<<10)
	rand.Read(junk)
	g.c.Write(junk)
	if !g.closed() {
		t.Fatal("connection open after TLS garbage")
	}
	for deadline := time.Now().Add(5 * time.Second); counterValue(t, b.sec.tlsFails) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("TLS handshake failures counted %v, want 2", counterValue(t, b.sec.tlsFails))
		}
	}
	roundTrip(t, addr, "after-garbage", kgo.DialTLSConfig(p.clientTLS()))
}

// TestTLSClientAuthRequested: with ssl.client.auth=requested a client
// without a certificate is served as User:ANONYMOUS, one with a
// certificate gets its subject, and a certificate of another CA is still
// refused.
func TestTLSClientAuthRequested(t *testing.T) {
	p := newTestPKI(t)
	b := startSecure(t, p, "requested", nil)
	addr := b.ListenerAddr(ProtocolSSL)
	principals := func() map[string]bool {
		out := map[string]bool{}
		b.connMu.Lock()
		defer b.connMu.Unlock()
		for c := range b.conns {
			if c.lis.spec.Name == ProtocolSSL {
				out[c.sec.principal] = true
			}
		}
		return out
	}
	roundTrip(t, addr, "anon", kgo.DialTLSConfig(p.clientTLS()))
	if pr := principals(); len(pr) != 1 || !pr["User:ANONYMOUS"] {
		t.Fatalf("principals without a certificate: %v", pr)
	}
	roundTrip(t, addr, "named", kgo.DialTLSConfig(p.clientTLS(p.clientCert(t, pkix.Name{CommonName: "carol"}))))
	if pr := principals(); !pr["User:CN=carol"] {
		t.Fatalf("principals: %v, want User:CN=carol among them", pr)
	}
	other := newTestPKI(t)
	stranger := secClient(t, addr, kgo.DialTLSConfig(p.clientTLS(other.clientCert(t, pkix.Name{CommonName: "stranger"}))))
	if err := stranger.Ping(secCtx(t)); err == nil {
		t.Fatal("a certificate of another CA was accepted with ssl.client.auth=requested")
	}
}

// TestTLSRevokedCertificate: a client certificate listed in --ssl-crl is
// refused at the handshake and writes nothing, once the list is reloaded;
// a list no CA of --ssl-ca signed fails the reload and changes nothing.
func TestTLSRevokedCertificate(t *testing.T) {
	p := newTestPKI(t)
	aliceDER, aliceKey := p.issue(t, pkix.Name{CommonName: "alice"}, false)
	crlFile := filepath.Join(p.dir, "revoked.crl")
	writeCRL := func(signer *x509.Certificate, key *ecdsa.PrivateKey, serials ...*big.Int) {
		t.Helper()
		tmpl := &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		for _, s := range serials {
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
		}
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, signer, key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, crlFile, "X509 CRL", der)
	}
	writeCRL(p.ca, p.caKey) // nothing revoked yet
	b, err := New(WithDataDir(t.TempDir()), WithGroupInitialRebalanceDelay(0),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *Config) {
			c.Listeners = allListeners
			c.TLS = TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, CAFile: p.caFile, ClientAuth: "required", CRLFile: crlFile}
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	defer b.Close()
	addr := b.ListenerAddr(ProtocolSSL)
	leaf, _ := x509.ParseCertificate(aliceDER)
	tc := p.clientTLS()
	tc.Certificates = []tls.Certificate{{Certificate: [][]byte{aliceDER}, PrivateKey: aliceKey, Leaf: leaf}}
	produce := func(v string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(tc.Clone()), kgo.RequestRetries(0),
			kgo.RecordRetries(1), kgo.AllowAutoTopicCreation())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "crl", Value: []byte(v)}).FirstErr()
	}
	if err := produce("before"); err != nil {
		t.Fatalf("alice before revocation: %v", err)
	}

	// A list signed by another CA is refused; the one in use stays.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherTmpl := &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "Other CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	otherDER, _ := x509.CreateCertificate(rand.Reader, otherTmpl, otherTmpl, &otherKey.PublicKey, otherKey)
	other, _ := x509.ParseCertificate(otherDER)
	writeCRL(other, otherKey, leaf.SerialNumber)
	if err := b.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "signed by no CA") {
		t.Fatalf("reload of a list signed by another CA: %v", err)
	}
	if err := produce("still trusted"); err != nil {
		t.Fatalf("alice after the refused reload: %v", err)
	}

	writeCRL(p.ca, p.caKey, leaf.SerialNumber)
	if err := b.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if err := produce("after"); err == nil {
		t.Fatal("a revoked certificate produced")
	}
	opsDER, opsKey := p.issue(t, pkix.Name{CommonName: "ops"}, false)
	admin := secClient(t, addr, kgo.DialTLSConfig(p.clientTLS(tls.Certificate{Certificate: [][]byte{opsDER}, PrivateKey: opsKey})))
	end, err := kadm.NewClient(admin).ListEndOffsets(secCtx(t), "crl")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("crl", 0); o.Offset != 2 {
		t.Fatalf("crl/0 ends at %d, want 2: the revoked certificate wrote", o.Offset)
	}
}
