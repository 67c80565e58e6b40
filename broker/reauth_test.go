package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

func plainTok(user, pass string) []byte { return []byte("\x00" + user + "\x00" + pass) }

// authOn runs SaslHandshake v1 and SaslAuthenticate v1 on r and returns
// the SaslAuthenticate response.
func authOn(t *testing.T, r *secRaw, mech string, tok []byte) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	resp, err := r.do(handshake(1, mech))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if h := resp.(*kmsg.SASLHandshakeResponse); h.ErrorCode != 0 {
		t.Fatalf("handshake: %v", kerr.ErrorForCode(h.ErrorCode))
	}
	resp, err = r.do(authenticate(1, tok))
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return resp.(*kmsg.SASLAuthenticateResponse)
}

func metadataOK(t *testing.T, r *secRaw) {
	t.Helper()
	if _, err := r.do(kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("metadata on an authenticated connection: %v", err)
	}
}

// TestReauthSession: with connections.max.reauth.ms, SaslAuthenticate v1
// gives the session's lifetime; a re-authentication on the open
// connection renews it; a SaslHandshake within a second of the last one
// gets ILLEGAL_SASL_STATE; a request after the session's end closes the
// connection unanswered and is counted, as Kafka's SocketServer does.
func TestReauthSession(t *testing.T) {
	p := newTestPKI(t)
	const maxReauth = 1500 * time.Millisecond
	b := startOAuth(t, p, unsecuredConfig(), nil, func(c *Config) { c.ConnectionsMaxReauth = maxReauth })
	addr := b.ListenerAddr(ProtocolSASLPlaintext)

	r := dialSec(t, addr)
	a := authOn(t, r, "PLAIN", plainTok("alice", "alice-secret"))
	if a.ErrorCode != 0 || a.SessionLifetimeMillis != maxReauth.Milliseconds() {
		t.Fatalf("authenticate: code %d, session_lifetime_ms %d, want 0 and %d", a.ErrorCode, a.SessionLifetimeMillis, maxReauth.Milliseconds())
	}
	metadataOK(t, r)
	// Later in the session: a re-authentication renews it.
	time.Sleep(1100 * time.Millisecond)
	a = authOn(t, r, "PLAIN", plainTok("alice", "alice-secret"))
	if a.ErrorCode != 0 || a.SessionLifetimeMillis != maxReauth.Milliseconds() {
		t.Fatalf("re-authenticate: code %d, session_lifetime_ms %d", a.ErrorCode, a.SessionLifetimeMillis)
	}
	renewed := time.Now()
	if n := counterValue(t, b.sec.reauthTotal.WithLabelValues(ProtocolSASLPlaintext, "PLAIN", "success")); n != 1 {
		t.Fatalf("re-authentications counted %v, want 1", n)
	}
	resp, err := r.do(handshake(1, "PLAIN"))
	if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("a second handshake within a second: %+v %v, want ILLEGAL_SASL_STATE", resp, err)
	}
	metadataOK(t, r) // still open
	// Past the first session's end, the renewed one serves.
	time.Sleep(time.Until(renewed.Add(maxReauth - 300*time.Millisecond)))
	metadataOK(t, r)
	time.Sleep(time.Until(renewed.Add(maxReauth + 100*time.Millisecond)))
	if _, err := r.do(kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("a request after the session's end was answered")
	}
	if n := counterValue(t, b.sec.expiredKilled); n != 1 {
		t.Fatalf("expired connections counted %v, want 1", n)
	}

	// A re-authentication after the session's end is still allowed (the
	// handshake comes before the expiry check).
	r = dialSec(t, addr)
	if a := authOn(t, r, "PLAIN", plainTok("alice", "alice-secret")); a.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(a.ErrorCode))
	}
	time.Sleep(maxReauth + 100*time.Millisecond)
	if a := authOn(t, r, "PLAIN", plainTok("alice", "alice-secret")); a.ErrorCode != 0 {
		t.Fatalf("re-authentication after the end: %v", kerr.ErrorForCode(a.ErrorCode))
	}
	metadataOK(t, r)
}

