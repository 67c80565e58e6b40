package broker

import (
	"errors"
	"fmt"
	"time"
)

// Re-authentication (KIP-368), as Kafka's SaslServerAuthenticator,
// KafkaChannel and SocketServer do it.
//
// A SASL session has an end when the credential has one (an OAUTHBEARER
// token's exp) or Config.ConnectionsMaxReauth (connections.max.reauth.ms)
// is set: the nearer of the two. SaslAuthenticate v1+ tells the client
// how long its session lasts (session_lifetime_ms; 0 = no end). A client
// re-authenticates on the open connection by sending SaslHandshake and
// SaslAuthenticate again; the session starts over, with the same
// mechanism and the same principal (another mechanism, or a token of
// another principal, fails the re-authentication and closes the
// connection). Once the session has ended, any request other than the
// SaslHandshake that begins a re-authentication closes the connection,
// without an answer. A re-authentication may begin at most once a
// second; a SaslHandshake sooner, or on a session without an end, is
// answered ILLEGAL_SASL_STATE as any SaslHandshake after authentication.

// errSessionExpired closes a connection whose SASL session has ended.
var errSessionExpired = errors.New("SASL session expired without re-authentication")

// minReauthInterval is Kafka's MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS.
const minReauthInterval = time.Second

// reauthState is what a re-authentication must keep from the session it
// renews.
type reauthState struct {
	principal string // the principal it must authenticate again
	mech      string // the mechanism it must use
	badMech   string // another mechanism its SaslHandshake asked for
}

// startSession sets the end of the session just authenticated and returns
// its lifetime, as ReauthInfo.calcCompletionTimesAndReturnSessionLifetimeMs:
// the credential's remaining life and connections.max.reauth.ms, the
// smaller of those set; 0 if neither is.
func (c *conn) startSession(now time.Time) time.Duration {
	maxReauth, cred := c.b.cfg.ConnectionsMaxReauth, c.sec.credExpiry
	c.sec.credExpiry = time.Time{}
	var lifetime time.Duration
	switch {
	case cred.IsZero() && maxReauth <= 0:
		c.sec.expiry = time.Time{}
		return 0
	case cred.IsZero():
		lifetime = maxReauth
	case maxReauth <= 0:
		lifetime = cred.Sub(now)
	default:
		lifetime = min(cred.Sub(now), maxReauth)
	}
	lifetime = max(lifetime, 0).Truncate(time.Millisecond)
	c.sec.expiry = now.Add(lifetime)
	return lifetime
}

// checkSession runs before each request of an authenticated connection
// (SocketServer.processCompletedReceives): a SaslHandshake begins a
// re-authentication if the session has an end and none began within the
// last second; else a request after the session's end closes the
// connection.
func (c *conn) checkSession(key int16) error {
	if c.sec.state != saslDone || c.sec.expiry.IsZero() {
		return nil
	}
	now := time.Now()
	if key == 17 && (c.sec.lastReauth.IsZero() || now.Sub(c.sec.lastReauth) >= minReauthInterval) {
		c.sec.lastReauth = now
		c.sec.reauth = &reauthState{principal: c.sec.principal, mech: c.sec.mech}
		c.sec.state = saslHandshake
		return nil
	}
	if now.After(c.sec.expiry) {
		c.b.sec.expiredKilled.Inc()
		return fmt.Errorf("%w (principal %s, session ended %v ago): connection closed", errSessionExpired, c.sec.principal, now.Sub(c.sec.expiry).Round(time.Millisecond))
	}
	return nil
}

// reauthBadMech fails a re-authentication whose SaslHandshake named
// another mechanism than the session's: Kafka answered the handshake and
// closes the connection on the next request, without an answer.
func (c *conn) reauthBadMech() error {
	msg := fmt.Sprintf("SASL mechanism '%s' requested by client is not supported for re-authentication of mechanism '%s'", c.sec.reauth.badMech, c.sec.reauth.mech)
	c.authFailed("", msg)
	return errors.New(msg)
}
