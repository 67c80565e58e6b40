package broker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/powerloss"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPowerLossProduceAndCommits runs a broker on a vfs.CrashFS
// (broker.WithFS, --fsync always) while a franz-go producer sends batches
// of five records with acks=all and a client commits offsets of a group,
// both over real loopback TCP, and loses the power after a random
// operation of the file system (seeded, strict or torn). A broker started
// on what the disk kept must have every record and every commit that was
// acknowledged, each batch whole or absent (a batch written in part is
// truncated, never served), no record twice, and for the group either the
// last acknowledged commit or the one in flight at the crash.
//
// The data directory's lock is taken on the real file system (vfs.LockFile
// does not go through an FS), so the test uses a real temporary directory
// whose path names the same directory in the CrashFS.
func TestPowerLossProduceAndCommits(t *testing.T) {
	seed := powerloss.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 0))

	dry := vfs.NewCrashFS()
	dir := t.TempDir()
	b := startOnCrashFS(t, dir, dry)
	before := dry.Ops()
	runPowerLossWorkload(t, b.Addr(), dry, newPLRecord())
	total := dry.Ops() - before
	b.Close()

	points, budget := 40, 5*time.Second
	if n, err := strconv.Atoi(os.Getenv("REWIND_POWERLOSS_SCALE")); err == nil && n > 1 {
		points, budget = points*n, budget*time.Duration(n) // a long run
	}
	deadline := time.Now().Add(budget)
	for i := 0; i < points && time.Now().Before(deadline); i++ {
		k := 1 + rng.Int64N(total)
		var torn *rand.Rand
		if i%2 == 1 {
			torn = rand.New(rand.NewPCG(seed, uint64(i)))
		}
		if testing.Verbose() {
			t.Logf("crash %d after operation %d of about %d (torn %v)", i, k, total, torn != nil)
		}
		disk := vfs.NewCrashFS()
		dir := t.TempDir()
		b := startOnCrashFS(t, dir, disk)
		rec := newPLRecord()
		disk.CrashAfter(k, torn)
		runPowerLossWorkload(t, b.Addr(), disk, rec)
		b.Close() // on a dead disk: its errors are the crash's
		img := disk.Image()
		if img == nil {
			img = disk.Crash(torn)
		}
		checkAfterPowerLoss(t, startOnCrashFS(t, dir, img), rec)
		if t.Failed() {
			return
		}
	}
}

const plTopic, plGroup = "powerloss", "powerloss-group"

// startOnCrashFS starts a broker on disk at dir and creates the topic on
// a fresh disk (the disk is made durable up to that point, as a setup
// before the test's crashes).
func startOnCrashFS(t *testing.T, dir string, disk *vfs.CrashFS) *broker.Broker {
	t.Helper()
	fresh := false
	if _, err := disk.Stat(dir); err != nil {
		fresh = true
		if err := disk.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		disk.SyncAll()
	}
	b, err := broker.New(
		broker.WithListen("127.0.0.1:0"),
		broker.WithDataDir(dir),
		broker.WithFS(disk),
		broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *broker.Config) { c.DiskReserve = 0 },
	)
	if err != nil {
		t.Fatalf("start on the crashed disk: %v", err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if fresh {
		adm := kadm.NewClient(newClient(t, b.Addr()))
		ctx := testCtx(t, 10*time.Second)
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, plTopic); err != nil {
			t.Fatal(err)
		}
		// A first commit creates the group's offsets partition state.
		if _, err := adm.CommitOffsets(ctx, plGroup, plOffset(0)); err != nil {
			t.Fatal(err)
		}
		disk.SyncAll()
	}
	return b
}

// plRecord is what the clients sent and what was acknowledged.
type plRecord struct {
	mu       sync.Mutex
	sent     map[string]bool  // every value produced
	acked    map[string]int64 // acknowledged value → offset
	batches  map[string]int   // batch id → records in it
	commits  []int64          // commits acknowledged, in order
	inFlight int64            // the commit sent last (acknowledged or not)
}

func newPLRecord() *plRecord {
	return &plRecord{sent: map[string]bool{}, acked: map[string]int64{}, batches: map[string]int{}, inFlight: -1}
}