// TestReauthRefused: a re-authentication as another principal fails with
// Kafka's message and closes the connection; one with another mechanism
// gets its handshake answered, then the connection is closed; a wrong
// password closes it with the re-authentication message; a request
// between the handshake and SaslAuthenticate closes it.
func TestReauthRefused(t *testing.T) {
	p := newTestPKI(t)
	b := startOAuth(t, p, unsecuredConfig(), nil, func(c *Config) { c.ConnectionsMaxReauth = time.Minute })
	addr := b.ListenerAddr(ProtocolSASLPlaintext)
	wait := func() { time.Sleep(minReauthInterval + 50*time.Millisecond) }

	r := dialSec(t, addr)
	authOn(t, r, "OAUTHBEARER", oauthFirst(unsecuredJWT(claimsFor("alice", time.Hour))))
	a := authOn(t, r, "OAUTHBEARER", oauthFirst(unsecuredJWT(claimsFor("bob", time.Hour))))
	if want := "Cannot change principals during re-authentication from User.alice: User.bob"; a.ErrorCode != kerr.SaslAuthenticationFailed.Code || deref(a.ErrorMessage) != want || !r.closed() {
		t.Fatalf("re-authentication as bob: %d %q, want SASL_AUTHENTICATION_FAILED %q and the connection closed", a.ErrorCode, deref(a.ErrorMessage), want)
	}
	if n := counterValue(t, b.sec.reauthTotal.WithLabelValues(ProtocolSASLPlaintext, "OAUTHBEARER", "failure")); n != 1 {
		t.Fatalf("failed re-authentications counted %v", n)
	}

	r = dialSec(t, addr)
	authOn(t, r, "PLAIN", plainTok("alice", "alice-secret"))
	wait()
	resp, err := r.do(handshake(1, "OAUTHBEARER"))
	if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
		t.Fatalf("handshake for another mechanism: %+v %v, want it answered", resp, err)
	}
	if _, err := r.do(authenticate(1, oauthFirst(unsecuredJWT(claimsFor("alice", time.Hour))))); err == nil {
		t.Fatal("re-authentication with another mechanism was answered")
	}

	r = dialSec(t, addr)
	authOn(t, r, "PLAIN", plainTok("alice", "alice-secret"))
	wait()
	a = authOn(t, r, "PLAIN", plainTok("alice", "wrong"))
	if a.ErrorCode != kerr.SaslAuthenticationFailed.Code || !r.closed() {
		t.Fatalf("re-authentication with a wrong password: %d %q", a.ErrorCode, deref(a.ErrorMessage))
	}

	r = dialSec(t, addr)
	authOn(t, r, "PLAIN", plainTok("alice", "alice-secret"))
	wait()
	r.do(handshake(1, "PLAIN"))
	if _, err := r.do(kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("a Metadata between the re-authentication's handshake and SaslAuthenticate was answered")
	}
}

