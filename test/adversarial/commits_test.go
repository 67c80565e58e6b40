package adversarial

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// commitCounter counts the OffsetCommit requests a kgo client writes.
type commitCounter struct{ n atomic.Int64 }

func (c *commitCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 8 && err == nil {
		c.n.Add(1)
	}
}

// Commits that can never be stored (400 partitions with 4,000 bytes of
// metadata: 1.6 MB, over max.message.bytes of __consumer_offsets), sent by
// 8 clients at once, 5 each: every one is answered UNKNOWN_SERVER_ERROR,
// as Kafka 4.x answers it, and sent once (kgo does not retry that code;
// it retried the NOT_COORDINATOR answered before for 30 s). Nothing is
// stored for the group, the broker's peak RSS stays under 512 MiB, and
// other clients are answered within a second meanwhile.
func TestOversizedCommits(t *testing.T) {
	p := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(p.Client(t))
	if _, err := adm.CreateTopic(ctx, 400, 1, nil, "wide"); err != nil {
		t.Fatal(err)
	}
	meta := strings.Repeat("m", 4000)
	big := kadm.Offsets{}
	for part := int32(0); part < 400; part++ {
		big.Add(kadm.Offset{Topic: "wide", Partition: part, At: 7, LeaderEpoch: -1, Metadata: meta})
	}

	const clients, each = 8, 5
	counters := make([]*commitCounter, clients)
	errs := make(chan error, clients*each)
	var wg sync.WaitGroup
	for i := range counters {
		counters[i] = &commitCounter{}
		cl := kadm.NewClient(p.Client(t, kgo.WithHooks(counters[i])))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				resp, err := cl.CommitOffsets(ctx, "wide-group", big)
				if err == nil {
					resp.Each(func(r kadm.OffsetResponse) {
						if err == nil && !errors.Is(r.Err, kerr.UnknownServerError) {
							err = fmt.Errorf("partition %d: %v", r.Partition, r.Err)
						}
					})
				}
				if err != nil {
					errs <- err
					return // one wrong answer per client is enough
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for probing := true; probing; {
		select {
		case <-done:
			probing = false
		case <-time.After(50 * time.Millisecond):
			pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
			d, err := proctest.MetadataLatency(pctx, p.Addr)
			pcancel()
			if err != nil || d > time.Second {
				t.Fatalf("Metadata during the oversized commits: %v after %s, want an answer within 1s", err, d)
			}
		}
	}
	close(errs)
	for err := range errs {
		t.Fatalf("oversized commit: %v, want UNKNOWN_SERVER_ERROR", err)
	}
	var sent int64
	for _, c := range counters {
		sent += c.n.Load()
	}
	if sent != clients*each {
		t.Fatalf("%d OffsetCommit requests sent for %d commits: kgo retried", sent, clients*each)
	}
	offs, err := adm.FetchOffsets(ctx, "wide-group")
	if err != nil {
		t.Fatal(err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.At >= 0 {
			t.Fatalf("%s/%d committed at %d by a refused commit", o.Topic, o.Partition, o.At)
		}
	})
	rss := p.MustPeakRSSMiB(t)
	t.Logf("%d oversized commits answered, each sent once; peak RSS %d MiB", clients*each, rss)
	if rss > 512 {
		t.Fatalf("peak RSS %d MiB, bound 512 MiB", rss)
	}
}