// runPowerLossWorkload produces 40 batches and commits 40 offsets, side by
// side, stopping when the disk loses power.
func runPowerLossWorkload(t *testing.T, addr string, disk *vfs.CrashFS, rec *plRecord) {
	t.Helper()
	prod := newClient(t, addr, kgo.DefaultProduceTopic(plTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(time.Second), kgo.ProducerLinger(5*time.Millisecond))
	admCl := newClient(t, addr, kgo.RetryTimeout(time.Second))
	adm := kadm.NewClient(admCl)
	dead := func() bool { return disk.Image() != nil }
	// Requests in flight when the power goes are given up at once (the
	// clients are closed: franz-go keeps retrying a buffered record past
	// its context): an answer that never comes is not an acknowledgement.
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		for !dead() {
			select {
			case <-runCtx.Done():
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
		stop()
		prod.Close()
		admCl.Close()
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	started := make(chan struct{}) // the producer has its metadata
	var once sync.Once
	go func() {
		defer wg.Done()
		defer once.Do(func() { close(started) })
		for i := 0; i < 40 && !dead(); i++ {
			if i == 1 {
				once.Do(func() { close(started) })
			}
			id := fmt.Sprintf("b%d", i)
			var rs []*kgo.Record
			for j := range 5 {
				// 1.5 KB values: a batch spans pages, so a torn crash can
				// cut one in the middle.
				v := fmt.Sprintf("%s-r%d-%s", id, j, strings.Repeat("x", 1500))
				rs = append(rs, &kgo.Record{Partition: 0, Value: []byte(v)})
			}
			rec.mu.Lock()
			rec.batches[id] = len(rs)
			for _, r := range rs {
				rec.sent[string(r.Value)] = true
			}
			rec.mu.Unlock()
			// Produced asynchronously, so that the linger puts the five
			// records in one batch (ProduceSync sends at once).
			var pw sync.WaitGroup
			var failed atomic.Bool
			pw.Add(len(rs))
			for _, r := range rs {
				prod.Produce(runCtx, r, func(r *kgo.Record, err error) {
					defer pw.Done()
					if err != nil {
						failed.Store(true)
						return
					}
					rec.mu.Lock()
					rec.acked[string(r.Value)] = r.Offset
					rec.mu.Unlock()
				})
			}
			pw.Wait()
			if failed.Load() {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		<-started
		for i := int64(1); i <= 40 && !dead(); i++ {
			rec.mu.Lock()
			rec.inFlight = i * 10
			rec.mu.Unlock()
			ctx, cancel := context.WithTimeout(runCtx, 1500*time.Millisecond)
			resp, err := adm.CommitOffsets(ctx, plGroup, plOffset(i*10))
			cancel()
			if err != nil || resp.Error() != nil {
				return
			}
			rec.mu.Lock()
			rec.commits = append(rec.commits, i*10)
			rec.mu.Unlock()
		}
	}()
	wg.Wait()
}

func checkAfterPowerLoss(t *testing.T, b *broker.Broker, rec *plRecord) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, plTopic)
	if err != nil {
		t.Fatal(err)
	}
	end, ok := ends.Lookup(plTopic, 0)
	if !ok || end.Err != nil {
		t.Fatalf("end offset: %+v", end)
	}
	got := map[string]int64{}
	perBatch := map[string]int{}
	if end.Offset > 0 {
		cons := newClient(t, b.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{plTopic: {0: kgo.NewOffset().AtStart()}}))
		for n := int64(0); n < end.Offset; {
			fs := cons.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("read %d of %d records: %v", n, end.Offset, err)
			}
			for _, e := range fs.Errors() {
				t.Fatalf("fetch after recovery: %v", e.Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				n = r.Offset + 1
				v := string(r.Value)
				if _, dup := got[v]; dup {
					t.Errorf("record %q stored twice", short(v))
				}
				got[v] = r.Offset
				id, _, _ := strings.Cut(v, "-")
				perBatch[id]++
				if !rec.sent[v] {
					t.Errorf("record at %d (%d bytes) was never produced", r.Offset, len(v))
				}
			})
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for v, off := range rec.acked {
		if g, ok := got[v]; !ok || g != off {
			t.Errorf("acknowledged record %q at offset %d: after the power loss %d (present %v)", short(v), off, g, ok)
		}
	}
	for id, n := range perBatch {
		if n != rec.batches[id] {
			t.Errorf("batch %s is half there: %d of %d records", id, n, rec.batches[id])
		}
	}
	resp, err := adm.FetchOffsets(ctx, plGroup)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := resp.Lookup(plTopic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("committed offset after the power loss: %+v", o)
	}
	last := int64(0) // committed at setup
	if n := len(rec.commits); n > 0 {
		last = rec.commits[n-1]
	}
	if o.At != last && o.At != rec.inFlight {
		t.Errorf("committed offset after the power loss %d; last acknowledged %d, in flight %d", o.At, last, rec.inFlight)
	}
	if testing.Verbose() {
		t.Logf("after the power loss: %d of %d acknowledged records, commit %d (acknowledged %d)", len(got), len(rec.acked), o.At, last)
	}
}

func plOffset(at int64) kadm.Offsets {
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: plTopic, Partition: 0, At: at, LeaderEpoch: -1})
	return os
}

// short names a record by its batch and index, without the padding.
func short(v string) string {
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return v[:i]
	}
	return v
}
