package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkMonitorScale measures `rewind monitor` (the built binary, a
// process of its own) watching a `rewind serve` on loopback that holds
// 100,000 partitions (10,000 topics of 10) and 10,000 groups, each
// committed on every partition of its own topic one record behind the
// end, so every group partition has lag and lag in time (the most dating
// work). (A group committing to a few partitions of a large topic would
// multiply kafka_exporter's series, which cover every partition of a
// topic a group commits to, -1 where it has no commit.) It reports
// the monitor's peak RSS, the time to read __consumer_offsets and date
// every lagging record, the CPU it uses per minute while the groups commit
// again every 10 s, one /metrics scrape's time and size, and the state
// file's size. Run once:
//
//	go test -run '^$' -bench MonitorScale -benchtime 1x -timeout 60m ./monitor/
//
// REWIND_MONITOR_GROUPS (each with its topic of 10 partitions) scales it
// down.
func BenchmarkMonitorScale(b *testing.B) {
	// Progress goes to stderr at once: a benchmark's own log is printed
	// only when it ends.
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "monitor scale: "+format+"\n", args...) }
	groups := envInt("REWIND_MONITOR_GROUPS", 10000)
	const perTopic = 10
	topics, parts := groups, groups*perTopic
	root, _ := filepath.Abs("..")
	bin, err := proctest.Build(root, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	br := proctest.Start(b, proctest.Config{Binary: bin, Args: []string{"--max-broker-partitions", "0", "--max-open-files", "2000", "--log-level", "warn",
		// The broker is the load here, not what is measured: an fsync per
		// partition of each produce and commit would take the run's time.
		"--fsync", "never"}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(1<<20), kgo.RequestTimeoutOverhead(5*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(300_000)

	t0 := time.Now()
	// A thousand topics a request: each creation rewrites the catalog.
	for i := 0; i < topics; i += 1000 {
		var names []string
		for j := i; j < min(i+1000, topics); j++ {
			names = append(names, topicName(j))
		}
		rs, err := adm.CreateTopics(ctx, perTopic, 1, nil, names...)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rs {
			// A request retried after a timeout finds its topics made.
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				b.Fatal(r.Err)
			}
		}
		logf("%d topics created", min(i+1000, topics))
	}
	logf("created %d partitions in %v", parts, time.Since(t0).Round(time.Second))
	t0 = time.Now()
	// Two records per partition, dated an hour ago.
	ts := time.Now().Add(-time.Hour)
	var rs []*kgo.Record
	for i := 0; i < topics; i++ {
		for p := int32(0); p < perTopic; p++ {
			for j := 0; j < 2; j++ {
				rs = append(rs, &kgo.Record{Topic: topicName(i), Partition: p, Value: []byte("v"), Timestamp: ts})
			}
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	logf("produced %d records in %v", len(rs), time.Since(t0).Round(time.Second))
	commitAll := func(at int64) {
		t0 := time.Now()
		sem := make(chan struct{}, 32)
		errs := make(chan error, groups)
		for g := 0; g < groups; g++ {
			sem <- struct{}{}
			go func(g int) {
				defer func() { <-sem }()
				o := kadm.Offsets{}
				for p := int32(0); p < perTopic; p++ {
					o.Add(kadm.Offset{Topic: topicName(g), Partition: p, At: at, LeaderEpoch: -1})
				}
				var err error
				for try := 0; try < 20; try++ { // the coordinator may still be loading
					var rs kadm.OffsetResponses
					if rs, err = adm.CommitOffsets(ctx, fmt.Sprintf("g%05d", g), o); err == nil {
						err = rs.Error()
					}
					if err == nil {
						break
					}
					time.Sleep(250 * time.Millisecond)
				}
				errs <- err
			}(g)
		}
		for g := 0; g < groups; g++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		logf("committed %d groups x %d partitions in %v", groups, perTopic, time.Since(t0).Round(time.Millisecond))
	}
	commitAll(1)

	httpAddr := proctest.FreeAddr(b)
	state := filepath.Join(b.TempDir(), "monitor.state")
	mon := exec.Command(bin, "monitor", "--brokers", br.Addr, "--http", httpAddr, "--state", state, "--log-level", "warn")
	mon.Stdout, mon.Stderr = os.Stderr, os.Stderr
	started := time.Now()
	if err := mon.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { mon.Process.Kill(); mon.Wait() }()
	pid := mon.Process.Pid
	url := "http://" + httpAddr

	// Ready: __consumer_offsets read, and every lagging record dated.
	want := groups * perTopic
	for {
		if time.Since(started) > 20*time.Minute {
			b.Fatalf("not every group partition dated after 20 minutes")
		}
		time.Sleep(5 * time.Second)
		n, _, _, err := countSeries(url, "kafka_consumergroup_lag_seconds{")
		if err == nil && n >= want {
			break
		}
		logf("%v: %d of %d group partitions dated (%v)", time.Since(started).Round(time.Second), n, want, err)
	}
	ready := time.Since(started)
	cpuReady := cpuSeconds(b, pid)

	// Steady: every group commits again every 10 s for a minute.
	cpu0, w0 := cpuSeconds(b, pid), time.Now()
	for i := 0; i < 6; i++ {
		t := time.Now()
		commitAll(1 + int64(i%2))
		time.Sleep(10*time.Second - time.Since(t))
	}
	cpuMin := (cpuSeconds(b, pid) - cpu0) / time.Since(w0).Minutes()
	_, scrape, size, err := countSeries(url, "kafka_consumergroup_lag{")
	if err != nil {
		b.Fatal(err)
	}
	// Let a state save happen.
	time.Sleep(35 * time.Second)
	peak := vmHWM(b, pid)
	st, _ := os.Stat(state)
	var stateBytes int64
	if st != nil {
		stateBytes = st.Size()
	}
	b.ReportMetric(float64(peak>>20), "peak-RSS-MiB")
	b.ReportMetric(ready.Seconds(), "s-to-ready")
	b.ReportMetric(cpuReady, "CPU-s-to-ready")
	b.ReportMetric(cpuMin, "CPU-s/min-steady")
	b.ReportMetric(scrape.Seconds(), "s/scrape")
	b.ReportMetric(float64(size>>20), "scrape-MiB")
	b.ReportMetric(float64(stateBytes>>10), "state-KiB")
	logf("groups %d, partitions %d: peak RSS %d MiB, ready in %v (%.1f CPU s), steady %.1f CPU s/min, scrape %v (%d MiB), state file %d KiB",
		groups, parts, peak>>20, ready.Round(time.Second), cpuReady, cpuMin, scrape.Round(time.Millisecond), size>>20, stateBytes>>10)
}

func topicName(i int) string { return fmt.Sprintf("t%05d", i) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// countSeries scrapes url/metrics and counts the lines starting with prefix.
func countSeries(url, prefix string) (n int, took time.Duration, size int64, err error) {
	t0 := time.Now()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	buf := make([]byte, 1<<20)
	var carry []byte
	for {
		k, rerr := resp.Body.Read(buf)
		size += int64(k)
		data := append(carry, buf[:k]...)
		lines := strings.Split(string(data), "\n")
		for _, l := range lines[:len(lines)-1] {
			if strings.HasPrefix(l, prefix) {
				n++
			}
		}
		carry = []byte(lines[len(lines)-1])
		if rerr != nil {
			break
		}
	}
	return n, time.Since(t0), size, nil
}

// cpuSeconds is the process's user plus system CPU time.
func cpuSeconds(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func vmHWM(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
