package broker

import (
	"testing"
	"time"
)

// TestQuotaSensorsExpire: sensors of clients that stopped are dropped
// once their samples are all past, so cycling through client ids under a
// default quota holds only the last window's sensors.
func TestQuotaSensorsExpire(t *testing.T) {
	set := newQuotaSet(map[quotaEntity]map[string]float64{{client: defaultName}: {keyProducerByteRate: 1000}})
	s := &quotaStore{}
	s.cur.Store(set)
	q := newQuotaManagers(s, 11, time.Second)
	t0 := time.Unix(1000, 0)
	for i := 0; i < 1000; i++ {
		q.record(quotaProduce, "ANONYMOUS", "c"+string(rune('a'+i%26))+time.Duration(i).String(), 10, t0)
	}
	if n := len(q.m[quotaProduce].sensors); n != 1000 {
		t.Fatalf("%d sensors, want 1000", n)
	}
	// Past the whole window (11 s), one more request: the others go.
	q.record(quotaProduce, "ANONYMOUS", "last", 10, t0.Add(12*time.Second))
	if n := len(q.m[quotaProduce].sensors); n != 1 {
		t.Fatalf("%d sensors after the window, want 1", n)
	}
	// Within the window a sensor is kept, with its rate.
	if th := q.record(quotaProduce, "ANONYMOUS", "last", 20000, t0.Add(13*time.Second)); th == 0 {
		t.Fatal("20 KB over 11 s at 1000 B/s not throttled")
	}
}

// TestRequestQuotaExempt: request_percentage charges a request's handler
// time and mutes its connection, except for what Kafka exempts: the SASL
// requests and anything before authentication completes (its
// authenticator answers them), WriteTxnMarkers (a cluster action, sent
// with sendResponseExemptThrottle) and acks=0 produces.
func TestRequestQuotaExempt(t *testing.T) {
	s := &quotaStore{}
	s.cur.Store(newQuotaSet(map[quotaEntity]map[string]float64{{user: defaultName}: {keyRequestPercentage: 1}}))
	b := &Broker{quotas: newQuotaManagers(s, 11, time.Second)}
	for _, tc := range []struct {
		name   string
		key    int16
		state  saslState
		acks0  bool
		exempt bool
	}{
		{"Metadata", 3, saslDone, false, false},
		{"WriteTxnMarkers", 27, saslDone, false, true},
		{"SaslHandshake", 17, saslDone, false, true},
		{"SaslAuthenticate", 36, saslAuthenticate, false, true},
		{"ApiVersions before authentication", 18, saslHandshakeOrVersions, false, true},
		{"acks=0 Produce", 0, saslDone, true, true},
	} {
		// A fresh user each time, so no case sees another's time.
		c := &conn{b: b, sec: connSecurity{state: tc.state, principal: "User:" + tc.name}}
		sl := &slot{key: tc.key, noRequestQuota: tc.acks0}
		// Two seconds of handler time: 200% of one core over the 10 s
		// minimum window is 20%, twenty times the quota.
		c.chargeRequest(sl, "app", time.Now().Add(-2*time.Second))
		muted := c.mutedUntil.Load() > time.Now().UnixNano()
		if tc.exempt && (sl.throttle != 0 || muted) {
			t.Errorf("%s: throttle %d ms, muted %v; want it exempt", tc.name, sl.throttle, muted)
		}
		if !tc.exempt && (sl.throttle != 1000 || !muted) {
			t.Errorf("%s: throttle %d ms, muted %v; want the 1000 ms maximum, muted", tc.name, sl.throttle, muted)
		}
	}
}
