package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Apache Kafka, the reference Rewind is compatible with, is the third
// peer. Starting a JVM broker takes seconds (tens on two busy cores), so
// unlike Rewind and kfake it is not started afresh for each measurement:
// the bench starts one single-node KRaft cluster with .ci/kafka.sh at the
// beginning of the run and stops it at the end, and each measurement uses
// topics and groups of its own, deleted afterwards (as on an external
// cluster).
//
// Kafka is measured twice where durability matters (produce and latency
// rows with fsync=always, the commit rows):
//
//   - as users run it: the default flush settings, where Kafka leaves
//     writing back to the kernel and acks once the data is in the page
//     cache of the replicas (here: one);
//   - like for like with Rewind's fsync=always: log.flush.interval.messages=1,
//     an fsync of the partition's log after every append. It is a broker
//     default, so it also covers __consumer_offsets (no topic override
//     there), where commits are appended: Kafka has no other setting
//     that makes offset commits durable before the answer.
//
// The setting is switched between measurements on the running broker as a
// cluster-wide dynamic default (IncrementalAlterConfigs on the default
// broker resource), which Kafka applies to every existing log, and read
// back with DescribeConfigs before measuring. A cluster given with
// --kafka-bootstrap is measured as it is configured: the bench changes no
// setting of a cluster it did not start, so it has no like-for-like column.

// kafkaFlushKey is the broker default behind the like-for-like column.
const kafkaFlushKey = "log.flush.interval.messages"

// kafkaPeer is the Kafka cluster of a run; addrs is empty when Kafka is
// not measured, and why says why.
type kafkaPeer struct {
	addrs  []string
	why    string
	script string // .ci/kafka.sh when the bench started the cluster
	dir    string // its --dir
	desc   string // for the report's first lines
	sync   bool   // log.flush.interval.messages=1 is set now
	idle   int64  // RSS right after the start, before any load
}

func (k *kafkaPeer) ok() bool      { return len(k.addrs) > 0 }
func (k *kafkaPeer) managed() bool { return k.dir != "" }

// findKafkaScript is .ci/kafka.sh of the source tree holding the current
// directory, or "".
func findKafkaScript() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, ".ci", "kafka.sh")
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// startKafka makes the run's Kafka peer: the cluster at
// Config.KafkaBootstrap, or one started with the script Config.Kafka
// names ("auto" or empty: .ci/kafka.sh of the source tree; "off": none).
// A missing prerequisite (exit status 3 of the script: no Java 17, no
// Maven, no jars) and, with "auto", any failure to start leave the run
// without Kafka and say why; a script named explicitly that fails is an
// error.
func startKafka(ctx context.Context, cfg *Config, root string, logf func(string, ...any)) (*kafkaPeer, error) {
	if len(cfg.KafkaBootstrap) > 0 {
		return &kafkaPeer{addrs: cfg.KafkaBootstrap, desc: "external at " + strings.Join(cfg.KafkaBootstrap, ",") + " (measured as configured: no like-for-like flush column)"}, nil
	}
	script, explicit := cfg.Kafka, true
	switch cfg.Kafka {
	case "off":
		return &kafkaPeer{why: "--kafka off"}, nil
	case "", "auto":
		explicit = false
		if script = findKafkaScript(); script == "" {
			return &kafkaPeer{why: "no .ci/kafka.sh: not in a Rewind source tree (run from one, pass --kafka PATH-to-kafka.sh, or --kafka-bootstrap)"}, nil
		}
	}
	if _, err := exec.LookPath("bash"); err != nil {
		return &kafkaPeer{why: "no bash to run " + script}, nil
	}
	dir, err := os.MkdirTemp(root, "kafka-")
	if err != nil {
		return nil, err
	}
	logf("kafka: starting Apache Kafka with %s start --dir %s", script, dir)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(sctx, "bash", script, "start", "--dir", dir, "--watch", strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Its own process group, so a timeout ends the script and what it
	// waits on (Maven, a probe JVM), not only bash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	t0 := time.Now()
	runErr := cmd.Run()
	k := &kafkaPeer{script: script, dir: dir}
	if runErr != nil {
		k.stop()
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if errors.As(runErr, &ee) && ee.ExitCode() == 3 {
			return &kafkaPeer{why: lastLine(msg)}, nil
		}
		err := fmt.Errorf("%s start: %v: %s", script, runErr, tailLines(msg, 20))
		if explicit {
			return nil, err
		}
		return &kafkaPeer{why: err.Error()}, nil
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "KAFKA_BOOTSTRAP="); ok {
			k.addrs = strings.Split(v, ",")
		}
	}
	if !k.ok() {
		k.stop()
		return nil, fmt.Errorf("%s start printed no KAFKA_BOOTSTRAP: %q", script, stdout.String())
	}
	pid, err := k.pid()
	if err != nil {
		k.stop()
		return nil, err
	}
	time.Sleep(time.Second)
	k.idle, _ = rssOf(pid)
	heap := os.Getenv("KAFKA_HEAP_OPTS")
	if heap == "" {
		heap = "-Xms64m -Xmx512m"
	}
	k.desc = fmt.Sprintf("Apache Kafka %s, one KRaft node (broker+controller) started by %s in %v, JVM %s, heap %s; like for like: %s=1",
		kafkaVersion(script), script, time.Since(t0).Round(100*time.Millisecond), k.envValue("KAFKA_JAVA"), heap, kafkaFlushKey)
	logf("kafka: %s at %s", k.desc, strings.Join(k.addrs, ","))
	return k, nil
}

