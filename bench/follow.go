package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The follow scenario: one franz-go consumer (fetch sessions on, its
// default) follows every partition of a topic of FollowPartitions
// partitions while FollowRate records/s trickle in, each to a random
// partition. The figure is the CPU the broker process spends, user and
// system, read from /proc/<pid>/stat over the measurement, as a percentage
// of one core: what following many quiet partitions costs. It is measured
// first with the records alone, then with the consumer following, and the
// difference is shown too. Rewind runs as a child `rewind
// serve` (the defaults, --fsync=always), kfake in its kfakepeer process,
// Kafka as the run's JVM, so the load generator's CPU is never counted.
// The producer's requests are part of the broker's work, as they would be
// in production; the rate is low enough that they are a small share.

// procCPU returns the user plus system CPU time pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted from 1 start after its closing parenthesis, with state
	// (field 3); utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	// USER_HZ is 100 on every Linux the bench runs on (sysconf(_SC_CLK_TCK)).
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// rewindChild is a `rewind serve` child with a data directory of its own,
// removed when it stops.
type rewindChild struct {
	*child
	dir string
}

func (c rewindChild) close() error {
	err := c.child.close()
	os.RemoveAll(c.dir)
	return err
}

func (r *runner) rewindServe(args ...string) system {
	return system{name: "rewind", start: func() (target, error) {
		dir, err := os.MkdirTemp(r.root, "follow-rewind-")
		if err != nil {
			return nil, err
		}
		c, err := startChild(r.cfg.Exe, append([]string{"serve", "--listen", "{addr}", "--data-dir", dir, "--log-level", "warn", "--http", ""}, args...)...)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return rewindChild{c, dir}, nil
	}}
}

func (r *runner) follow(ctx context.Context) error {
	if r.external() || r.cfg.Exe == "" {
		r.logf("follow: skipped (needs the rewind binary, and Rewind not external)")
		return nil
	}
	for _, n := range r.cfg.FollowPartitions {
		name := fmt.Sprintf("broker CPU, 1 consumer following %d partitions, %g records/s in", n, r.cfg.FollowRate)
		systems := []system{r.rewindServe("--max-partitions", strconv.Itoa(max(n, 10000))), kfakeSystem(), r.kafkaSystem(false)}
		runs, err := r.ab(ctx, name, systems, func(t target) ([]float64, error) {
			return followCPU(ctx, &r.cfg, t, n)
		})
		if err != nil {
			return err
		}
		r.add(newFigure(name, "% core", runs[0][0], runs[1][0], 0, "", goal{maxValue: 5}).withKafka(runs[2][0], nil))
		r.add(newFigure(fmt.Sprintf("  of which following (less the produce alone), %d partitions", n), "% core", runs[0][1], runs[1][1], 0, "", goal{}).withKafka(runs[2][1], nil))
	}
	return nil
}

// followCPU measures one system: the broker's cores while the consumer
// follows a topic of n partitions and the records trickle in.
func followCPU(ctx context.Context, cfg *Config, t target, n int) ([]float64, error) {
	p, ok := t.(process)
	if !ok {
		return nil, fmt.Errorf("follow: %T is not a process", t)
	}
	// Thousands of partitions take longer than createTopic's 30 s on a
	// loaded machine (each is a directory and files, fsynced).
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Minute)
	topic, err := createTopic(cctx, t, "follow", n)
	ccancel()
	if err != nil {
		return nil, err
	}
	defer deleteTopic(t, topic)
	prod, err := kgo.NewClient(kgo.SeedBrokers(t.addrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var produced, failed atomic.Int64
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.FollowRate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rec := &kgo.Record{Partition: int32(rng.IntN(n)), Value: value(rng, 100)}
			produced.Add(1)
			prod.Produce(ctx, rec, func(_ *kgo.Record, err error) {
				if err != nil && ctx.Err() == nil {
					failed.Add(1)
				}
			})
		}
	}()
	// share is the broker's CPU over cfg.Duration after the warmup, as a
	// percentage of one core.
	share := func() (float64, error) {
		if !sleepCtx(ctx, cfg.Warmup) {
			return 0, ctx.Err()
		}
		cpu0, err := procCPU(p.pid())
		if err != nil {
			return 0, err
		}
		start := time.Now()
		if !sleepCtx(ctx, cfg.Duration) {
			return 0, ctx.Err()
		}
		cpu1, err := procCPU(p.pid())
		if err != nil {
			return 0, err
		}
		return 100 * (cpu1 - cpu0).Seconds() / time.Since(start).Seconds(), nil
	}
	// The records alone first, then with the consumer following.
	alone, err := share()
	if err != nil {
		return nil, err
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(t.addrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	var consumed atomic.Int64
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			consumed.Add(int64(fs.NumRecords()))
		}
	}()
	// The consumer follows every partition once it has read what was
	// produced before it started.
	for deadline := time.Now().Add(time.Minute); consumed.Load() < produced.Load()*8/10; {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("follow %d: the consumer read %d of %d records in 1m", n, consumed.Load(), produced.Load())
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
	got0 := consumed.Load()
	start := time.Now()
	total, err := share()
	if err != nil {
		return nil, err
	}
	wall, got := time.Since(start), consumed.Load()-got0
	cancel()
	<-prodDone
	<-consDone
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("follow %d: %d of %d produces failed", n, f, produced.Load())
	}
	// The consumer must keep up, or the figure is not of following.
	if want := cfg.FollowRate * wall.Seconds(); float64(got) < 0.5*want {
		return nil, fmt.Errorf("follow %d: consumed %d records in %v, %.0f produced", n, got, wall.Round(time.Millisecond), want)
	}
	return []float64{total, total - alone}, nil
}
