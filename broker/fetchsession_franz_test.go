package broker_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFranzConsumerFetchSession: a franz-go consumer (fetch sessions on,
// its default) following 40 partitions of a topic by id (Fetch v13+) while
// records trickle in gets every record once, in order per partition,
// through one session of incremental fetches.
func TestFranzConsumerFetchSession(t *testing.T) {
	b := rewindtest.Start(t)
	const parts, n = 40, 300
	prod := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, prod, "follow", parts)
	cons := newClient(t, b.Addr(), kgo.ConsumeTopics("follow"), kgo.FetchMaxWait(500*time.Millisecond))

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx := testCtx(t, 30*time.Second)
		for i := 0; i < n; i++ {
			r := &kgo.Record{Topic: "follow", Partition: int32(i*7) % parts, Value: []byte(strconv.Itoa(i))}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Errorf("produce %d: %v", i, err)
				return
			}
			if i%10 == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	ctx := testCtx(t, 30*time.Second)
	last := map[int32]int{}
	seen := 0
	for seen < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", seen, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			v, _ := strconv.Atoi(string(r.Value))
			if prev, ok := last[r.Partition]; ok && v <= prev {
				t.Fatalf("partition %d: record %d after %d", r.Partition, v, prev)
			}
			if int32(v*7)%parts != r.Partition {
				t.Fatalf("record %d on partition %d", v, r.Partition)
			}
			last[r.Partition] = v
			seen++
		})
	}
	wg.Wait()
	if seen != n {
		t.Fatalf("consumed %d records, want %d", seen, n)
	}
	st := b.FetchSessions()
	if st.Sessions != 1 || st.Partitions != parts {
		t.Fatalf("%+v: want one session of the consumer's %d partitions", st, parts)
	}
	// Each record woke a fetch at most; many more than a handful of
	// incremental fetches show the client kept its session.
	if st.Incremental < 20 {
		t.Fatalf("%+v: the consumer's fetches were not incremental", st)
	}
}
