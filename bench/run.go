package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage"
)

// runner holds the state of one Run.
type runner struct {
	cfg   Config
	root  string
	rep   *Report
	peer  peer       // the kfake comparison program, if any
	kafka *kafkaPeer // Apache Kafka, if measured
	tcp   []float64  // loopback TCP bytes/s, each measurement
	disk  []float64  // fdatasync write bytes/s, each measurement
	// others is, per measurement, the share of the machine's CPU used
	// outside this process (see othersShare).
	others []float64
}

const mb = 1e6

// Run measures every scenario of cfg and returns the report. Each figure
// is measured cfg.Rounds times on Rewind and on kfake, alternating (A B A
// B), each measurement on a freshly started broker, and reported as the
// median.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp(cfg.DataDir, "rewind-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	r := &runner{cfg: cfg, root: root, rep: &Report{
		Started:  time.Now(),
		Machine:  machine(root),
		Rounds:   cfg.Rounds,
		Duration: cfg.Duration,
		Brokers:  cfg.Brokers,
	}}
	if r.peer, err = findPeer(&cfg, root, r.logf); err != nil {
		return nil, err
	}
	if r.peer.ok() {
		r.rep.Kfake = r.peer.exe
	} else {
		r.rep.Kfake = "not measured: " + r.peer.why
	}
	r.logf("kfake: %s", r.rep.Kfake)
	if r.kafka, err = startKafka(ctx, &cfg, root, r.logf); err != nil {
		return nil, err
	}
	defer func() {
		if err := r.kafka.stop(); err != nil {
			r.logf("kafka: %v", err)
		}
	}()
	if r.kafka.ok() {
		r.rep.Kafka = r.kafka.desc
		warm := min(r.cfg.ConsumeBytes, 256<<20)
		r.logf("kafka: warming up the JVM (%s produced and read back)", bytesName(warm))
		if err := r.kafka.warm(ctx, &r.cfg, warm); err != nil {
			return r.rep, fmt.Errorf("kafka warm-up: %w", err)
		}
	} else {
		r.rep.Kafka = "not measured: " + r.kafka.why
	}
	r.logf("kafka: %s", r.rep.Kafka)
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"limits", r.limits},
		{"produce", r.produce},
		{"consume", r.consume},
		{"tls", r.tls},
		{"latency", r.latency},
		{"groups", r.groups},
		{"commits", r.commits},
		{"txn", r.txn},
		{"startup", r.startup},
		{"rss", r.rss},
		{"follow", r.follow},
		{"recompress", r.recompress},
	}
	for _, s := range steps {
		if !cfg.has(s.name) {
			continue
		}
		if err := s.fn(ctx); err != nil {
			return r.rep, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if cfg.has("limits") {
		// Measured again at the end: the machine is shared and noisy.
		if err := r.measureLimits(); err != nil {
			return r.rep, err
		}
		r.limitFigures()
	}
	r.rep.Elapsed = time.Since(r.rep.Started)
	if len(r.others) > 0 {
		r.rep.OtherCPU = median(r.others)
		r.rep.OtherCPUMax = slices.Max(r.others)
	}
	return r.rep, nil
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, format+"\n", args...)
	}
}

func (r *runner) external() bool { return len(r.cfg.Brokers) > 0 }

// rewind is the system measured as Rewind: in-process with fsync, or the
// external cluster.
// rewindGroups and kfakeGroups are the brokers of the group scenarios,
// with Config.ConsumerHeartbeat as their consumer-protocol heartbeat
// interval when it is set (the Kafka peer gets it at its start).
func (r *runner) rewindGroups() system {
	if r.external() || r.cfg.ConsumerHeartbeat <= 0 {
		return r.rewind(storage.FsyncAlways)
	}
	hb := r.cfg.ConsumerHeartbeat
	return system{name: "rewind", start: func() (target, error) {
		return rewindBroker(r.root, storage.FsyncAlways, func(c *broker.Config) {
			c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupMinHeartbeatInterval = hb, min(hb, c.ConsumerGroupMinHeartbeatInterval)
		})
	}}
}

