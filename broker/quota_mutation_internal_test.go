package broker

import (
	"errors"
	"testing"
	"time"
)

func mutationManagers(quotas map[quotaEntity]map[string]float64) *quotaManagers {
	s := &quotaStore{}
	s.cur.Store(newQuotaSet(quotas))
	return newQuotaManagers(s, 11, time.Second)
}

// TestMutationTokenBucket: the bucket's arithmetic as Kafka's TokenBucket
// and Strict/PermissiveControllerMutationQuota do it, on a clock the test
// sets: a new bucket holds quota × samples × window (2 × 11 × 1 s = 22);
// a strict quota admits any topic met while the bucket is not below zero
// and does not throttle for it, refuses (and charges nothing) once it is,
// with the time to refill to zero as the throttle, less the time since;
// a permissive one admits all and throttles as soon as it is below zero.
func TestMutationTokenBucket(t *testing.T) {
	q := mutationManagers(map[quotaEntity]map[string]float64{{client: named("c")}: {keyControllerMutationRate: 2}})
	t0 := time.Unix(1_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	strict := func() *mutationQuota { return q.mutationQuota("ANONYMOUS", "c", 7, 6) }
	permissive := func() *mutationQuota { return q.mutationQuota("ANONYMOUS", "c", 5, 6) }
	if q.mutationQuota("ANONYMOUS", "other", 7, 6) != nil {
		t.Fatal("a client without controller_mutation_rate has a quota")
	}

	// 22 credits: 30 partitions in one topic are admitted (the bucket was
	// not below zero), leaving -8, and the request is not throttled.
	mq := strict()
	if err := mq.admitAt(30, at(0)); err != nil {
		t.Fatalf("first topic: %v", err)
	}
	if th := mq.throttleAt(at(0)); th != 0 {
		t.Fatalf("strict request that crossed the quota throttled %d ms", th)
	}
	// The next topic of the same request meets -8: refused, 4 s to refill.
	if err := mq.admitAt(1, at(0)); !errors.Is(err, errMutationQuota) {
		t.Fatalf("second topic: %v, want errMutationQuota", err)
	}
	if th := mq.throttleAt(at(0)); th != 4000 {
		t.Fatalf("throttle %d ms, want 4000", th)
	}
	if th := mq.throttleAt(at(1500 * time.Millisecond)); th != 2500 {
		t.Fatalf("throttle 1.5 s later %d ms, want 2500", th)
	}
	if th := mq.throttleAt(at(5 * time.Second)); th != 0 {
		t.Fatalf("throttle after it passed %d ms, want 0", th)
	}

	// 1 s later: -6, still refused, and a refusal charges nothing.
	mq = strict()
	for range 3 {
		if err := mq.admitAt(1, at(time.Second)); !errors.Is(err, errMutationQuota) {
			t.Fatalf("at 1 s: %v, want errMutationQuota", err)
		}
	}
	if th := mq.throttleAt(at(time.Second)); th != 3000 {
		t.Fatalf("throttle at 1 s %d ms, want 3000", th)
	}

	// Permissive: admitted, -7, throttled 3.5 s.
	mq = permissive()
	if err := mq.admitAt(1, at(time.Second)); err != nil {
		t.Fatalf("permissive: %v", err)
	}
	if th := mq.throttleAt(at(time.Second)); th != 3500 {
		t.Fatalf("permissive throttle %d ms, want 3500", th)
	}

	// Back at zero 3.5 s later: admitted again, however many.
	mq = strict()
	if err := mq.admitAt(100, at(4500*time.Millisecond)); err != nil {
		t.Fatalf("at zero: %v", err)
	}
	if th := mq.throttleAt(at(4500 * time.Millisecond)); th != 0 {
		t.Fatalf("throttle %d ms, want 0", th)
	}

	// The bucket refills up to its burst only: long after, 22 credits,
	// then 23 partitions take it to -1 and the next topic is refused.
	mq = strict()
	later := at(time.Hour)
	if err := mq.admitAt(23, later); err != nil {
		t.Fatal(err)
	}
	if err := mq.admitAt(1, later); !errors.Is(err, errMutationQuota) {
		t.Fatalf("after a full refill and 23 partitions: %v, want errMutationQuota", err)
	}
	if th := mq.throttleAt(later); th != 500 {
		t.Fatalf("throttle %d ms, want 500", th)
	}
}

// TestMutationQuotaSensorKept: a bucket far below zero outlives the
// quota window that drops other sensors, until it has refilled; then it
// goes, and the client's next bucket starts full.
func TestMutationQuotaSensorKept(t *testing.T) {
	q := mutationManagers(map[quotaEntity]map[string]float64{{client: defaultName}: {keyControllerMutationRate: 1}})
	t0 := time.Unix(1_000_000, 0)
	// 1000 partitions from 11 credits: -989, 989 s to refill, 1000 s to
	// be full again.
	if err := q.mutationQuota("u", "big", 5, 6).admitAt(1000, t0); err != nil {
		t.Fatal(err)
	}
	other := func(d time.Duration) {
		t.Helper()
		if err := q.mutationQuota("u", "other", 7, 6).admitAt(1, t0.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	m := q.m[quotaMutation]
	other(30 * time.Second) // sweeps: the window (11 s) has passed
	if _, ok := m.sensors[sensorKey{"", "big"}]; !ok {
		t.Fatal("a bucket 959 s from zero was dropped after 30 s")
	}
	mq := q.mutationQuota("u", "big", 7, 6)
	if err := mq.admitAt(1, t0.Add(30*time.Second)); !errors.Is(err, errMutationQuota) {
		t.Fatalf("30 s later: %v, want errMutationQuota", err)
	}
	if th := mq.throttleAt(t0.Add(30 * time.Second)); th != 959000 {
		t.Fatalf("throttle %d ms, want 959000", th)
	}
	other(1100 * time.Second)
	if _, ok := m.sensors[sensorKey{"", "big"}]; ok {
		t.Fatal("a bucket full again was kept")
	}
	mq = q.mutationQuota("u", "big", 7, 6)
	if err := mq.admitAt(11, t0.Add(1100*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := mq.admitAt(1, t0.Add(1100*time.Second)); err != nil {
		t.Fatalf("a new bucket is not full: %v", err)
	}
	if err := mq.admitAt(1, t0.Add(1100*time.Second)); !errors.Is(err, errMutationQuota) {
		t.Fatalf("a new bucket holds more than its burst: %v", err)
	}
}
