package broker

import (
	"math"
	"net"
	"strings"
	"sync"
	"time"
)

// Quota enforcement, as Kafka's ClientQuotaManager and
// ClientRequestQuotaManager do it.
//
// Three quota types: produce (producer_byte_rate, the bytes of each
// Produce request), fetch (consumer_byte_rate, the size of each Fetch
// response: its records and the partitions' fields, as Kafka's
// getResponseSize) and request (request_percentage, the time a request's
// handler ran on the read loop, as a percentage of one core per second).
// A request is charged to the sensor of the most specific entity that
// sets the type's key, in Kafka's order: user+client-id, user+default
// client-id, user, default user+client-id, default user+default
// client-id, default user, client-id, default client-id. A quota set on
// a user is shared by all its clients; one set on a default applies to
// each user or client-id on its own. The user is the connection's
// principal name (ANONYMOUS without authentication).
//
// A sensor is Kafka's Rate over --quota-window-num samples of
// --quota-window-size each (quota.window.num, quota.window.size.seconds):
// the sum of the samples still in the window divided by the time they
// cover, never less than num-1 whole windows. A value is recorded, then
// the rate compared with the quota; above it the request is throttled by
// (rate - quota) / quota × window ms: the response carries that
// throttle_time_ms and the connection is muted (nothing more is read from
// it) for that long (KIP-219). The request throttle is at most one
// window. A throttled fetch is answered without records (its bytes are
// not charged), and a fetch never asks for more than quota ×
// (num-1) × window bytes. connection_creation_rate counts the
// connections accepted from an ip: one over it is closed unserved after
// its throttle time (at most one window), as Kafka's ConnectionQuotas.
// controller_mutation_rate is a token bucket instead (quota_mutation.go).

type quotaKind int

const (
	quotaProduce quotaKind = iota
	quotaFetch
	quotaRequest
	quotaConnection // connection_creation_rate, per ip
	quotaMutation   // controller_mutation_rate, a token bucket (quota_mutation.go)
	numQuotaKinds
)

var quotaKindKey = [numQuotaKinds]string{keyProducerByteRate, keyConsumerByteRate, keyRequestPercentage, keyConnectionCreationRate, keyControllerMutationRate}

// rateSample is one window of a Rate.
type rateSample struct {
	start, last int64 // ms
	value       float64
	events      int64
}

// rate is Kafka's Rate over a windowed sum (SampledStat): num samples
// of window ms, plus one that may overlap the start of the window.
type rate struct {
	samples []rateSample
	current int
}

func (r *rate) cur(now int64) *rateSample {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, rateSample{start: now, last: now})
	}
	return &r.samples[r.current]
}

func (r *rate) record(v float64, now int64, num int, window int64) {
	s := r.cur(now)
	if now-s.start >= window {
		r.current = (r.current + 1) % (num + 1)
		if r.current >= len(r.samples) {
			r.samples = append(r.samples, rateSample{start: now, last: now})
		} else {
			r.samples[r.current] = rateSample{start: now, last: now}
		}
		s = &r.samples[r.current]
	}
	s.value += v
	s.events++
	s.last = now
}

// purge resets the samples with no event within the whole window.
func (r *rate) purge(now int64, num int, window int64) {
	for i := range r.samples {
		if now-r.samples[i].last >= int64(num)*window {
			r.samples[i] = rateSample{start: now, last: now}
		}
	}
}

// windowSize is the time the rate is computed over, ms.
func (r *rate) windowSize(now int64, num int, window int64) int64 {
	r.purge(now, num, window)
	r.cur(now)
	oldest := r.samples[0].start
	for _, s := range r.samples[1:] {
		oldest = min(oldest, s.start)
	}
	elapsed := now - oldest
	if full := elapsed / window; full < int64(num-1) {
		elapsed += (int64(num-1) - full) * window
	}
	return max(elapsed, 1)
}

// measure is the rate per second.
func (r *rate) measure(now int64, num int, window int64) float64 {
	r.purge(now, num, window)
	var sum float64
	for _, s := range r.samples {
		sum += s.value
	}
	return sum / (float64(r.windowSize(now, num, window)) / 1000)
}

type sensorKey struct{ user, client string }

type quotaSensor struct {
	rate rate
	used time.Time
	// bucket is the controller mutation quota's, and keep how long after
	// used it takes to refill: the sensor is kept that long at least.
	bucket tokenBucket
	keep   time.Duration
}

// quotaManager holds the sensors of one quota type.
type quotaManager struct {
	kind    quotaKind
	num     int
	window  int64 // ms
	mu      sync.Mutex
	sensors map[sensorKey]*quotaSensor
	swept   time.Time
}

type quotaManagers struct {
	store *quotaStore
	m     [numQuotaKinds]*quotaManager
}

func newQuotaManagers(store *quotaStore, num int, window time.Duration) *quotaManagers {
	q := &quotaManagers{store: store}
	for k := range q.m {
		q.m[k] = &quotaManager{kind: quotaKind(k), num: num, window: window.Milliseconds(), sensors: map[sensorKey]*quotaSensor{}}
	}
	return q
}

// quotaUserName is the principal's name, as Kafka's quota entities name
// users.
func quotaUserName(principal string) string {
	_, name, ok := strings.Cut(principal, ":")
	if !ok {
		return principal
	}
	return name
}

