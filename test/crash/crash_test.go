// Package crash kills a real rewind process with SIGKILL while clients
// produce and commit, restarts it, and checks that every acknowledged
// record survived exactly once and in order and every acknowledged commit
// is still there; it also restarts it on damaged files (corrupt_test.go),
// churns a consumer group (churn_test.go), and kills it under
// consumer-protocol (KIP-848) groups mid-reconciliation (consumer848_test.go).
//
// The number of kill cycles is REWIND_CRASH_CYCLES (default 8 in CI; the
// long run uses 100 or more).
package crash

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var binary string

func TestMain(m *testing.M) {
	proctest.Main(m, func(dir string) (err error) {
		binary, err = proctest.Build("../..", dir)
		return err
	})
}

// proc is a running rewind serve.
type proc struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
}

func freePort(t *testing.T) string { return proctest.FreeAddr(t) }

func start(t *testing.T, dataDir, addr string) *proc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dataDir+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "--listen", addr, "--data-dir", dataDir, "--fsync", "always",
		"--group-initial-rebalance-delay", "0", "--log-level", "warn", "--http", "")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: addr, log: logf}
	// The port is bound before recovery runs: wait for an answer.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := proctest.MetadataLatency(ctx, addr)
		cancel()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatalf("rewind did not start listening on %s: see %s", addr, logf.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill() // SIGKILL
	p.cmd.Wait()
	p.log.Close()
}

func cycles() int {
	if n, err := strconv.Atoi(os.Getenv("REWIND_CRASH_CYCLES")); err == nil && n > 0 {
		return n
	}
	return 8
}

const partitions = 4

// ledger is what the clients were told: acknowledged records by value,
// and per partition the last acknowledged and the largest sent commit.
type ledger struct {
	mu          sync.Mutex
	acked       map[string]bool // value -> acknowledged
	failed      int             // idempotent records that failed (delivery timeout)
	ackedCommit map[int32]int64
	sentCommit  map[int32]int64
	commits     int
}

func (l *ledger) ack(v string) {
	l.mu.Lock()
	l.acked[v] = true
	l.mu.Unlock()
}

// TestKillLoop is the acknowledged-data-survives-SIGKILL loop. Each cycle,
// while the broker runs:
//
//   - an acks=all producer without idempotence (a new client each cycle,
//     closed when the broker dies: what it had in flight is unacknowledged)
//     and an idempotent producer (franz-go's default, one client for the
//     whole run: after each restart it retries what was in flight with the
//     same sequence numbers, which the broker must recognise) write
//     continuously to every partition;
//   - a consumer group member (one client for the whole run) consumes the
//     topic and commits what it consumed, synchronously;
//
// then the broker gets SIGKILL at a random moment and is restarted. After
// every restart, once the idempotent producer has flushed, the whole topic
// is read back: every acknowledged record must be there exactly once and
// each producer's records in order per partition; and the group's
// committed offset must be at least its last acknowledged commit (and at
// most the last one sent).
func TestKillLoop(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freePort(t)
	p := start(t, dataDir, addr)
	defer func() { p.kill() }()
	n := cycles()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*20*time.Second+time.Minute)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, partitions, 1, nil, "crash"); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	led := &ledger{acked: map[string]bool{}, ackedCommit: map[int32]int64{}, sentCommit: map[int32]int64{}}
	idem, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("crash"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond),
		kgo.RecordDeliveryTimeout(2*time.Minute), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer idem.Close()
	group, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("crash"), kgo.ConsumerGroup("crash-group"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(10*time.Second), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	idemSeq := make([]int, partitions) // next sequence of the idempotent producer per partition
	var acksAll, idemAcked int
	for cycle := 0; cycle < n; cycle++ {
		plain, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("crash"),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond),
			kgo.RecordRetries(3), kgo.RecordDeliveryTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		cctx, ccancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for part := int32(0); part < partitions; part++ {
			wg.Add(2)
			go func(part int32) { // acks=all, not idempotent
				defer wg.Done()
				for seq := 0; ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					v := fmt.Sprintf("a%03d-%d-%08d", cycle, part, seq)
					plain.Produce(ctx, &kgo.Record{Partition: part, Value: []byte(v)}, func(_ *kgo.Record, err error) {
						if err == nil {
							led.ack(v)
						}
					})
					if seq%10 == 9 {
						time.Sleep(5 * time.Millisecond)
					}
				}
			}(part)
			go func(part int32) { // idempotent, across restarts
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					v := fmt.Sprintf("i-%d-%09d", part, idemSeq[part])
					idemSeq[part]++
					idem.Produce(ctx, &kgo.Record{Partition: part, Value: []byte(v)}, func(_ *kgo.Record, err error) {
						if err == nil {
							led.ack(v)
						} else {
							led.mu.Lock()
							led.failed++
							led.mu.Unlock()
						}
					})
					if idemSeq[part]%10 == 9 {
						time.Sleep(5 * time.Millisecond)
					}
				}
			}(part)
		}
		wg.Add(1)
		go func() { // the group member commits what it consumed
			defer wg.Done()
			consumeAndCommit(cctx, group, led)
		}()

		time.Sleep(time.Duration(200+rng.Intn(600)) * time.Millisecond)
		p.kill()
		close(stop)
		ccancel()
		wg.Wait()
		plain.Close() // fails what was in flight: never acknowledged
		p = start(t, dataDir, addr)

		// The idempotent producer retries what it had in flight.
		fctx, fcancel := context.WithTimeout(ctx, 90*time.Second)
		if err := idem.Flush(fctx); err != nil {
			t.Fatalf("cycle %d: idempotent producer did not flush after the restart: %v", cycle, err)
		}
		fcancel()
		res := verify(t, ctx, addr, led)
		acksAll, idemAcked = res.acksAll, res.idem
		verifyCommits(t, ctx, addr, led)
	}
	led.mu.Lock()
	commits, failed := led.commits, led.failed
	led.mu.Unlock()
	t.Logf("kill cycles: %d; records acknowledged: %d (acks=all %d, idempotent %d), lost: 0, duplicated: 0 (idempotent duplicates: 0); idempotent records failed unacknowledged: %d; commits acknowledged: %d, lost: 0",
		n, acksAll+idemAcked, acksAll, idemAcked, failed, commits)
}

