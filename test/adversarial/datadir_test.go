package adversarial

// One process per data directory: a second `rewind serve` on the same
// --data-dir, a start whose port is taken, and a kill -9 holder.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
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

// datadirProducer creates a one-partition topic and produces numbered records (acks=all, kgo's default) one
// at a time until stopped, and keeps the numbers the broker acknowledged.
type datadirProducer struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	acked  []int
	err    error
}

func startDatadirProducer(t *testing.T, p *proctest.Proc, topic string) *datadirProducer {
	t.Helper()
	cl := p.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(20*time.Second)) // bounded: an in-flight record otherwise waits for ever
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		cancel()
		t.Fatalf("create %s: %v", topic, err)
	}
	dp := &datadirProducer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(dp.done)
		for i := 0; ctx.Err() == nil; i++ {
			err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr()
			if err != nil {
				if ctx.Err() == nil {
					dp.mu.Lock()
					dp.err = err
					dp.mu.Unlock()
				}
				return
			}
			dp.mu.Lock()
			dp.acked = append(dp.acked, i)
			dp.mu.Unlock()
		}
	}()
	return dp
}

func (dp *datadirProducer) count() int {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return len(dp.acked)
}

// waitFor waits until at least n records were acknowledged.
func (dp *datadirProducer) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for dp.count() < n {
		select {
		case <-dp.done:
			t.Fatalf("producer stopped after %d records: %v", dp.count(), dp.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d records acknowledged within 30s", dp.count(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (dp *datadirProducer) stop(t *testing.T) []int {
	t.Helper()
	dp.cancel()
	<-dp.done
	if dp.err != nil {
		t.Fatalf("produce failed after %d acknowledged records: %v", len(dp.acked), dp.err)
	}
	return dp.acked
}

// datadirReadAll reads every record of topic (one partition) from the
// start up to its end offset and returns their values.
func datadirReadAll(t *testing.T, p *proctest.Proc, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(p.Client(t)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, ok := ends.Lookup(topic, 0)
	if !ok || end.Err != nil {
		t.Fatalf("end offset of %s/0: %v", topic, end.Err)
	}
	cl := p.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var vals []string
	for int64(len(vals)) < end.Offset {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records of %s: %v", len(vals), end.Offset, topic, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	return vals
}

// checkAllAcked fails unless every acknowledged number is in vals exactly
// once, in order, and vals holds nothing else.
func checkAllAcked(t *testing.T, what string, acked []int, vals []string) {
	t.Helper()
	if len(vals) != len(acked) {
		t.Errorf("%s: %d records stored, %d acknowledged", what, len(vals), len(acked))
	}
	for i, a := range acked {
		if i >= len(vals) {
			t.Fatalf("%s: acknowledged records %d.. are missing (%d lost)", what, a, len(acked)-i)
		}
		if vals[i] != strconv.Itoa(a) {
			t.Fatalf("%s: record %d is %q, want %d", what, i, vals[i], a)
		}
	}
}

// exitedWithError waits for p to exit and fails unless its status was
// non-zero.
func exitedWithError(t *testing.T, p *proctest.Proc) {
	t.Helper()
	err := p.Wait(20 * time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("a start that must fail did not exit with an error (%v); log:\n%s", err, p.Log())
	}
}

// TestSecondProcessOnDataDir: a second broker on a data directory in use
// exits non-zero, naming the first's pid, twice while a producer runs
// against the first; the first keeps serving and every acknowledged record
// is there, also after a restart.
func TestSecondProcessOnDataDir(t *testing.T) {
	first := start(t)
	pid := first.Cmd.Process.Pid
	dp := startDatadirProducer(t, first, "orders")
	dp.waitFor(t, 100)
	for attempt := 1; attempt <= 2; attempt++ {
		n := dp.count()
		second := proctest.Start(t, proctest.Config{Binary: binary, DataDir: first.DataDir, NoWait: true})
		exitedWithError(t, second)
		log := second.Log()
		if want := fmt.Sprintf("pid %d", pid); !strings.Contains(log, want) || !strings.Contains(log, "in use") {
			t.Fatalf("attempt %d: the refusal does not say the data directory is in use by %s:\n%s", attempt, want, log)
		}
		dp.waitFor(t, n+100) // the first still acknowledges
	}
	lat, err := proctest.MetadataLatency(context.Background(), first.Addr)
	if err != nil || lat > time.Second {
		t.Fatalf("the first broker after the refused starts: Metadata in %s, %v", lat, err)
	}
	acked := dp.stop(t)
	t.Logf("%d records acknowledged across two refused starts", len(acked))
	checkAllAcked(t, "first broker", acked, datadirReadAll(t, first, "orders"))

	if err := first.Stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	again := proctest.Start(t, proctest.Config{Binary: binary, DataDir: first.DataDir})
	checkAllAcked(t, "after restart", acked, datadirReadAll(t, again, "orders"))
}

// TestKilledHolderDoesNotBlockRestart: the kernel releases the lock of a
// process killed with SIGKILL, so the lock file left behind does not stop
// the next start, which then names itself in it.
func TestKilledHolderDoesNotBlockRestart(t *testing.T) {
	first := start(t)
	dp := startDatadirProducer(t, first, "orders")
	dp.waitFor(t, 200)
	acked := dp.stop(t)
	first.Kill()

	lockPath := filepath.Join(first.DataDir, ".lock")
	if _, err := os.Stat(lockPath); err != nil {
		t.Fatalf("no lock file in the data directory: %v", err)
	}
	again := proctest.Start(t, proctest.Config{Binary: binary, DataDir: first.DataDir})
	b, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("pid=%d\n", again.Cmd.Process.Pid); !strings.Contains(string(b), want) {
		t.Errorf("lock file after restart holds %q, want %q", b, want)
	}
	checkAllAcked(t, "after kill -9", acked, datadirReadAll(t, again, "orders"))
}

// fileState is what a start that fails must leave unchanged.
type fileState struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
	hash  [sha256.Size]byte
}

// datadirSnapshot records every file and directory under dir.
func datadirSnapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fileState{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode()}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			st.hash = sha256.Sum256(b)
		}
		rel, _ := filepath.Rel(dir, path)
		m[rel] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffSnapshots(before, after map[string]fileState) []string {
	var d []string
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			d = append(d, name+": removed")
		case a != b:
			d = append(d, fmt.Sprintf("%s: size %d→%d, mtime %s→%s, content changed %v", name, b.size, a.size,
				b.mtime.Format(time.RFC3339Nano), a.mtime.Format(time.RFC3339Nano), a.hash != b.hash))
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			d = append(d, name+": created")
		}
	}
	return d
}