// TestReauthTokenLifetime: an OAUTHBEARER session lasts as long as its
// token, the smaller of that and connections.max.reauth.ms when both are
// set; without either a session has no end.
func TestReauthTokenLifetime(t *testing.T) {
	p := newTestPKI(t)
	for _, tc := range []struct {
		maxReauth, token time.Duration
		lo, hi           int64 // session_lifetime_ms bounds
	}{
		{0, time.Hour, 3599_000 - 2000, 3600_000},
		{10 * time.Second, time.Hour, 10_000, 10_000},
		{time.Hour, 30 * time.Second, 28_000, 30_000},
	} {
		b := startOAuth(t, p, unsecuredConfig(), nil, func(c *Config) { c.ConnectionsMaxReauth = tc.maxReauth })
		r := dialSec(t, b.ListenerAddr(ProtocolSASLPlaintext))
		a := authOn(t, r, "OAUTHBEARER", oauthFirst(unsecuredJWT(claimsFor("alice", tc.token))))
		if a.ErrorCode != 0 || a.SessionLifetimeMillis < tc.lo || a.SessionLifetimeMillis > tc.hi {
			t.Fatalf("max reauth %v, token %v: session_lifetime_ms %d (code %d), want %d..%d", tc.maxReauth, tc.token, a.SessionLifetimeMillis, a.ErrorCode, tc.lo, tc.hi)
		}
		r = dialSec(t, b.ListenerAddr(ProtocolSASLPlaintext))
		if a := authOn(t, r, "PLAIN", plainTok("alice", "alice-secret")); a.SessionLifetimeMillis != tc.maxReauth.Milliseconds() {
			t.Fatalf("PLAIN with max reauth %v: session_lifetime_ms %d", tc.maxReauth, a.SessionLifetimeMillis)
		}
	}
}

// TestReauthFranzConsumer: franz-go re-authenticates by itself when the
// broker gives a session lifetime: a group consumer and a producer keep
// working across several lifetimes, with PLAIN under
// connections.max.reauth.ms and with OAUTHBEARER tokens that expire in
// 3 s (fresh ones fetched at each re-authentication); no connection is
// closed for an expired session.
func TestReauthFranzConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for ~16 s")
	}
	p := newTestPKI(t)
	for _, tc := range []struct {
		name      string
		maxReauth time.Duration
		mech      func() kgo.Opt
	}{
		{"PLAIN", 2 * time.Second, func() kgo.Opt { return kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()) }},
		{"OAUTHBEARER", 0, func() kgo.Opt {
			return kgo.SASL(oauth.Oauth(func(context.Context) (oauth.Auth, error) {
				return oauth.Auth{Token: unsecuredJWT(claimsFor("alice", 3*time.Second))}, nil
			}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startOAuth(t, p, unsecuredConfig(), nil, func(c *Config) { c.ConnectionsMaxReauth = tc.maxReauth })
			addr := b.ListenerAddr(ProtocolSASLSSL)
			tlsOpt := kgo.DialTLSConfig(p.clientTLS())
			topic := "reauth-" + tc.name
			prod := secClient(t, addr, tlsOpt, tc.mech())
			cons := secClient(t, addr, tlsOpt, tc.mech(), kgo.ConsumeTopics(topic), kgo.ConsumerGroup("g-"+tc.name),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			const n = 35 // one every 200 ms: 7 s, several session lifetimes
			var wg sync.WaitGroup
			var perr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
						perr = err
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			}()
			seen := map[string]bool{}
			for len(seen) < n && ctx.Err() == nil {
				fs := cons.PollFetches(ctx)
				for _, e := range fs.Errors() {
					if e.Err != context.DeadlineExceeded {
						t.Fatalf("consume: %v", e.Err)
					}
				}
				fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
			}
			wg.Wait()
			if perr != nil {
				t.Fatalf("produce: %v", perr)
			}
			if len(seen) != n {
				t.Fatalf("consumed %d of %d records", len(seen), n)
			}
			if err := cons.CommitUncommittedOffsets(ctx); err != nil {
				t.Fatal(err)
			}
			re := counterValue(t, b.sec.reauthTotal.WithLabelValues(ProtocolSASLSSL, tc.name, "success"))
			if re < 4 {
				t.Fatalf("re-authentications %v over 7 s of sessions of 2-3 s, want at least 4", re)
			}
			if f := counterValue(t, b.sec.reauthTotal.WithLabelValues(ProtocolSASLSSL, tc.name, "failure")); f != 0 {
				t.Fatalf("failed re-authentications %v", f)
			}
			if k := counterValue(t, b.sec.expiredKilled); k != 0 {
				t.Fatalf("%v connections closed for an expired session", k)
			}
			t.Logf("%s: %v re-authentications", tc.name, re)
		})
	}
}