func (r *runner) kfakeGroups() system {
	s := kfakeSystem()
	if r.cfg.ConsumerHeartbeat > 0 {
		s.peerArgs = append(s.peerArgs, "--consumer-heartbeat-interval-ms", strconv.FormatInt(r.cfg.ConsumerHeartbeat.Milliseconds(), 10))
	}
	return s
}

func (r *runner) rewind(fsync storage.Fsync) system {
	if r.external() {
		return externalSystem(r.cfg.Brokers)
	}
	return rewindSystem(r.root, fsync)
}

// rewindProcess is Rewind as a `rewind serve` child of its own where the
// bench has the binary (Config.Exe), as kfake and Kafka are measured: a
// scenario bound by the machine's CPU then does not run the broker in
// the clients' Go runtime (their scheduler and collector) while its
// peers each have one. Without the binary, as rewind.
func (r *runner) rewindProcess(fsync storage.Fsync) system {
	if r.external() || r.cfg.Exe == "" {
		return r.rewind(fsync)
	}
	return r.rewindServe("--fsync", fsync.String())
}

// ab runs measure cfg.Rounds times on each system, alternating, each time
// on a fresh target. measure returns one or more values; ab returns, per
// value, the runs of each system.
func (r *runner) ab(ctx context.Context, name string, systems []system, measure func(target) ([]float64, error)) ([][][]float64, error) {
	var out [][][]float64 // [system][value][run]
	for range systems {
		out = append(out, nil)
	}
	for round := 0; round < r.cfg.Rounds; round++ {
		for i, s := range systems {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if s.skip || (s.kafka && !r.kafka.ok()) {
				continue // not measured; Report.Kafka says why
			}
			start := s.start
			if s.peerArgs != nil {
				if !r.peer.ok() {
					continue // not measured; Report.Kfake says why
				}
				ceiling := s.name == "ceiling"
				start = func() (target, error) {
					t, err := r.peer.start(s.peerArgs...)
					if ceiling && err == nil {
						return ceilingTarget{t}, nil
					}
					return t, err
				}
			}
			settle()
			t, err := start()
			if err != nil {
				return nil, fmt.Errorf("%s: start %s: %w", name, s.name, err)
			}
			before := sampleCPU()
			vals, err := measure(t)
			if after := sampleCPU(); after.at.Sub(before.at) >= time.Second {
				// Shorter windows are below the counters' resolution.
				r.others = append(r.others, othersShare(before, after))
			}
			if cerr := t.close(); err == nil && cerr != nil {
				err = fmt.Errorf("close: %w", cerr)
			}
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", name, s.name, err)
			}
			if out[i] == nil {
				out[i] = make([][]float64, len(vals))
			}
			for j, v := range vals {
				out[i][j] = append(out[i][j], v)
			}
			r.logf("%-52s round %d %-6s %s", name, round+1, s.name, fmtVals(vals))
		}
	}
	// A system not measured has no runs of any value (the first system
	// may be the one not measured: Rewind without transactions).
	nvals := 0
	for i := range out {
		nvals = max(nvals, len(out[i]))
	}
	for i := range out {
		if out[i] == nil {
			out[i] = make([][]float64, nvals)
		}
	}
	return out, nil
}

func fmtVals(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = num(&x)
	}
	return strings.Join(s, " ")
}

func (r *runner) add(f Figure) { r.rep.Figures = append(r.rep.Figures, f) }

// limits measures the machine before the scenarios.
func (r *runner) limits(ctx context.Context) error { return r.measureLimits() }

func (r *runner) measureLimits() error {
	tcp, err := loopbackTCP(2 * time.Second)
	if err != nil {
		return fmt.Errorf("loopback TCP: %w", err)
	}
	disk, err := syncWrite(r.root, r.cfg.LimitBytes)
	if err != nil {
		return fmt.Errorf("fdatasync write: %w", err)
	}
	r.tcp, r.disk = append(r.tcp, tcp), append(r.disk, disk)
	r.logf("machine: loopback TCP %.0f MB/s, sequential write + fdatasync %.0f MB/s", tcp/mb, disk/mb)
	return nil
}