// TestFailedBindLeavesDataDirUntouched: a start whose Kafka or explicit
// --http port is taken exits non-zero before it reads or writes anything
// in the data directory, even one that needs recovery (its last broker was
// killed).
func TestFailedBindLeavesDataDirUntouched(t *testing.T) {
	first := start(t)
	cl := first.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: int32(i % 4), Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.CommitOffsets(ctx, "billing", kadm.OffsetsFromRecords(kgo.Record{Topic: "orders", Partition: 0, Offset: 10})); err != nil {
		t.Fatal(err)
	}
	first.Kill() // unclean: the next open would recover and rewrite checkpoints
	before := datadirSnapshot(t, first.DataDir)
	if len(before) < 10 {
		t.Fatalf("only %d entries in the data directory", len(before))
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		name string
		cfg  proctest.Config
		flag string // the flag the error names
	}{
		{"kafka port taken", proctest.Config{Addr: taken.Addr().String()}, "--listen " + taken.Addr().String()},
		{"http port taken", proctest.Config{Args: []string{"--http", taken.Addr().String()}}, "--http " + taken.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Binary, c.DataDir, c.NoWait = binary, first.DataDir, true
			p := proctest.Start(t, c)
			exitedWithError(t, p)
			if log := p.Log(); !strings.Contains(log, "address already in use") || !strings.Contains(log, tc.flag) {
				t.Errorf("the failure does not say the address of %s is in use:\n%s", tc.flag, log)
			}
			if d := diffSnapshots(before, datadirSnapshot(t, first.DataDir)); len(d) > 0 {
				t.Fatalf("a start that failed to bind changed %d entries of the data directory:\n%s", len(d), strings.Join(d, "\n"))
			}
		})
	}
}
