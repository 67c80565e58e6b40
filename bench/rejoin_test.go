package bench

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage"
)

// TestTimeToRejoin times a 4th member joining a settled group of 3 on an
// in-process Rewind, with each protocol: the time is measured (positive,
// below the 2-minute bound) only once the 4 members own the 4 partitions,
// each once.
func TestTimeToRejoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	for _, serverSide := range []bool{false, true} {
		tg, err := rewindBroker(t.TempDir(), storage.FsyncAlways)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		topic, err := createTopic(ctx, tg, "rejoin", 4)
		if err != nil {
			t.Fatal(err)
		}
		d, dups, err := timeToRejoin(ctx, tg, topic, 3, serverSide)
		cancel()
		tg.close()
		if err != nil || d <= 0 || dups < 0 {
			t.Fatalf("server side %v: %v after %v, %d duplicates", serverSide, err, d, dups)
		}
		t.Logf("server side %v: settled %v after the 4th member joined, %d records polled twice", serverSide, d, dups)
	}
}

// TestRejoinCommitsOnRevoke: a member that has polled every record of
// both partitions gives one up to a newcomer, which resumes where the
// first stopped: no record is polled twice. Autocommit is an hour away,
// so only the members' commit on revoke can tell the newcomer where that
// is (without it, it reads the partition again from the start). Real kgo
// members on an in-process Rewind, with each protocol.
func TestRejoinCommitsOnRevoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	for _, serverSide := range []bool{false, true} {
		t.Run(map[bool]string{false: "classic", true: "consumer"}[serverSide], func(t *testing.T) {
			tg, err := rewindBroker(t.TempDir(), storage.FsyncAlways, func(c *broker.Config) {
				c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupMinHeartbeatInterval = 100*time.Millisecond, 100*time.Millisecond
			})
			if err != nil {
				t.Fatal(err)
			}
			defer tg.close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			topic, err := createTopic(ctx, tg, "revoke", 2)
			if err != nil {
				t.Fatal(err)
			}
			prod, err := kgo.NewClient(kgo.SeedBrokers(tg.addrs()...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			produce := func(n int) {
				t.Helper()
				for i := 0; i < n; i++ {
					for p := int32(0); p < 2; p++ {
						if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("r")}).FirstErr(); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			h := newHoldings(2)
			polled := func(want int) {
				t.Helper()
				for {
					h.mu.Lock()
					n := len(h.polled)
					h.mu.Unlock()
					if n >= want {
						return
					}
					select {
					case <-ctx.Done():
						t.Fatalf("%d records polled, want %d", n, want)
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
			produce(20)
			var clients []*kgo.Client
			defer func() {
				for _, cl := range clients {
					cl.Close()
				}
			}()
			start := func(i int) {
				cl, err := h.startMember(ctx, i, tg.addrs(), topic+"-g", topic, serverSide, kgo.AutoCommitInterval(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				clients = append(clients, cl)
			}
			start(0)
			polled(40)
			h.count()
			start(1)
			if err := h.wait(ctx, 2, 2, time.Minute); err != nil {
				t.Fatal(err)
			}
			produce(1) // polled by each partition's owner, from where it resumed
			polled(42)
			if n := h.duplicates(); n != 0 {
				t.Fatalf("%d records polled again by the newcomer", n)
			}
		})
	}
}

// TestHoldingsSettled: settled needs every partition owned once and every
// member owning one.
func TestHoldingsSettled(t *testing.T) {
	h := newHoldings(3)
	h.change(0, map[string][]int32{"t": {0, 1}}, true)
	h.change(1, map[string][]int32{"t": {2}}, true)
	if !h.settled(2, 3) || h.settled(3, 3) {
		t.Fatal("2 members on 3 partitions, the 3rd member owning none")
	}
	h.change(2, map[string][]int32{"t": {1}}, true) // not yet revoked by member 0
	if h.settled(3, 3) {
		t.Fatal("partition 1 owned twice")
	}
	h.change(0, map[string][]int32{"t": {1}}, false)
	if !h.settled(3, 3) {
		t.Fatal("each of 3 members owns one of 3 partitions")
	}
}

// TestHoldingsDuplicates: from count on, every poll of a record polled
// before is one duplicate, whichever member polls it; polls before count
// are not duplicates of the join.
func TestHoldingsDuplicates(t *testing.T) {
	h := newHoldings(2)
	fetch := func(p int32, offsets ...int64) kgo.Fetches {
		var rs []*kgo.Record
		for _, o := range offsets {
			rs = append(rs, &kgo.Record{Partition: p, Offset: o})
		}
		return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: []kgo.FetchPartition{{Partition: p, Records: rs}}}}}}
	}
	h.poll(fetch(0, 0, 1))
	h.poll(fetch(0, 0)) // a re-read while the group formed
	h.count()
	h.poll(fetch(0, 2, 3))
	h.poll(fetch(1, 1, 2))
	if n := h.duplicates(); n != 0 {
		t.Fatalf("%d duplicates before any record was polled twice since count", n)
	}
	h.poll(fetch(0, 1, 2, 3)) // the new owner from the last commit, 1
	h.poll(fetch(0, 3))
	if n := h.duplicates(); n != 4 {
		t.Fatalf("%d duplicates, want 4 (offset 1 and 2 once more, offset 3 twice more)", n)
	}
}
