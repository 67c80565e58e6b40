package broker

import (
	"errors"
	"math"
	"time"
)

// The controller mutation quota (controller_mutation_rate, KIP-599), as
// Kafka's ControllerMutationQuotaManager applies it to CreateTopics,
// CreatePartitions and DeleteTopics.
//
// A mutation is a partition created or deleted: a new topic costs its
// partition count (ValidateOnly too: Kafka's controller charges a
// validation as it would the creation), CreatePartitions the partitions
// it adds, a deleted topic the partitions it had. A topic refused for
// another reason (unknown, already there, invalid) costs nothing: the
// quota is consulted after a topic's own checks, just before the change.
//
// The sensor is that of quota_rate.go (same entity resolution, user and
// client-id with their defaults), but it measures a token bucket
// (Kafka's TokenBucket) rather than a rate: credits refill at the quota
// per second up to a burst of quota × --quota-window-num ×
// --quota-window-size, a new sensor starts full, and a mutation takes
// its partitions from it, below zero if need be. Below zero the quota is
// exhausted, for (-credits / quota) seconds.
//
// Two ways to apply it, by request version (Kafka's newQuotaFor):
//   - strict (CreateTopics v6+, DeleteTopics v5+, CreatePartitions v3+,
//     and Metadata's auto-creation): a topic met while the bucket is
//     below zero is refused with THROTTLING_QUOTA_EXCEEDED (no message,
//     as Kafka answers) and costs nothing; one met while it is not is
//     accepted whatever its size, and the request that takes the bucket
//     below zero is not throttled for it.
//   - permissive (older versions, whose clients do not know the error):
//     every topic is accepted and the request is throttled as soon as
//     the bucket is below zero.
//
// The throttle is the time the bucket needs to refill to zero, computed
// when a topic last found it below zero, less the time since (Kafka's
// AbstractControllerMutationQuota.throttleTime); the response carries
// the larger of it and request_percentage's, and the connection is muted
// for as long (quota_conn.go).

// errMutationQuota refuses a topic under a strict quota: the bucket is
// below zero.
var errMutationQuota = errors.New("broker: controller mutation quota exhausted")

// tokenBucket is Kafka's TokenBucket.
type tokenBucket struct {
	tokens float64
	last   int64 // ms; 0 for a new bucket, which the first refill fills
}

func (b *tokenBucket) refill(bound, burst float64, now int64) {
	b.tokens = min(burst, b.tokens+bound*float64(now-b.last)/1000)
	b.last = now
}

// mutationQuota is the controller mutation quota of one request. A nil
// one (no controller_mutation_rate applies) admits everything and never
// throttles.
type mutationQuota struct {
	m      *quotaManager
	tags   sensorKey
	bound  float64
	strict bool
	// throttle (ms) is the one computed at throttledAt.
	throttle    int64
	throttledAt time.Time
}

// mutationQuota returns the controller mutation quota of a request from
// (user, client): strict when its version is at least strictSince.
func (q *quotaManagers) mutationQuota(user, client string, version, strictSince int16) *mutationQuota {
	set := q.store.load()
	if set.has[keyControllerMutationRate] == 0 {
		return nil
	}
	tags, bound, ok := resolve(set, keyControllerMutationRate, user, client)
	if !ok {
		return nil
	}
	return &mutationQuota{m: q.m[quotaMutation], tags: tags, bound: bound, strict: version >= strictSince}
}

// mutationQuota is the controller mutation quota of r, strict from
// version strictSince of its API.
func (r *request) mutationQuota(strictSince int16) *mutationQuota {
	return r.c.b.quotas.mutationQuota(r.c.quotaUser(), r.clientID, r.kreq.GetVersion(), strictSince)
}

// admit charges n mutations. Under a strict quota whose bucket is below
// zero it charges nothing and returns errMutationQuota.
func (mq *mutationQuota) admit(n int32) error { return mq.admitAt(n, time.Now()) }

func (mq *mutationQuota) admitAt(n int32, now time.Time) error {
	if mq == nil {
		return nil
	}
	m := mq.m
	ms := now.UnixMilli()
	burst := mq.bound * float64(m.num) * float64(m.window) / 1000
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sensor(mq.tags, now)
	b := &s.bucket
	b.refill(mq.bound, burst, ms)
	refused := mq.strict && b.tokens < 0
	if !refused {
		b.tokens = min(burst, b.tokens-float64(n))
	}
	if b.tokens < 0 && (refused || !mq.strict) {
		mq.throttle = int64(math.Round(-b.tokens / mq.bound * 1000))
		mq.throttledAt = now
	}
	s.keep = time.Duration((burst - b.tokens) / mq.bound * float64(time.Second))
	if refused {
		return errMutationQuota
	}
	return nil
}

// throttleTime is the request's throttle now, ms.
func (mq *mutationQuota) throttleTime() int32 { return mq.throttleAt(time.Now()) }

func (mq *mutationQuota) throttleAt(now time.Time) int32 {
	if mq == nil || mq.throttle == 0 {
		return 0
	}
	t := mq.throttle - now.Sub(mq.throttledAt).Milliseconds()
	return int32(min(max(t, 0), math.MaxInt32))
}

// throttleMutations makes r's response carry mq's throttle, when it is the
// larger (chargeRequest adds request_percentage's and mutes).
func (r *request) throttleMutations(mq *mutationQuota) {
	if t := mq.throttleTime(); t > r.s.throttle {
		r.s.throttle = t
	}
}