// limitFigures puts the machine's rows first in the table.
func (r *runner) limitFigures() {
	rows := []Figure{
		newFigure("machine: loopback TCP, one connection", "MB/s", nil, nil, median(r.tcp)/mb, "", goal{}),
		newFigure("machine: sequential write + fdatasync", "MB/s", nil, nil, median(r.disk)/mb, "", goal{}),
	}
	// Fractions use the median of every limit measurement of the run.
	for i := range r.rep.Figures {
		f := &r.rep.Figures[i]
		var limit float64
		switch f.LimitOf {
		case "tcp":
			limit = r.tcpLimit()
		case "disk":
			limit = r.diskLimit()
		default:
			continue
		}
		f.setLimit(limit)
	}
	r.rep.Figures = append(rows, r.rep.Figures...)
}

func (r *runner) tcpLimit() float64 {
	if len(r.tcp) == 0 {
		return 0
	}
	return median(r.tcp) / mb
}

func (r *runner) diskLimit() float64 {
	if len(r.disk) == 0 {
		return 0
	}
	return median(r.disk) / mb
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func bytesName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}

func fsyncName(f storage.Fsync, external bool) string {
	if external {
		return "broker's fsync"
	}
	return "fsync=" + f.String()
}

// produce: record sizes × partitions × fsync policies.
func (r *runner) produce(ctx context.Context) error {
	policies := []storage.Fsync{storage.FsyncAlways, storage.FsyncNever}
	if r.external() {
		policies = policies[:1]
	}
	for _, size := range []int{r.cfg.RecordSize, 100} {
		for _, parts := range []int{1, 8} {
			for _, fsync := range policies {
				name := fmt.Sprintf("produce %s, %d partition(s), acks=%s, %s", sizeName(size), parts, r.cfg.Acks, fsyncName(fsync, r.external()))
				systems := []system{r.rewind(fsync), kfakeSystem(), produceCeiling(), r.kafkaSystem(false)}
				if fsync == storage.FsyncAlways {
					systems = append(systems, r.kafkaSync())
				}
				res, err := r.ab(ctx, name, systems, func(t target) ([]float64, error) {
					topic, err := createTopic(ctx, t, "produce", parts)
					if err != nil {
						return nil, err
					}
					defer deleteTopic(t, topic)
					rt, err := produce(ctx, &r.cfg, t, produceSpec{
						topic: topic, recordSize: size, producers: r.cfg.Producers,
						duration: r.cfg.Duration, warmup: r.cfg.Warmup, volume: r.cfg.Volume,
					})
					return []float64{rt.bytes / mb, rt.records}, err
				})
				if err != nil {
					return err
				}
				if size >= 1024 {
					g := goal{minRatio: 3}
					limit, of := r.tcpLimit(), "tcp"
					if fsync == storage.FsyncAlways {
						g = goal{minRatio: 2, minFrac: 0.5}
						limit, of = r.diskLimit(), "disk"
					}
					if r.external() {
						g = goal{}
					}
					r.add(newFigure(name, "MB/s", res[0][0], res[1][0], limit, of, g).withCeiling(res[2][0]).withKafka(res[3][0], sysRuns(res, 4, 0)))
				} else {
					g := goal{minRatio: 1.5}
					r.add(newFigure(name, "rec/s", res[0][1], res[1][1], 0, "", g).withCeiling(res[2][1]).withKafka(res[3][1], sysRuns(res, 4, 1)))
				}
			}
		}
	}
	return nil
}

// restarter is a target that can be restarted on its data (Rewind
// in-process), so a read starts with nothing in the broker's memory.
type restarter interface{ restart() error }

func (t *rewindTarget) restart() error {
	if err := t.b.Close(); err != nil {
		return err
	}
	b, err := openRewind(t.dir, storage.FsyncAlways)
	if err != nil {
		return err
	}
	t.b = b
	return nil
}

