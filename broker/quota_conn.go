package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// How a connection's requests are charged to client quotas and throttled
// (quota_rate.go): the handler's time on the read loop to
// request_percentage, after the handler ran; a throttled request's
// response carries the throttle time and the connection reads nothing
// more until it has passed (KIP-219: the response itself goes out at
// once; clients that know KIP-219 also hold their next request).

// quotaUser is the user name the connection's requests are charged to.
func (c *conn) quotaUser() string { return quotaUserName(c.principal()) }

// chargeRequest records the time the handler of s took, from start, and
// mutes the connection for the request's throttle so far (produce sets
// its bandwidth throttle in its handler), unless the request is exempt
// (requestQuotaExempt).
func (c *conn) chargeRequest(s *slot, clientID string, start time.Time) {
	if !c.requestQuotaExempt(s) {
		nowT := time.Now()
		pct := float64(nowT.Sub(start).Nanoseconds()) * 100 / 1e9
		if t := c.b.quotas.record(quotaRequest, c.quotaUser(), clientID, pct, nowT); t > s.throttle {
			s.throttle = t
		}
	}
	if s.throttle > 0 {
		c.mute(s.throttle)
		s.muted = s.throttle
	}
}

// requestQuotaExempt reports whether s's request is left out of
// request_percentage, as Kafka leaves out: what its SASL authenticator
// answers rather than KafkaApis (SaslHandshake, SaslAuthenticate and
// anything before authentication is complete), WriteTxnMarkers, a
// cluster action KafkaApis answers with sendResponseExemptThrottle, and
// an acks=0 produce (noRequestQuota).
func (c *conn) requestQuotaExempt(s *slot) bool {
	return s.noRequestQuota || s.key == 17 || s.key == 36 || s.key == 27 || c.sec.state != saslDone
}

// throttleResponse puts the throttle time in s's response and, when it
// grew after the handler (a fetch's bandwidth), mutes the connection for
// it from now.
func (c *conn) throttleResponse(s *slot) {
	if s.throttle <= 0 {
		return
	}
	if s.throttle > s.muted {
		c.mute(s.throttle)
		s.muted = s.throttle
	}
	resp := s.resp
	if sr, ok := resp.(*splicedResponse); ok {
		resp = sr.Response
	}
	if tr, ok := resp.(kmsg.SetThrottleResponse); ok {
		tr.SetThrottle(s.throttle)
	}
}

// mute stops reads from the connection for ms from now (or longer if it
// is muted longer already).
func (c *conn) mute(ms int32) {
	until := time.Now().Add(time.Duration(ms) * time.Millisecond).UnixNano()
	for {
		cur := c.mutedUntil.Load()
		if cur >= until || c.mutedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// waitMuted returns once the connection is not muted, or when it ends.
// A muted connection is not read, so a client gone meanwhile is not seen:
// as Kafka's selector closes any connection without activity for
// connections.max.idle.ms, muted or not, one muted that long after its
// last read and write, with no response awaited, is closed (errIdle)
// rather than held for a throttle that may be days (bandwidth throttles
// are not bounded).
func (c *conn) waitMuted() error {
	idle := c.b.cfg.ConnectionsMaxIdle
	for {
		d := time.Until(time.Unix(0, c.mutedUntil.Load()))
		if d <= 0 {
			return nil
		}
		switch {
		case idle <= 0:
		case c.awaiting():
			d = min(d, idle) // look again once it may have been written
		default:
			left := time.Until(c.lastActive().Add(idle))
			if left <= 0 {
				return errIdle
			}
			d = min(d, left)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return c.ctx.Err()
		}
	}
}
