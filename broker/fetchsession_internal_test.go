package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testSessionCache is a session cache on a fake clock, of no broker (the
// partitions it caches have no logs).
func testSessionCache(slots int, clock *time.Time) *fetchSessionCache {
	c := &fetchSessionCache{b: &Broker{}, now: func() time.Time { return *clock }}
	for i := range c.shards {
		c.shards[i].max = slots / fetchSessionShards
	}
	return c
}

// fullFetch offers the cache a session of n partitions in shard (as the
// round robin would have it) and returns its id, 0 for none.
func fullFetch(c *fetchSessionCache, shard, n int) int32 {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	items := make([]fetchItem, n)
	f := &fetched{}
	for i := range items {
		items[i] = fetchItem{topic: "t", rp: kmsg.FetchRequestTopicPartition{Partition: int32(i)}}
		p := kmsg.NewFetchResponseTopicPartition()
		f.parts = append(f.parts, &p)
		f.logs = append(f.logs, nil)
	}
	c.next = shard
	return c.create(req, items, f)
}

// touch sends the session an incremental fetch at its current epoch.
func touch(t *testing.T, c *fetchSessionCache, id int32) {
	t.Helper()
	s := c.lookup(id)
	if s == nil {
		t.Fatalf("session %d not cached", id)
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.SessionID, req.SessionEpoch = 12, id, s.epoch
	if fc, _ := c.newContext(req, nil); fc.err != 0 || fc.sess != s {
		t.Fatalf("incremental fetch of %d: %v", id, kerr.ErrorForCode(fc.err))
	}
}

// TestFetchSessionEviction: FetchSessionCacheShard.tryEvict's rules, per
// shard. A full shard takes a new session only by evicting one unused for
// more than 2 minutes, or else the smallest session created more than 2
// minutes ago (as of its last use) when the new one is larger.
func TestFetchSessionEviction(t *testing.T) {
	now := time.Unix(1e9, 0)
	c := testSessionCache(16, &now) // 2 per shard
	a := fullFetch(c, 0, 2)
	b := fullFetch(c, 0, 3)
	if a == 0 || b == 0 || a/fetchSessionIDRange != 0 || b/fetchSessionIDRange != 0 {
		t.Fatalf("sessions %d, %d: want two in shard 0's id range", a, b)
	}
	if id := fullFetch(c, 1, 1); id/fetchSessionIDRange != 1 {
		t.Fatalf("session %d of shard 1 outside its id range", id)
	}
	// Shard 0 full, nobody stale or old enough: refused, even larger.
	now = now.Add(time.Minute)
	if id := fullFetch(c, 0, 10); id != 0 {
		t.Fatal("a full shard of young sessions took a new one")
	}
	// 3 minutes in: a and b are old, both used now. A session of 2 does
	// not evict the smallest (a, 2 partitions); one of 4 does.
	now = now.Add(2 * time.Minute)
	touch(t, c, a)
	touch(t, c, b)
	if id := fullFetch(c, 0, 2); id != 0 {
		t.Fatal("a session evicted one of the same size")
	}
	d := fullFetch(c, 0, 4)
	if d == 0 || c.lookup(a) != nil || c.lookup(b) == nil {
		t.Fatalf("a larger session: got %d, a cached %v, b cached %v; want a evicted", d, c.lookup(a) != nil, c.lookup(b) != nil)
	}
	// b unused for more than 2 minutes: stale, evicted by any session.
	now = now.Add(2*time.Minute + time.Second)
	touch(t, c, d)
	e := fullFetch(c, 0, 1)
	if e == 0 || c.lookup(b) != nil || c.lookup(d) == nil {
		t.Fatalf("stale eviction: got %d, b cached %v, d cached %v", e, c.lookup(b) != nil, c.lookup(d) != nil)
	}
	if st := c.stats(); st.Sessions != 3 || st.Partitions != 1+4+1 || st.Evicted != 2 {
		t.Fatalf("stats %+v; want 3 sessions, 6 partitions, 2 evicted", st)
	}
	// Fewer than 8 slots: no shard holds a session, as in Kafka.
	if id := fullFetch(testSessionCache(7, &now), 3, 1); id != 0 {
		t.Fatal("a session with 7 slots")
	}
}

func TestNextEpoch(t *testing.T) {
	for _, c := range [][2]int32{{0, 1}, {1, 2}, {-1, -1}, {1<<31 - 1, 1}} {
		if got := nextEpoch(c[0]); got != c[1] {
			t.Errorf("nextEpoch(%d) = %d, want %d", c[0], got, c[1])
		}
	}
}