// consume: cold (everything from the log start, after a broker restart)
// and tailing (consumers keeping up with producers).
func (r *runner) consume(ctx context.Context) error {
	const parts = 8
	name := fmt.Sprintf("consume cold %s, %s stored, %d partitions", sizeName(r.cfg.RecordSize), bytesName(r.cfg.ConsumeBytes), parts)
	res, err := r.ab(ctx, name, []system{r.rewind(storage.FsyncAlways), kfakeSystem(), consumeCeiling(r.cfg.RecordSize), r.kafkaSystem(false)}, func(t target) ([]float64, error) {
		topic, err := createTopic(ctx, t, "cold", parts)
		if err != nil {
			return nil, err
		}
		defer deleteTopic(t, topic)
		if _, ok := t.(ceilingTarget); ok {
			// Canned batches from any offset: read as many records.
			ends := map[int32]int64{}
			for p := int32(0); p < parts; p++ {
				ends[p] = r.cfg.ConsumeBytes / int64(r.cfg.RecordSize) / parts
			}
			rt, err := consume(ctx, &r.cfg, t, topic, ends)
			return []float64{rt.bytes / mb}, err
		}
		if err := fill(ctx, &r.cfg, t, topic, r.cfg.ConsumeBytes); err != nil {
			return nil, err
		}
		if rs, ok := t.(restarter); ok {
			if err := rs.restart(); err != nil {
				return nil, err
			}
		}
		rt, err := consumeAll(ctx, &r.cfg, t, topic)
		return []float64{rt.bytes / mb}, err
	})
	if err != nil {
		return err
	}
	g := goal{minRatio: 3, minFrac: 0.5}
	r.add(newFigure(name, "MB/s", res[0][0], res[1][0], r.tcpLimit(), "tcp", g).withCeiling(res[2][0]).withKafka(res[3][0], nil))

	name = fmt.Sprintf("consume tailing %s, %d partitions, %s", sizeName(r.cfg.RecordSize), parts, fsyncName(storage.FsyncNever, r.external()))
	res, err = r.ab(ctx, name, []system{r.rewind(storage.FsyncNever), kfakeSystem(), r.kafkaSystem(false)}, func(t target) ([]float64, error) {
		topic, err := createTopic(ctx, t, "tail", parts)
		if err != nil {
			return nil, err
		}
		defer deleteTopic(t, topic)
		rt, err := tail(ctx, &r.cfg, t, topic, parts)
		return []float64{rt.bytes / mb}, err
	})
	if err != nil {
		return err
	}
	r.add(newFigure(name, "MB/s", res[0][0], res[1][0], r.tcpLimit(), "tcp", g).withKafka(res[2][0], nil))
	return nil
}

// latency: end to end at a fixed rate, fsync=always.
func (r *runner) latency(ctx context.Context) error {
	name := fmt.Sprintf("end-to-end latency at %.0f MB/s, %s, %s", r.cfg.LatencyRate/mb, sizeName(r.cfg.RecordSize), fsyncName(storage.FsyncAlways, r.external()))
	res, err := r.ab(ctx, name, []system{r.rewind(storage.FsyncAlways), kfakeSystem(), r.kafkaSystem(false), r.kafkaSync()}, func(t target) ([]float64, error) {
		topic, err := createTopic(ctx, t, "latency", 1)
		if err != nil {
			return nil, err
		}
		defer deleteTopic(t, topic)
		l, err := endToEnd(ctx, &r.cfg, t, topic, r.cfg.LatencyRate)
		return []float64{ms(l.p50), ms(l.p99), ms(l.p999)}, err
	})
	if err != nil {
		return err
	}
	for i, q := range []string{"p50", "p99", "p999"} {
		g := goal{}
		if q == "p99" && r.cfg.LatencyRate >= 50e6 {
			g = goal{maxValue: 10}
		}
		r.add(newFigure(name+", "+q, "ms", res[0][i], res[1][i], 0, "", g).withKafka(res[2][i], res[3][i]))
	}
	return nil
}

