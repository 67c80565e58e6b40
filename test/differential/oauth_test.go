package differential

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/kafkascript"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASL/OAUTHBEARER with unsecured JWTs and re-authentication (KIP-368)
// against Apache Kafka: a Kafka of its own with a SASL_PLAINTEXT listener
// (OAUTHBEARER with its unsecured validator, and PLAIN for alice) and
// connections.max.reauth.ms, and an in-process Rewind configured alike.
// The same raw exchanges go to both; what each answers (challenge bytes,
// error codes and messages, session lifetimes, when the connection is
// closed) must be the same.

const oauthMaxReauth = 2 * time.Second

func startOAuthKafka(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	script, err := kafkascript.Find(wd)
	if err != nil {
		skipOrFail(t, err)
	}
	port := freePort(t)
	props := filepath.Join(t.TempDir(), "oauth.properties")
	conf := fmt.Sprintf(`listeners=PLAINTEXT://127.0.0.1:@BROKER_PORT@,CONTROLLER://127.0.0.1:@CONTROLLER_PORT@,SASL_PLAINTEXT://127.0.0.1:%d
advertised.listeners=PLAINTEXT://127.0.0.1:@BROKER_PORT@,SASL_PLAINTEXT://127.0.0.1:%d
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN,OAUTHBEARER
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";
listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";
connections.max.reauth.ms=%d
`, port, port, oauthMaxReauth.Milliseconds())
	if err := os.WriteFile(props, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAFKA_EXTRA_PROPERTIES", props)
	dir, err := os.MkdirTemp("", "rewind-oauth-kafka")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kafkascript.Start(context.Background(), script, dir, 1)
	if err != nil {
		var me *kafkascript.MissingError
		if errors.As(err, &me) {
			skipOrFail(t, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { kc.Stop() })
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func startOAuthRewind(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := broker.SetUserPassword(dir, "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.WithDataDir(dir), broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *broker.Config) {
			c.Listeners = []broker.ListenerSpec{{Name: broker.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}}
			c.SASLMechanisms = []string{"PLAIN", "OAUTHBEARER"}
			c.OAuthBearer.Unsecured = true
			c.OAuthBearer.ClockSkew = 0 // Kafka's unsecuredValidatorAllowableClockSkewMs default
			c.ConnectionsMaxReauth = oauthMaxReauth
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.ListenerAddr(broker.ProtocolSASLPlaintext)
}

// jwtNone is an unsecured JWT, base64url without padding as Kafka's
// OAuthBearerUnsecuredLoginCallbackHandler writes it.
func jwtNone(header string, claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func jwtFor(sub string, exp time.Time) string {
	return jwtNone(`{"alg":"none"}`, map[string]any{"sub": sub, "iat": time.Now().Unix() - 5, "exp": exp.Unix()})
}

func firstMessage(tok string) []byte { return []byte("n,,\x01auth=Bearer " + tok + "\x01\x01") }

// oauthScript runs the exchanges on addr and returns what it saw, one
// line per step.
func oauthScript(t *testing.T, addr string) []string {
	var out []string
	note := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	hs := func(c *conn, mech string) string {
		r := kmsg.NewPtrSASLHandshakeRequest()
		r.Version, r.Mechanism = 1, mech
		resp, err := c.send(r)
		if err != nil {
			return "handshake " + err.Error()
		}
		return fmt.Sprintf("handshake %d", resp.(*kmsg.SASLHandshakeResponse).ErrorCode)
	}
	auth := func(c *conn, tok []byte) (string, *kmsg.SASLAuthenticateResponse) {
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.Version, r.SASLAuthBytes = 2, tok
		resp, err := c.send(r)
		if err != nil {
			return "authenticate " + err.Error(), nil
		}
		a := resp.(*kmsg.SASLAuthenticateResponse)
		return fmt.Sprintf("authenticate code=%d msg=%q bytes=%q", a.ErrorCode, deref(a.ErrorMessage), a.SASLAuthBytes), a
	}
	meta := func(c *conn) string {
		r := kmsg.NewPtrMetadataRequest()
		r.Version = 12
		if _, err := c.send(r); err != nil {
			return "metadata " + err.Error()
		}
		return "metadata answered"
	}
	lifetime := func(a *kmsg.SASLAuthenticateResponse) string {
		if a == nil {
			return "no lifetime"
		}
		// The token's exp has second granularity: the lifetime is the
		// configured maximum here (tokens last an hour), exactly.
		return fmt.Sprintf("session_lifetime_ms=%d", a.SessionLifetimeMillis)
	}
	hour := time.Now().Add(time.Hour)

	for name, tok := range map[string]string{
		"expired":    jwtFor("alice", time.Now().Add(-time.Hour)),
		"signed":     jwtNone(`{"alg":"HS256"}`, map[string]any{"sub": "alice", "exp": hour.Unix()}) + "c2ln",
		"no exp":     jwtNone(`{"alg":"none"}`, map[string]any{"sub": "alice"}),
		"no sub":     jwtNone(`{"alg":"none"}`, map[string]any{"exp": hour.Unix()}),
		"two parts":  "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0",
		"future iat": jwtNone(`{"alg":"none"}`, map[string]any{"sub": "alice", "iat": hour.Unix(), "exp": hour.Unix() + 60}),
	} {
		c := dial(t, addr)
		note("%s: %s", name, hs(c, "OAUTHBEARER"))
		s, _ := auth(c, firstMessage(tok))
		note("%s: %s", name, s)
		s, _ = auth(c, []byte{1})
		note("%s: after %%x01: %s closed=%v", name, s, c.closed(time.Second))
	}
	for name, msg := range map[string][]byte{
		"basic scheme":    []byte("n,,\x01auth=Basic abc\x01\x01"),
		"no separator":    []byte("n,,auth=Bearer abc\x01\x01"),
		"lone %x01":       {1},
		"authzid differs": []byte("n,a=mallory,\x01auth=Bearer " + jwtFor("alice", hour) + "\x01\x01"),
		"extension":       []byte("n,,\x01auth=Bearer " + jwtFor("alice", hour) + "\x01traceId=abc\x01\x01"),
	} {
		c := dial(t, addr)
		hs(c, "OAUTHBEARER")
		s, _ := auth(c, msg)
		note("%s: %s", name, s)
	}

	// A session: its lifetime, an immediate re-authentication (the first
	// may begin at once), one less than a second later (refused as any
	// handshake after authentication), the connection still open.
	c := dial(t, addr)
	hs(c, "OAUTHBEARER")
	s, a := auth(c, firstMessage(jwtFor("alice", hour)))
	note("session: %s %s", s, lifetime(a))
	note("reauth: %s", hs(c, "OAUTHBEARER"))
	s, a = auth(c, firstMessage(jwtFor("alice", hour)))
	note("reauth: %s %s", s, lifetime(a))
	note("reauth again at once: %s", hs(c, "OAUTHBEARER"))
	note("then: %s", meta(c))
	// Past its end, a request closes the connection unanswered.
	time.Sleep(oauthMaxReauth + 300*time.Millisecond)
	note("after the session's end: %s", meta(c))

	// Re-authentication as another principal.
	c = dial(t, addr)
	hs(c, "OAUTHBEARER")
	auth(c, firstMessage(jwtFor("alice", hour)))
	note("reauth as bob: %s", hs(c, "OAUTHBEARER"))
	s, _ = auth(c, firstMessage(jwtFor("bob", hour)))
	note("reauth as bob: %s closed=%v", s, c.closed(time.Second))

	// Re-authentication with another mechanism.
	c = dial(t, addr)
	hs(c, "PLAIN")
	s, a = auth(c, []byte("\x00alice\x00alice-secret"))
	note("PLAIN session: %s %s", s, lifetime(a))
	note("reauth with OAUTHBEARER: %s", hs(c, "OAUTHBEARER"))
	s, _ = auth(c, firstMessage(jwtFor("alice", hour)))
	note("reauth with OAUTHBEARER: %s", s)

	// A request between the re-authentication's handshake and its token.
	c = dial(t, addr)
	hs(c, "PLAIN")
	auth(c, []byte("\x00alice\x00alice-secret"))
	hs(c, "PLAIN")
	// Kafka answers the request with its error response before closing
	// (as before the first authentication; README, Security), Rewind
	// closes at once: only the closing is compared.
	meta(c)
	note("metadata inside a reauth: closed=%v", c.closed(time.Second))

	// A token that expires before connections.max.reauth.ms: the session
	// lasts as long as it.
	c = dial(t, addr)
	hs(c, "OAUTHBEARER")
	_, a = auth(c, firstMessage(jwtFor("alice", time.Now().Add(1500*time.Millisecond))))
	short := a != nil && a.ErrorCode == 0 && a.SessionLifetimeMillis > 0 && a.SessionLifetimeMillis < oauthMaxReauth.Milliseconds()
	note("short token: lifetime below the maximum: %v", short)
	return out
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestOAuthBearerKafka compares the scripts' lines.
func TestOAuthBearerKafka(t *testing.T) {
	kafka := startOAuthKafka(t)
	rewind := startOAuthRewind(t)
	k := oauthScript(t, kafka)
	r := oauthScript(t, rewind)
	km, rm := map[string]bool{}, map[string]bool{}
	for _, l := range k {
		km[l] = true
	}
	for _, l := range r {
		rm[l] = true
	}
	var diff []string
	for _, l := range k {
		if !rm[l] {
			diff = append(diff, "kafka only:  "+l)
		}
	}
	for _, l := range r {
		if !km[l] {
			diff = append(diff, "rewind only: "+l)
		}
	}
	if len(diff) > 0 {
		t.Errorf("OAUTHBEARER and re-authentication differ from Kafka:\n%s", strings.Join(diff, "\n"))
	}
	t.Logf("%d lines compared", len(k))
}
