package adversarial

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestFetchSessionFlood: clients open every fetch session they can, each
// over 5,000 partitions (of a topic that does not exist, which costs the
// attacker nothing to name): 1,000 full fetches, the default
// --fetch-session-cache-slots. Cached whole that would be 5 million
// partitions, over a GiB; --fetch-session-partitions (200,000) bounds what
// the sessions hold together, so the broker's peak RSS stays under
// peakRSSBound, other clients are answered within probeBound, and a
// consumer that comes afterwards is still served.
func TestFetchSessionFlood(t *testing.T) {
	p := start(t)
	cl := p.Client(t)
	proctest.CreateTopic(t, cl, "real", 4)
	proctest.ProduceStrings(t, cl, "real", proctest.Seq("v", 20)...)

	const conns, perConn, parts = 4, 250, 5000
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
	req.SessionID, req.SessionEpoch = 0, 0
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "ghost"
	for i := int32(0); i < parts; i++ {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.PartitionMaxBytes, fp.LogStartOffset = i, 1<<20, -1
		ft.Partitions = append(ft.Partitions, fp)
	}
	req.Topics = append(req.Topics, ft)

	// Fetch by name: kgo raises a request to the broker's highest
	// version, which names topics by id from v13.
	byName := kversion.Stable()
	byName.SetMaxKeyVersion(1, 12)
	var sessions, answered int
	var mu sync.Mutex
	underAttack(t, p, func() attackResult {
		var wg sync.WaitGroup
		for c := 0; c < conns; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				acl, err := kgo.NewClient(kgo.SeedBrokers(p.Addr), kgo.MaxVersions(byName))
				if err != nil {
					t.Error(err)
					return
				}
				defer acl.Close()
				ctx, cancel := context.WithTimeout(context.Background(), attackBudget)
				defer cancel()
				for i := 0; i < perConn; i++ {
					resp, err := req.RequestWith(ctx, acl)
					if err != nil {
						t.Errorf("fetch %d: %v", i, err)
						return
					}
					if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != parts {
						t.Errorf("fetch %d: %v with %d topics", i, kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
						return
					}
					if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
						t.Errorf("fetch %d: partition answered %v, want UNKNOWN_TOPIC_OR_PARTITION", i, kerr.ErrorForCode(code))
						return
					}
					mu.Lock()
					answered++
					if resp.SessionID != 0 {
						sessions++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return attackResult{}
	})
	t.Logf("%d full fetches answered, %d of them with a session", answered, sessions)
	if answered != conns*perConn {
		t.Fatalf("%d of %d fetches answered", answered, conns*perConn)
	}
	// 200,000 partitions hold 40 sessions of 5,000.
	if sessions != 200000/parts {
		t.Errorf("%d sessions created, want %d (--fetch-session-partitions / %d)", sessions, 200000/parts, parts)
	}

	// A consumer now: served (without a session while the attacker's
	// hold the cache), every record.
	cons := p.Client(t, kgo.ConsumeTopics("real"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := proctest.Ctx(t, 20*time.Second)
	got := 0
	for got < 20 && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("consumer: %v", err)
			}
		})
		got += fs.NumRecords()
	}
	if got != 20 {
		t.Fatalf("consumer got %d of 20 records after the flood", got)
	}
}