// consumeAndCommit polls and commits synchronously until ctx ends,
// recording each commit as sent and, when the broker acknowledges it, as
// acknowledged.
func consumeAndCommit(ctx context.Context, cl *kgo.Client, led *ledger) {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		next := map[int32]int64{}
		for _, r := range recs {
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		}
		led.mu.Lock()
		for part, off := range next {
			led.sentCommit[part] = max(led.sentCommit[part], off)
		}
		led.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := cl.CommitRecords(cctx, recs...)
		cancel()
		if err != nil {
			continue
		}
		led.mu.Lock()
		led.commits++
		for part, off := range next {
			led.ackedCommit[part] = max(led.ackedCommit[part], off)
		}
		led.mu.Unlock()
	}
}

// verifyCommits checks the group's committed offsets: at least the last
// acknowledged commit, at most the last one sent.
func verifyCommits(t *testing.T, ctx context.Context, addr string, led *ledger) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "crash-group")
	if err != nil {
		t.Fatal(err)
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	for part := int32(0); part < partitions; part++ {
		acked, sent := led.ackedCommit[part], led.sentCommit[part]
		if acked == 0 {
			continue
		}
		o, ok := offs.Lookup("crash", part)
		if !ok || o.At < acked || o.At > sent {
			t.Fatalf("partition %d: committed offset after restart %+v, last acknowledged %d, last sent %d", part, o, acked, sent)
		}
	}
}

type verified struct{ acksAll, idem int }

// verify reads the whole topic and checks every acknowledged record is
// there once, and that each producer's records are in order per partition.
func verify(t *testing.T, ctx context.Context, addr string, led *ledger) verified {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("crash"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	seen := map[string]int{}
	last := map[string]string{} // stream (producer, cycle, partition) -> last value
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading back: %v (remaining %v)", ctx.Err(), remaining)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			seen[v]++
			stream := v[:strings.LastIndexByte(v, '-')]
			if v <= last[stream] {
				t.Errorf("partition %d: %s after %s", r.Partition, v, last[stream])
			}
			last[stream] = v
			if r.Offset+1 >= remaining[r.Partition] {
				delete(remaining, r.Partition)
			}
		})
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	var res verified
	lost := 0
	for v := range led.acked {
		if v[0] == 'i' {
			res.idem++
		} else {
			res.acksAll++
		}
		if seen[v] == 0 {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged record %s is missing", v)
			}
		}
	}
	dups, idemDups := 0, 0
	for v, n := range seen {
		if n > 1 {
			dups++
			if v[0] == 'i' {
				idemDups++
			}
			if dups < 5 {
				t.Errorf("record %s stored %d times", v, n)
			}
		}
	}
	if lost > 0 || dups > 0 {
		t.Fatalf("lost %d acknowledged records, %d duplicated (%d from the idempotent producer)", lost, dups, idemDups)
	}
	return res
}
