package adversarial

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// Many partitions under a low descriptor limit. The broker runs with
// `ulimit -n 512`; topics whose partitions together outnumber the
// descriptors eight times are all created (segment files open on demand),
// up to --max-broker-partitions, past which CreateTopics and
// CreatePartitions get POLICY_VIOLATION naming the limit and leave no
// directory. A record produced to every partition is consumed back, and
// throughout the process holds at most --max-open-files (default: half the
// limit, 256) segment files open, and never runs out of descriptors.
//
// Before segment files were opened on demand, the partitions past the
// descriptor limit failed with UNKNOWN_SERVER_ERROR ("too many open
// files") and left their directories behind.

const (
	fdLimit       = 512
	fdBound       = fdLimit / 2 // the default --max-open-files
	manyTopics    = 4
	perTopic      = 1000
	offsetsParts  = 50 // __consumer_offsets, counted by the limit
	brokerPartMax = manyTopics*perTopic + offsetsParts
)

// startLimited starts the broker through a shell that lowers its
// descriptor limit (soft and hard: the Go runtime raises the soft limit to
// the hard one) and then execs it, so the process measured is the broker.
func startLimited(t *testing.T, args ...string) *proctest.Proc {
	t.Helper()
	return startWithFDLimit(t, fdLimit, args...)
}

// startWithFDLimit is startLimited with a descriptor limit of its own.
func startWithFDLimit(t *testing.T, fdLimit int, args ...string) *proctest.Proc {
	t.Helper()
	wrapper := filepath.Join(t.TempDir(), "rewind-limited")
	script := fmt.Sprintf("#!/bin/sh\nulimit -n %d || exit 97\nexec %q \"$@\"\n", fdLimit, binary)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := proctest.Start(t, proctest.Config{Binary: wrapper, Args: args})
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			if f := strings.Fields(line); len(f) < 5 || f[3] != fmt.Sprint(fdLimit) || f[4] != fmt.Sprint(fdLimit) {
				t.Fatalf("setup: the broker runs with %q, want %d", line, fdLimit)
			}
			return p
		}
	}
	t.Fatalf("setup: no descriptor limit in /proc/PID/limits:\n%s", limits)
	return nil
}

// fdWatch samples the broker's descriptors (all of them, and those on
// segment files of its data directory) until stopped, keeping the largest
// counts.
type fdWatch struct {
	pid            int
	dataDir        string
	maxAll, maxLog atomic.Int64
	samples        atomic.Int64
	stop           chan struct{}
	done           sync.WaitGroup
	once           sync.Once
}