// kafkaVersion reads KAFKA_VERSION= from the script.
func kafkaVersion(script string) string {
	b, err := os.ReadFile(script)
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "KAFKA_VERSION="); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// envValue is one KEY of `kafka.sh env --dir`, or "".
func (k *kafkaPeer) envValue(key string) string {
	out, err := exec.Command("bash", k.script, "env", "--dir", k.dir).Output()
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20) // the class path is one long line
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// pid is the Kafka JVM's process id, as the script recorded it.
func (k *kafkaPeer) pid() (int, error) {
	if !k.managed() {
		return 0, errors.New("Kafka was not started by the bench")
	}
	b, err := os.ReadFile(filepath.Join(k.dir, "kafka.pids"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// stop stops a cluster the bench started (the script: a controlled
// shutdown, then KILL; it removes the directory).
func (k *kafkaPeer) stop() error {
	if !k.managed() {
		return nil
	}
	pid, perr := k.pid()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", k.script, "stop", "--dir", k.dir).CombinedOutput()
	if perr == nil {
		syscall.Kill(-pid, syscall.SIGKILL) // should the script have failed
	}
	os.RemoveAll(k.dir)
	k.dir = ""
	if err != nil {
		return fmt.Errorf("kafka.sh stop: %v: %s", err, out)
	}
	return nil
}

// setSync switches the cluster-wide default log.flush.interval.messages
// to 1 (sync) or back to Kafka's default, and waits until the broker
// reports it.
func (k *kafkaPeer) setSync(ctx context.Context, sync bool) error {
	if k.sync == sync {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.addrs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	op := kadm.AlterConfig{Op: kadm.DeleteConfig, Name: kafkaFlushKey}
	if sync {
		op = kadm.AlterConfig{Op: kadm.SetConfig, Name: kafkaFlushKey, Value: kadm.StringPtr("1")}
	}
	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{op})
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = fmt.Errorf("%s: %w %s", kafkaFlushKey, r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("set %s on Kafka: %w", kafkaFlushKey, err)
	}
	// The broker's own resource lists the value in effect, set or not
	// (the default resource lists only what was set).
	md, err := adm.Metadata(ctx)
	if err != nil {
		return err
	}
	for {
		rcs, err := adm.DescribeBrokerConfigs(ctx, md.Brokers.NodeIDs()...)
		if err == nil {
			for _, rc := range rcs {
				for _, c := range rc.Configs {
					if c.Key == kafkaFlushKey && (c.MaybeValue() == "1") == sync {
						k.sync = sync
						return nil
					}
				}
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("Kafka does not report %s=%v: %v", kafkaFlushKey, sync, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// warm runs some load through a freshly started Kafka (produce, then
// read back), so that the JVM's JIT compiler has compiled the produce and
// fetch paths before the first measurement, as in a broker that has been
// running; a cold JVM would be measured otherwise.
func (k *kafkaPeer) warm(ctx context.Context, cfg *Config, bytes int64) error {
	t := kafkaTarget{k}
	topic, err := createTopic(ctx, t, "warmup", 8)
	if err != nil {
		return err
	}
	defer deleteTopic(t, topic)
	if err := fill(ctx, cfg, t, topic, bytes); err != nil {
		return err
	}
	if _, err = consumeAll(ctx, cfg, t, topic); err != nil {
		return err
	}
	// The first commit creates __consumer_offsets (50 partitions) and
	// loads its coordinator: not part of any commit measurement.
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.addrs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		resp, err := kadm.NewClient(cl).CommitOffsets(cctx, topic+"-g", offs)
		if err == nil {
			err = resp.Error()
		}
		if err == nil {
			return nil
		}
		if cctx.Err() != nil {
			return fmt.Errorf("first offset commit: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kafkaTarget is the run's Kafka, used for one measurement.
type kafkaTarget struct{ k *kafkaPeer }

func (t kafkaTarget) addrs() []string { return t.k.addrs }
func (t kafkaTarget) close() error    { return nil }

// leaders waits until every partition of a topic just created on Kafka
// has a leader: CreateTopics answers once the controller has the topic,
// before the broker serves it.
func (t kafkaTarget) leaders(ctx context.Context, topic string, partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.addrs()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil && len(td.Partitions) == partitions {
				led := 0
				for _, p := range td.Partitions {
					if p.Err == nil && p.Leader >= 0 {
						led++
					}
				}
				if led == partitions {
					return nil
				}
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s has no leader for every partition: %w", topic, ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (t kafkaTarget) pid() int {
	p, _ := t.k.pid()
	return p
}

// kafkaSystem is the run's Kafka with default flush settings, or, with
// sync, log.flush.interval.messages=1.
func (r *runner) kafkaSystem(sync bool) system {
	name := "kafka"
	if sync {
		name = "kafka-sync"
	}
	return system{name: name, kafka: true, start: func() (target, error) {
		if err := r.kafka.setSync(context.Background(), sync); err != nil {
			return nil, err
		}
		return kafkaTarget{r.kafka}, nil
	}}
}

// kafkaSync is the like-for-like system where the run can switch it: on a
// cluster it started. Otherwise the system is skipped (no runs).
func (r *runner) kafkaSync() system {
	s := r.kafkaSystem(true)
	if !r.kafka.managed() {
		s.skip = true
	}
	return s
}

// restart stops the Kafka JVM cleanly (SIGTERM: a controlled shutdown)
// and starts it again on the same directory and ports, the way the script
// starts it, and returns when the new process was started: the caller
// times from then to its first useful answer.
func (k *kafkaPeer) restart() (time.Time, error) {
	pid, err := k.pid()
	if err != nil {
		return time.Time{}, err
	}
	java, cp := k.envValue("KAFKA_JAVA"), k.envValue("KAFKA_CLASSPATH")
	if java == "" || cp == "" {
		return time.Time{}, errors.New("kafka.sh env gave no KAFKA_JAVA or KAFKA_CLASSPATH")
	}
	syscall.Kill(-pid, syscall.SIGTERM)
	for deadline := time.Now().Add(time.Minute); syscall.Kill(pid, 0) == nil; {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			return time.Time{}, errors.New("Kafka did not stop within a minute of SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	node := filepath.Join(k.dir, "node1")
	heap := os.Getenv("KAFKA_HEAP_OPTS")
	if heap == "" {
		heap = "-Xms64m -Xmx512m"
	}
	args := strings.Fields(heap)
	args = append(args, "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile="+filepath.Join(node, "log4j2.properties"))
	args = append(args, strings.Fields(os.Getenv("KAFKA_JVM_OPTS"))...)
	args = append(args, "-cp", cp, "kafka.Kafka", filepath.Join(node, "server.properties"))
	out, err := os.OpenFile(filepath.Join(node, "stdout.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return time.Time{}, err
	}
	defer out.Close()
	cmd := exec.Command(java, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own session, as the script starts it, so the script's stop
	// (and its watchdog) end it by process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return time.Time{}, err
	}
	go cmd.Wait() // reaped when it ends, so the script's stop sees it gone
	if err := os.WriteFile(filepath.Join(k.dir, "kafka.pids"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return time.Time{}, err
	}
	return started, nil
}

// kafkaStartup measures Kafka's start-to-ready with n partitions on disk
// after a clean shutdown: the JVM is stopped with SIGTERM and started again
// on its data, timed from the exec of java to the first Metadata answer
// listing every partition. Starting the JVM is part of starting Kafka, so
// it is counted (Rewind's figure is broker.New, in a process already
// running; a rewind serve starts in milliseconds more).
func kafkaStartup(ctx context.Context, cfg *Config, k *kafkaPeer, n int) ([]float64, error) {
	t := kafkaTarget{k}
	if err := seedPartitions(ctx, t, n); err != nil {
		return nil, err
	}
	defer deleteTopic(t, startTopic)
	var out []float64
	for i := 0; i < cfg.Rounds; i++ {
		settle()
		started, err := k.restart()
		if err != nil {
			return nil, err
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err = ready(rctx, k.addrs, n)
		el := time.Since(started)
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, ms(el))
	}
	return out, nil
}

// kafkaRSS is the Kafka JVM's RSS idle (right after its start, before
// the warm-up) and its peak while consumers read stored bytes back, as
// for kfake (no restart: Kafka's reads come from the page cache either
// way). The JVM's heap is sized by KAFKA_HEAP_OPTS (the script's default
// -Xms64m -Xmx512m) and the JVM keeps what it has grown to, so the peak
// also reflects the load of earlier scenarios.
func kafkaRSS(ctx context.Context, cfg *Config, k *kafkaPeer, stored int64) (rssResult, error) {
	if err := k.setSync(ctx, false); err != nil {
		return rssResult{}, err
	}
	t := kafkaTarget{k}
	topic, err := createTopic(ctx, t, "rss", 8)
	if err != nil {
		return rssResult{}, err
	}
	defer deleteTopic(t, topic)
	if err := fill(ctx, cfg, t, topic, stored); err != nil {
		return rssResult{}, err
	}
	serving, err := serveAndMeasure(ctx, cfg, t, topic)
	return rssResult{idle: k.idle, serving: serving}, err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