// groups: time to a stable assignment for each group size.
func (r *runner) groups(ctx context.Context) error {
	parts := 1
	for _, n := range r.cfg.GroupSizes {
		parts = max(parts, n)
	}
	for _, n := range r.cfg.GroupSizes {
		name := fmt.Sprintf("group stable after last join, %d member(s), %d partitions", n, parts)
		res, err := r.ab(ctx, name, []system{r.rewind(storage.FsyncAlways), kfakeSystem(), r.kafkaSystem(false)}, func(t target) ([]float64, error) {
			topic, err := createTopic(ctx, t, "group", parts)
			if err != nil {
				return nil, err
			}
			defer deleteTopic(t, topic)
			d, err := timeToStable(ctx, t, topic, parts, n)
			return []float64{ms(d)}, err
		})
		if err != nil {
			return err
		}
		g := goal{}
		if n >= 100 {
			g = goal{maxValue: 2000}
		}
		r.add(newFigure(name, "ms", res[0][0], res[1][0], 0, "", g).withKafka(res[2][0], nil))
	}
	return r.rejoins(ctx)
}

// rejoins: a settled group of cfg.RejoinSize members, one more joins: time
// until it settles again, classic protocol and consumer protocol
// (rejoin.go). The goal is the consumer protocol's.
func (r *runner) rejoins(ctx context.Context) error {
	n := r.cfg.RejoinSize
	if n <= 0 {
		return nil
	}
	for _, serverSide := range []bool{false, true} {
		proto, g := "classic protocol", goal{}
		if serverSide {
			proto, g = "consumer protocol (KIP-848)", goal{maxValue: 200}
		}
		if serverSide && r.cfg.ConsumerHeartbeat > 0 {
			proto += fmt.Sprintf(", heartbeat interval %v", r.cfg.ConsumerHeartbeat)
		}
		name := fmt.Sprintf("group of %d stable after 1 more joins, %s", n, proto)
		res, err := r.ab(ctx, name, []system{r.rewindGroups(), r.kfakeGroups(), r.kafkaSystem(false)}, func(t target) ([]float64, error) {
			topic, err := createTopic(ctx, t, "rejoin", n+1)
			if err != nil {
				return nil, err
			}
			defer deleteTopic(t, topic)
			d, dups, err := timeToRejoin(ctx, t, topic, n, serverSide)
			return []float64{ms(d), float64(dups)}, err
		})
		if err != nil {
			return err
		}
		r.add(newFigure(name, "ms", res[0][0], res[1][0], 0, "", g).withKafka(res[2][0], nil))
		dname := fmt.Sprintf("records polled twice across that join (%d records/s flowing), %s", rejoinRate, proto)
		r.add(newFigure(dname, "records", res[0][1], res[1][1], 0, "", goal{}).withKafka(res[2][1], nil))
	}
	return nil
}

// sysRuns is res[sys][val], or nil when the run had no such system.
func sysRuns(res [][][]float64, sys, val int) []float64 {
	if sys >= len(res) {
		return nil
	}
	return res[sys][val]
}

