package broker

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
	return c.create(req, items, f, 0)
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

// TestFetchSessionEvictedWhileWaiting: an incremental fetch that waits
// while the cache evicts its session for a newcomer is still woken by a
// record on its partition, as Kafka's delayed fetch waits on partitions
// whatever becomes of the session: it answers long before MaxWaitMillis.
func TestFetchSessionEvictedWhileWaiting(t *testing.T) {
	b := startTest(t, WithGroupInitialRebalanceDelay(0), WithFetchSessionCache(8, 0))
	var skew atomic.Int64 // the cache's clock runs ahead of time.Now by skew
	c := b.sessions()
	c.mu.Lock()
	c.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	c.mu.Unlock()
	cl := secClient(t, b.Addr())
	ctx := secCtx(t)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "evict"); err != nil {
		t.Fatal(err)
	}
	fetch := func(cl *kgo.Client, id, epoch int32, wait int32) (*kmsg.FetchResponse, error) {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 12, -1, wait, 1, 1<<20
		req.SessionID, req.SessionEpoch = id, epoch
		if epoch == 0 {
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "evict"
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes, fp.LogStartOffset = 1<<20, -1
			ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
			req.Topics = []kmsg.FetchRequestTopic{ft}
		}
		resp, err := cl.Broker(0).Request(ctx, pinnedReq{req})
		if err != nil {
			return nil, err
		}
		return resp.(*kmsg.FetchResponse), nil
	}
	// Both sessions in shard 0, which holds one.
	setShard := func() { c.mu.Lock(); c.next = 0; c.mu.Unlock() }
	setShard()
	first, err := fetch(cl, 0, 0, 10)
	if err != nil || first.SessionID == 0 {
		t.Fatalf("full fetch: %v, session %v", err, first)
	}
	type answer struct {
		resp *kmsg.FetchResponse
		err  error
		at   time.Time
	}
	done := make(chan answer, 1)
	waiter := secClient(t, b.Addr()) // a connection of its own while it waits
	go func() {
		resp, err := fetch(waiter, first.SessionID, 1, 8000)
		done <- answer{resp, err, time.Now()}
	}()
	for deadline := time.Now().Add(5 * time.Second); b.FetchSessions().Incremental == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the incremental fetch did not come")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Unused for over 2 minutes: a new session takes its place.
	skew.Store(int64(3 * time.Minute))
	setShard()
	if second, err := fetch(cl, 0, 0, 10); err != nil || second.SessionID == 0 {
		t.Fatalf("newcomer: %v, %+v", err, second)
	}
	if st := b.FetchSessions(); st.Evicted != 1 {
		t.Fatalf("%+v, want the first session evicted", st)
	}
	produced := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "evict", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	if took := a.at.Sub(produced); took > 4*time.Second {
		t.Fatalf("answered %v after the produce: the evicted session's fetch did not hear it", took)
	}
	if len(a.resp.Topics) != 1 || len(a.resp.Topics[0].Partitions) != 1 || len(a.resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("answered %+v, want the record", a.resp.Topics)
	}
}
