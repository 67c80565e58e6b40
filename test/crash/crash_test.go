// Package crash kills a real rewind process with SIGKILL while clients
// produce with acks=all, restarts it, and checks that every acknowledged
// record survived exactly once and in order.
//
// The number of kill cycles is REWIND_CRASH_CYCLES (default 5 in CI; the
// long run uses 100 or more).
package crash

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rewind-crash")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rewind")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/rewind")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building rewind:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running rewind serve.
type proc struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func start(t *testing.T, dataDir, addr string) *proc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dataDir+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "--listen", addr, "--data-dir", dataDir, "--fsync", "always",
		"--group-initial-rebalance-delay", "0", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: addr, log: logf}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
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
	return 5
}

const partitions = 4

// TestKillDuringAcksAllProduce is the acked-records-survive-SIGKILL loop.
func TestKillDuringAcksAllProduce(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freePort(t)
	p := start(t, dataDir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, partitions, 1, nil, "crash"); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	var mu sync.Mutex
	acked := map[string]bool{} // value -> acknowledged
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	n := cycles()
	totalAcked := 0
	var nextCommit, lastAckedCommit int64 // only the committer goroutine writes these while it runs
	commitsAcked := 0
	for cycle := 0; cycle < n; cycle++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("crash"),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RecordRetries(3), kgo.RecordDeliveryTimeout(5*time.Second), kgo.ProducerLinger(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for part := int32(0); part < partitions; part++ {
			wg.Add(1)
			go func(part int32) {
				defer wg.Done()
				for seq := 0; ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					v := fmt.Sprintf("%d-%d-%08d", cycle, part, seq)
					cl.Produce(ctx, &kgo.Record{Partition: part, Value: []byte(v)}, func(_ *kgo.Record, err error) {
						if err == nil {
							mu.Lock()
							acked[v] = true
							mu.Unlock()
						}
					})
					if seq%50 == 49 {
						time.Sleep(time.Millisecond)
					}
				}
			}(part)
		}
		// A committer advances the group's offsets as fast as commits are acknowledged.
		wg.Add(1)
		go func() {
			defer wg.Done()
			adm := kadm.NewClient(cl)
			for {
				select {
				case <-stop:
					return
				default:
				}
				nextCommit++
				o := kadm.Offsets{}
				for part := int32(0); part < partitions; part++ {
					o.Add(kadm.Offset{Topic: "crash", Partition: part, At: nextCommit, LeaderEpoch: -1})
				}
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				r, err := adm.CommitOffsets(cctx, "crash-group", o)
				ccancel()
				if err == nil && r.Error() == nil {
					lastAckedCommit = nextCommit
					commitsAcked++
				}
			}
		}()
		time.Sleep(time.Duration(200+rng.Intn(600)) * time.Millisecond)
		p.kill()
		close(stop)
		wg.Wait()
		cl.Close() // fails whatever was in flight: those records were never acknowledged
		p = start(t, dataDir, addr)
		mu.Lock()
		totalAcked = len(acked)
		mu.Unlock()
		verify(t, ctx, addr, acked)
		verifyCommit(t, ctx, addr, lastAckedCommit, nextCommit)
	}
	p.kill()
	t.Logf("kill cycles: %d, records acknowledged: %d, lost: 0, duplicated: 0; commits acknowledged: %d, lost: 0", n, totalAcked, commitsAcked)
}

// verifyCommit checks the group's committed offset is at least the last
// acknowledged commit and at most the last one sent.
func verifyCommit(t *testing.T, ctx context.Context, addr string, acked, sent int64) {
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
	for part := int32(0); part < partitions; part++ {
		o, ok := offs.Lookup("crash", part)
		if acked == 0 {
			continue
		}
		if !ok || o.At < acked || o.At > sent {
			t.Fatalf("partition %d: committed offset after restart %+v, acknowledged %d, last sent %d", part, o, acked, sent)
		}
	}
}

// verify reads the whole topic and checks every acknowledged record is
// there once, and that each producer's records are in order per partition.
func verify(t *testing.T, ctx context.Context, addr string, acked map[string]bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("crash"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
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
	last := map[string]string{} // cycle-partition -> last value
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
	lost := 0
	for v := range acked {
		if seen[v] == 0 {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged record %s is missing", v)
			}
		}
	}
	dups := 0
	for v, n := range seen {
		if n > 1 {
			dups++
			if dups < 5 {
				t.Errorf("record %s stored %d times", v, n)
			}
		}
	}
	if lost > 0 || dups > 0 {
		t.Fatalf("lost %d acknowledged records, %d duplicated", lost, dups)
	}
}