// commits: simple offset commits per second, and their p99 latency, from
// 4 clients and from 64, each committing to its own group, with the
// machine's fsync latency measured in the same run (before and after):
// 4 committers that each wait for their own fsync reach 4 ÷ that latency
// at most unless their commits share fsyncs, so that is their limit; 64
// are compared with kfake, which keeps commits in memory.
func (r *runner) commits(ctx context.Context) error {
	var fsyncs []time.Duration
	var parallel []float64
	measureFsync := func() error {
		if r.external() {
			return nil // the cluster's disks are not this machine's
		}
		d, err := fsyncSamples(r.root, 200)
		if err != nil {
			return fmt.Errorf("fsync latency: %w", err)
		}
		fsyncs = append(fsyncs, d...)
		p, err := parallelFsyncRate(r.root, 64, time.Second)
		if err != nil {
			return fmt.Errorf("parallel fsync: %w", err)
		}
		parallel = append(parallel, p)
		r.logf("machine: fsync latency (512 B append + fdatasync) median %v, mean %v, p99 %v; 64 files in parallel %.0f/s", quantile(d, 0.5), mean(d), quantile(d, 0.99), p)
		return nil
	}
	if err := measureFsync(); err != nil {
		return err
	}
	var figs, cpu []Figure
	var kfake4 []float64 // kfake's 4-committer rates, for the machine's bound
	for _, committers := range []int{4, 64} {
		name := fmt.Sprintf("offset commits, %d committers, %s", committers, fsyncName(storage.FsyncAlways, r.external()))
		res, err := r.ab(ctx, name, []system{r.rewindProcess(storage.FsyncAlways), kfakeSystem(), r.kafkaSystem(false), r.kafkaSync()}, func(t target) ([]float64, error) {
			topic, err := createTopic(ctx, t, "commit", 8)
			if err != nil {
				return nil, err
			}
			defer deleteTopic(t, topic)
			c, err := commitRate(ctx, &r.cfg, t, topic, committers)
			return []float64{c.rate, ms(c.p99), float64(c.cpuPerCommit) / float64(time.Microsecond), 100 * c.busy}, err
		})
		if err != nil {
			return err
		}
		if committers == 4 {
			kfake4 = sysRuns(res, 1, 0)
		}
		figs = append(figs, newFigure(name, "commits/s", sysRuns(res, 0, 0), sysRuns(res, 1, 0), 0, "", goal{}).withKafka(sysRuns(res, 2, 0), sysRuns(res, 3, 0)),
			newFigure(name+", p99 latency", "ms", sysRuns(res, 0, 1), sysRuns(res, 1, 1), 0, "", goal{}).withKafka(sysRuns(res, 2, 1), sysRuns(res, 3, 1)))
		if !r.external() {
			// The machine's CPU, clients and broker together (each
			// broker in a process of its own, or Rewind in this one
			// without the binary, so only the sum compares). At 64
			// committers a run that keeps every core busy is bound by
			// the CPU per commit.
			cpu = append(cpu, newFigure(fmt.Sprintf("  machine CPU per commit (clients, broker, kernel), %d committers", committers), "µs", sysRuns(res, 0, 2), sysRuns(res, 1, 2), 0, "", goal{}).withKafka(sysRuns(res, 2, 2), sysRuns(res, 3, 2)),
				newFigure(fmt.Sprintf("  machine cores busy, %d committers", committers), "%", sysRuns(res, 0, 3), sysRuns(res, 1, 3), 0, "", goal{}).withKafka(sysRuns(res, 2, 3), sysRuns(res, 3, 3)))
		}
	}
	if err := measureFsync(); err != nil {
		return err
	}
	if len(fsyncs) > 0 {
		avg := mean(fsyncs) // before quantile sorts them
		lat := quantile(fsyncs, 0.5)
		r.add(newFigure("machine: fsync latency, 512 B append + fdatasync (median)", "ms", nil, nil, ms(lat), "", goal{}))
		r.add(newFigure("machine: fsync latency, 512 B append + fdatasync (mean)", "ms", nil, nil, ms(avg), "", goal{}))
		r.add(newFigure("machine: fdatasync rounds/s, 64 files in parallel", "fsyncs/s", nil, nil, median(parallel), "", goal{}))
		// 4 committers: at least 80% of 4 ÷ the fsync latency.
		figs[0].goal = goal{minFrac: 0.8}
		figs[0].Target, figs[0].LimitOf = figs[0].goal.text(figs[0].Unit), "4÷fsync"
		figs[0].setLimit(4 / lat.Seconds())
		if len(kfake4) > 0 && median(kfake4) > 0 {
			k := median(kfake4)
			// What 4 committers that each wait for their own commit can
			// reach here at best: each commit costs the round trip kfake
			// needs (in memory) plus one fsync. The 80% goal assumes the
			// fsync dominates; where the round trip is as long, even
			// this bound is below it.
			r.add(newFigure("machine: 4 committers' bound, 4 ÷ (fsync + kfake's time per commit)", "commits/s", nil, nil, 4/(lat.Seconds()+4/k), "", goal{}))
		}
	}
	// 64 committers: at least kfake's rate.
	figs[2].goal = goal{minRatio: 1}
	figs[2].Target = figs[2].goal.text(figs[2].Unit)
	figs[2].setLimit(0)
	for _, f := range append(figs, cpu...) {
		r.add(f)
	}
	return nil
}