func watchFDs(pid int, dataDir string) *fdWatch {
	w := &fdWatch{pid: pid, dataDir: dataDir, stop: make(chan struct{})}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for {
			w.sample()
			select {
			case <-w.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *fdWatch) sample() {
	dir := fmt.Sprintf("/proc/%d/fd", w.pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return // exited; the test notices
	}
	var logs int64
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil &&
			strings.HasPrefix(target, w.dataDir+"/") &&
			strings.HasSuffix(strings.TrimSuffix(target, " (deleted)"), ".log") {
			logs++
		}
	}
	w.samples.Add(1)
	for _, m := range []struct {
		v *atomic.Int64
		n int64
	}{{&w.maxAll, int64(len(ents))}, {&w.maxLog, logs}} {
		for old := m.v.Load(); m.n > old && !m.v.CompareAndSwap(old, m.n); old = m.v.Load() {
		}
	}
}

func (w *fdWatch) finish() {
	w.once.Do(func() {
		close(w.stop)
		w.done.Wait()
	})
}

func TestManyPartitionsUnderLowDescriptorLimit(t *testing.T) {
	p := startLimited(t, "--max-broker-partitions", fmt.Sprint(brokerPartMax))
	rss0, _ := p.RSS()
	w := watchFDs(p.Cmd.Process.Pid, p.DataDir)
	defer w.finish()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := kadm.NewClient(p.Client(t, kgo.RequestTimeoutOverhead(time.Minute)))

	var topics []string
	for i := range manyTopics {
		name := fmt.Sprintf("many-%d", i)
		topics = append(topics, name)
		start := time.Now()
		resp, err := adm.CreateTopic(ctx, perTopic, 1, nil, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s (%d partitions, %d so far, descriptor limit %d): %v %s", name, perTopic, i*perTopic, fdLimit, err, resp.ErrMessage)
		}
		t.Logf("created %s with %d partitions in %v", name, perTopic, time.Since(start).Round(time.Millisecond))
	}
	rss1, _ := p.RSS()

	// Past the broker's limit: refused with the limit named, nothing left.
	resp, err := adm.CreateTopic(ctx, 10, 1, nil, "one-too-many")
	if err != nil && resp.Err == nil {
		t.Fatal(err) // no answer at all
	}
	if resp.Err != kerr.PolicyViolation || !strings.Contains(resp.ErrMessage, fmt.Sprintf("--max-broker-partitions %d", brokerPartMax)) {
		t.Fatalf("CreateTopics past --max-broker-partitions: %v %q, want POLICY_VIOLATION naming the limit", resp.Err, resp.ErrMessage)
	}
	grow, err := adm.CreatePartitions(ctx, 1, topics[0])
	if err != nil {
		t.Fatal(err)
	}
	if r := grow[topics[0]]; r.Err != kerr.PolicyViolation || !strings.Contains(r.ErrMessage, fmt.Sprint(brokerPartMax)) {
		t.Fatalf("CreatePartitions past --max-broker-partitions: %v %q, want POLICY_VIOLATION naming the limit", r.Err, r.ErrMessage)
	}
	dirs, err := os.ReadDir(filepath.Join(p.DataDir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != brokerPartMax {
		var odd []string
		for _, d := range dirs {
			if !strings.HasPrefix(d.Name(), "many-") && !strings.HasPrefix(d.Name(), "__consumer_offsets-") {
				odd = append(odd, d.Name())
			}
		}
		t.Fatalf("%d partition directories, want %d; not of a created topic: %v", len(dirs), brokerPartMax, odd)
	}

	// A record to every partition, then all of them read back.
	prod := p.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(manyTopics*perTopic+1))
	var recs []*kgo.Record
	for _, tp := range topics {
		for part := range int32(perTopic) {
			recs = append(recs, &kgo.Record{Topic: tp, Partition: part, Value: []byte(fmt.Sprintf("%s/%d", tp, part))})
		}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to every partition: %v", err)
	}
	cons := p.Client(t, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < len(recs) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(seen), len(recs))
		}
		fs.EachError(func(tp string, part int32, err error) { t.Errorf("fetch %s/%d: %v", tp, part, err) })
		fs.EachRecord(func(r *kgo.Record) {
			want := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
			if string(r.Value) != want || r.Offset != 0 || seen[want] {
				t.Errorf("record %q at %s/%d@%d, want one record %q at offset 0", r.Value, r.Topic, r.Partition, r.Offset, want)
			}
			seen[want] = true
		})
		if t.Failed() {
			t.FailNow()
		}
	}

	w.finish()
	rss2, _ := p.RSS()
	t.Logf("descriptors: at most %d open, %d of them segment files (bound %d, limit %d; %d samples); RSS %d MiB at start, %d MiB after creating %d partitions (%.1f KiB each), %d MiB after producing and consuming",
		w.maxAll.Load(), w.maxLog.Load(), fdBound, fdLimit, w.samples.Load(), rss0>>20, rss1>>20, manyTopics*perTopic,
		float64(rss1-rss0)/1024/float64(manyTopics*perTopic), rss2>>20)
	if w.samples.Load() < 10 {
		t.Fatalf("setup: only %d descriptor samples", w.samples.Load())
	}
	// A listing of /proc/PID/fd is not atomic: a file closed and another
	// opened while it is read can both appear, hence the small margin.
	if n := w.maxLog.Load(); n > fdBound+4 {
		t.Errorf("the broker held %d segment files open, above the --max-open-files bound %d", n, fdBound)
	}
	if n := w.maxAll.Load(); n >= fdLimit {
		t.Errorf("the broker reached its descriptor limit (%d of %d)", n, fdLimit)
	}
	if strings.Contains(p.Log(), "too many open files") {
		t.Errorf("the broker ran out of descriptors: %s", grepLines(p.Log(), "too many open files", 3))
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}
}

// grepLines returns up to n lines of s containing sub.
func grepLines(s, sub string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