// resolve finds the sensor a (user, client-id) is charged to for key and
// its quota, as Kafka's DefaultQuotaCallback (quotaMetricTags, then
// quotaLimit). ok is false when no quota applies.
func resolve(set *quotaSet, key, user, client string) (sensorKey, float64, bool) {
	has := func(u, c entityName) bool {
		_, ok := set.get(quotaEntity{user: u, client: c}, key)
		return ok
	}
	var none entityName
	u, c := named(user), named(client)
	var tags sensorKey
	switch {
	case has(u, c), has(u, defaultName):
		tags = sensorKey{user, client}
	case has(u, none):
		tags = sensorKey{user, ""}
	case has(defaultName, c), has(defaultName, defaultName):
		tags = sensorKey{user, client}
	case has(defaultName, none):
		tags = sensorKey{user, ""}
	default:
		tags = sensorKey{"", client}
	}
	get := func(u, c entityName) (float64, bool) {
		return set.get(quotaEntity{user: u, client: c}, key)
	}
	tu, tc := named(tags.user), named(tags.client)
	var order [][2]entityName
	switch {
	case tags.user != "" && tags.client != "":
		order = [][2]entityName{{tu, tc}, {tu, defaultName}, {defaultName, tc}, {defaultName, defaultName}}
	case tags.user != "":
		order = [][2]entityName{{tu, none}, {defaultName, none}}
	case tags.client != "":
		order = [][2]entityName{{none, tc}, {none, defaultName}}
	}
	for _, o := range order {
		if v, ok := get(o[0], o[1]); ok {
			return tags, v, true
		}
	}
	return tags, 0, false
}

// active reports whether a quota of kind is set for anyone.
func (q *quotaManagers) active(kind quotaKind) bool {
	return q.store.load().has[quotaKindKey[kind]] != 0
}

// record charges v to the sensor of (user, client) and returns the
// throttle time in ms (0 under the quota or without one).
func (q *quotaManagers) record(kind quotaKind, user, client string, v float64, now time.Time) int32 {
	set := q.store.load()
	key := quotaKindKey[kind]
	if set.has[key] == 0 {
		return 0
	}
	tags, bound, ok := resolve(set, key, user, client)
	if !ok {
		return 0
	}
	m := q.m[kind]
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sensor(tags, now)
	s.rate.record(v, ms, m.num, m.window)
	val := s.rate.measure(ms, m.num, m.window)
	if val <= bound {
		return 0
	}
	t := math.Round((val - bound) / bound * float64(s.rate.windowSize(ms, m.num, m.window)))
	if kind == quotaRequest {
		t = min(t, float64(m.window)) // ClientRequestQuotaManager's maxThrottleTimeMs
	}
	return int32(min(t, math.MaxInt32))
}

// connection records a new connection from ip against its
// connection_creation_rate (the ip's own, else the default ip's, as
// Kafka's ConnectionQuotas.connectionRateForIp) and returns how long to
// hold it before closing it unserved, at most one window; 0 accepts it.
// A throttled connection is not counted (Kafka unrecords it).
func (q *quotaManagers) connection(ip net.IP, now time.Time) time.Duration {
	set := q.store.load()
	if set.has[keyConnectionCreationRate] == 0 || ip == nil {
		return 0
	}
	bound, ok := set.ipRate(ip)
	if !ok {
		return 0
	}
	m := q.m[quotaConnection]
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sensor(sensorKey{user: ip.String()}, now)
	s.rate.record(1, ms, m.num, m.window)
	val := s.rate.measure(ms, m.num, m.window)
	if val <= bound {
		return 0
	}
	t := min(math.Round((val-bound)/bound*float64(s.rate.windowSize(ms, m.num, m.window))), float64(m.window))
	s.rate.record(-1, ms, m.num, m.window)
	return time.Duration(t) * time.Millisecond
}

// unrecord takes back what a throttled fetch recorded.
func (q *quotaManagers) unrecord(kind quotaKind, user, client string, v float64, now time.Time) {
	set := q.store.load()
	tags, _, ok := resolve(set, quotaKindKey[kind], user, client)
	if !ok {
		return
	}
	m := q.m[kind]
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sensor(tags, now).rate.record(-v, now.UnixMilli(), m.num, m.window)
}

// maxInWindow is the most a single value may be without being throttled
// whatever came before (Kafka's getMaxValueInQuotaWindow), or false.
func (q *quotaManagers) maxInWindow(kind quotaKind, user, client string) (float64, bool) {
	set := q.store.load()
	key := quotaKindKey[kind]
	if set.has[key] == 0 {
		return 0, false
	}
	_, bound, ok := resolve(set, key, user, client)
	if !ok {
		return 0, false
	}
	m := q.m[kind]
	return bound * float64(m.num-1) * float64(m.window) / 1000, true
}

// sensor returns the sensor of tags. Sensors unused for the whole quota
// window are dropped, at most once a window: every sample of such a
// sensor is past (its rate is 0), so dropping it changes no throttle, and
// a client cycling through client ids holds only the sensors of the
// last window (Kafka keeps them an hour, for its per-client metrics). A
// token bucket is kept until it is full again (keep): a new one starts
// full, so dropping it then changes nothing either. Called with m.mu
// held.
func (m *quotaManager) sensor(tags sensorKey, now time.Time) *quotaSensor {
	expiry := time.Duration(int64(m.num)*m.window) * time.Millisecond
	if now.Sub(m.swept) > time.Duration(m.window)*time.Millisecond {
		m.swept = now
		for k, s := range m.sensors {
			if now.Sub(s.used) > max(expiry, s.keep) {
				delete(m.sensors, k)
			}
		}
	}
	s, ok := m.sensors[tags]
	if !ok {
		s = &quotaSensor{}
		m.sensors[tags] = s
	}
	s.used = now
	return s
}