// startup: start-to-ready with many partitions on disk (in-process).
func (r *runner) startup(ctx context.Context) error {
	if r.external() {
		r.logf("startup: skipped, Rewind is external")
		return nil
	}
	n := r.cfg.StartPartition
	name := fmt.Sprintf("start-to-ready, %d partitions on disk, clean shutdown", n)
	rw, kf, err := startup(ctx, &r.cfg, r.peer, r.root, n)
	if err != nil {
		return err
	}
	r.logf("%-52s rewind %s  kfake %s", name, fmtVals(rw), fmtVals(kf))
	var ka []float64
	if r.kafka.managed() {
		if ka, err = kafkaStartup(ctx, &r.cfg, r.kafka, n); err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		r.logf("%-52s kafka %s", name, fmtVals(ka))
	}
	g := goal{}
	if n >= 1000 {
		g = goal{maxValue: 200}
	}
	r.add(newFigure(name, "ms", rw, kf, 0, "", g).withKafka(ka, nil))
	return nil
}

// kfakeRSSMax is the most data kfake is asked to hold for its RSS figure:
// it keeps every byte in memory.
const kfakeRSSMax = 1 << 30

// rss: broker RSS in child processes, empty and while serving stored
// data; kfake up to kfakeRSSMax.
func (r *runner) rss(ctx context.Context) error {
	if r.external() || r.cfg.Exe == "" {
		r.logf("rss: skipped (needs the rewind binary, and Rewind not external)")
		return nil
	}
	const mib = 1 << 20
	small := min(r.cfg.RSSBytes, kfakeRSSMax)
	rw, err := rewindRSS(ctx, &r.cfg, r.root, small)
	if err != nil {
		return fmt.Errorf("rewind: %w", err)
	}
	r.logf("rss rewind: idle %d MiB, serving %s %d MiB", rw.idle/mib, bytesName(small), rw.serving/mib)
	var kfIdle, kfServing []float64
	if r.peer.ok() {
		kf, err := kfakeRSS(ctx, &r.cfg, r.peer, small)
		if err != nil {
			return fmt.Errorf("kfake: %w", err)
		}
		r.logf("rss kfake: idle %d MiB, serving %s %d MiB", kf.idle/mib, bytesName(small), kf.serving/mib)
		kfIdle, kfServing = []float64{float64(kf.idle) / mib}, []float64{float64(kf.serving) / mib}
	}
	var kaIdle, kaServing []float64
	if r.kafka.managed() {
		ka, err := kafkaRSS(ctx, &r.cfg, r.kafka, small)
		if err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		r.logf("rss kafka: idle %d MiB, serving %s %d MiB", ka.idle/mib, bytesName(small), ka.serving/mib)
		kaIdle, kaServing = []float64{float64(ka.idle) / mib}, []float64{float64(ka.serving) / mib}
	}
	r.add(newFigure("RSS of the broker process, idle and empty", "MiB", []float64{float64(rw.idle) / mib}, kfIdle, 0, "", goal{}).withKafka(kaIdle, nil))
	g := goal{maxValue: 300}
	r.add(newFigure("RSS while serving "+bytesName(small)+" stored", "MiB", []float64{float64(rw.serving) / mib}, kfServing, 0, "", g).withKafka(kaServing, nil))
	if r.cfg.RSSBytes > small {
		big, err := rewindRSS(ctx, &r.cfg, r.root, r.cfg.RSSBytes)
		if err != nil {
			return fmt.Errorf("rewind: %w", err)
		}
		r.logf("rss rewind: serving %s %d MiB", bytesName(r.cfg.RSSBytes), big.serving/mib)
		r.add(newFigure("RSS while serving "+bytesName(r.cfg.RSSBytes)+" stored (kfake: in memory)", "MiB", []float64{float64(big.serving) / mib}, nil, 0, "", g))
	}
	return nil
}

// machine describes this machine.
func machine(dir string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), DataDir: dir}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		m.MemMiB = kb >> 10
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
