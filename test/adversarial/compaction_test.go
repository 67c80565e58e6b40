package adversarial

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The attack of issue 11 on compaction: a client fills a compacted topic
// with distinct keys of 1 KiB. A compaction that holds every key of the
// closed segments in memory takes as much memory as the keys (here 320
// MiB); the broker's offset map (--log-cleaner-dedupe-buffer-size, 1 MiB
// here: about 39,000 keys) bounds it, and the run cleans in passes.
//
// The bound sits below the 320 MiB the keys alone take, with room for what
// the garbage collector lags behind when the machine's cores are busy:
// the broker peaks at 83-94 MiB on an idle 2-core machine, but at up to
// 237 MiB while other test packages load both cores (measured at the same
// commit), which a bound of 192 MiB turned into a flaky failure.

const (
	compactKeys      = 320_000
	compactKeyBytes  = 1 << 10
	compactOverwrite = 1000 // the first keys written again: compaction removes the originals
	compactRSSBound  = 288 << 20
)

func TestCompactionOfManyDistinctKeysStaysWithinMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("produces 320 MiB")
	}
	p := start(t, "--log-cleaner-dedupe-buffer-size", strconv.Itoa(1<<20))
	cl := p.Client(t, kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedBytes(16<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)
	// Segments of 16 MiB, the active one rolled a second after its first
	// record so that compaction reaches every record, and a run for any
	// new data (one may run while the keys are being produced).
	res, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy":            ptr("compact"),
		"segment.bytes":             ptr(strconv.Itoa(16 << 20)),
		"max.compaction.lag.ms":     ptr("1000"),
		"min.cleanable.dirty.ratio": ptr("0.01"),
	}, "keys")
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}

	key := func(i int) []byte {
		k := make([]byte, compactKeyBytes)
		copy(k, fmt.Sprintf("key-%08d-", i))
		return k
	}
	produce := func(from, to int) {
		t.Helper()
		errs := make(chan error, 1)
		for i := from; i < to; i++ {
			cl.Produce(ctx, &kgo.Record{Topic: "keys", Key: key(i), Value: []byte("v")}, func(_ *kgo.Record, err error) {
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
	produce(0, compactKeys)
	produce(0, compactOverwrite)

	// Compaction runs at the next retention check (every 30 s). Until it
	// has removed the overwritten originals, Metadata must be answered
	// within a second.
	deadline := time.Now().Add(3 * time.Minute)
	var worst time.Duration
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := proctest.MetadataLatency(pctx, p.Addr)
		pcancel()
		if err != nil {
			t.Fatalf("Metadata during compaction: %v", err)
		}
		worst = max(worst, d)
		if d > time.Second {
			t.Fatalf("Metadata took %v during compaction", d)
		}
		// The originals go with the first pass; the run has ended when
		// it logs what it did.
		if firstOffset(ctx, t, p.Addr) == compactOverwrite && compactionPasses(p.Log()) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("compaction did not remove the overwritten records within 3 minutes:\n%s", p.Log())
		}
		time.Sleep(500 * time.Millisecond)
	}
	// More than one pass: the keys do not fit in 1 MiB.
	passes := compactionPasses(p.Log())
	peak := p.MustPeakRSSMiB(t)
	t.Logf("compaction of %d keys of %d bytes: %d passes, broker peak RSS %d MiB, slowest Metadata %v", compactKeys, compactKeyBytes, passes, peak, worst)
	if passes < 2 {
		t.Fatalf("%d passes for %d keys in a 1 MiB offset map", passes, compactKeys)
	}
	if peak > compactRSSBound>>20 {
		t.Fatalf("broker peak RSS %d MiB, bound %d MiB", peak, compactRSSBound>>20)
	}
}

func ptr(s string) *string { return &s }

// compactionPasses is the most passes a compaction logged by the broker
// took (0: none logged).
func compactionPasses(log string) int {
	passes := 0
	for _, m := range regexp.MustCompile(`"compacted log".* passes=(\d+)`).FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		passes = max(passes, n)
	}
	return passes
}

// firstOffset is the offset of the first record a consumer from the start
// of "keys" gets.
func firstOffset(ctx context.Context, t *testing.T, addr string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("keys"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fs := cl.PollRecords(ctx, 1)
	if err := ctx.Err(); err != nil {
		t.Fatalf("no record fetched from the start of keys: %v", err)
	}
	recs := fs.Records()
	if len(recs) == 0 {
		t.Fatalf("no record fetched: %v", fs.Errors())
	}
	return recs[0].Offset
}
