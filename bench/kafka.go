package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rewindhq/rewind/internal/kafkascript"
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
	addrs   []string
	why     string
	cluster *kafkascript.Cluster // when the bench started it
	desc    string               // for the report's first lines
	sync    bool                 // log.flush.interval.messages=1 is set now
	idle    int64                // RSS right after the start, before any load
}

func (k *kafkaPeer) ok() bool      { return len(k.addrs) > 0 }
func (k *kafkaPeer) managed() bool { return k.cluster != nil }

// startKafka makes the run's Kafka peer: the cluster at
// Config.KafkaBootstrap, or one started with the script Config.Kafka
// names ("auto" or empty: .ci/kafka.sh of the source tree holding the
// current directory; "off": none). A missing prerequisite (exit status 3
// of the script: no Java 17, no Maven, no jars) and, with "auto", any
// failure to start leave the run without Kafka and say why; a script named
// explicitly that fails is an error.
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
		wd, err := os.Getwd()
		if err == nil {
			script, err = kafkascript.Find(wd)
		}
		if err != nil {
			return &kafkaPeer{why: fmt.Sprintf("%v (run from one, pass --kafka PATH-to-kafka.sh, or --kafka-bootstrap)", err)}, nil
		}
	}
	dir, err := os.MkdirTemp(root, "kafka-")
	if err != nil {
		return nil, err
	}
	if hb := cfg.ConsumerHeartbeat; hb > 0 {
		// The script appends KAFKA_EXTRA_PROPERTIES to server.properties;
		// the bench is a program of its own, so setting it here reaches
		// only the Kafka it starts. One set by the caller is kept, first.
		props := filepath.Join(dir, "bench-extra.properties")
		var extra []byte
		if prev := os.Getenv("KAFKA_EXTRA_PROPERTIES"); prev != "" {
			b, err := os.ReadFile(prev)
			if err != nil {
				return nil, fmt.Errorf("kafka: KAFKA_EXTRA_PROPERTIES: %w", err)
			}
			extra = append(b, '\n')
		}
		ms := hb.Milliseconds()
		extra = fmt.Appendf(extra, "group.consumer.heartbeat.interval.ms=%d\ngroup.consumer.min.heartbeat.interval.ms=%d\n", ms, min(ms, 5000))
		if err := os.WriteFile(props, extra, 0o644); err != nil {
			return nil, err
		}
		os.Setenv("KAFKA_EXTRA_PROPERTIES", props)
	}
	logf("kafka: starting Apache Kafka with %s start --dir %s", script, dir)
	t0 := time.Now()
	c, err := kafkascript.Start(ctx, script, dir, 1)
	if err != nil {
		var missing *kafkascript.MissingError
		if errors.As(err, &missing) || !explicit {
			return &kafkaPeer{why: err.Error()}, nil
		}
		return nil, err
	}
	k := &kafkaPeer{addrs: c.Addrs, cluster: c}
	pid, err := k.pid()
	if err != nil {
		k.stop()
		return nil, err
	}
	time.Sleep(time.Second)
	k.idle, _ = rssOf(pid)
	java, heap := "?", []string{"?"}
	if argv, err := c.JVMArgs(); err == nil {
		java, heap = argv[0], slices.DeleteFunc(argv[1:], func(a string) bool {
			return !strings.HasPrefix(a, "-Xms") && !strings.HasPrefix(a, "-Xmx")
		})
	}
	k.desc = fmt.Sprintf("Apache Kafka %s, one KRaft node (broker+controller) started by %s in %v, JVM %s, heap %s; like for like: %s=1",
		kafkascript.Version(script), script, time.Since(t0).Round(100*time.Millisecond), java, strings.Join(heap, " "), kafkaFlushKey)
	logf("kafka: %s at %s", k.desc, strings.Join(k.addrs, ","))
	return k, nil
}

// pid is the Kafka JVM's process id, as the script (or a restart)
// recorded it.
func (k *kafkaPeer) pid() (int, error) {
	if !k.managed() {
		return 0, errors.New("Kafka was not started by the bench")
	}
	pids, err := k.cluster.PIDs()
	if err != nil {
		return 0, err
	}
	return pids[0], nil
}

// stop stops a cluster the bench started.
func (k *kafkaPeer) stop() error {
	if !k.managed() {
		return nil
	}
	err := k.cluster.Stop()
	k.cluster = nil
	return err
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
		started, err := k.cluster.Restart()
		if err != nil {
			return nil, err
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err = ready(rctx, k.addrs, n)
		el := time.Since(started)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("restarted Kafka %w; %s", err, k.cluster.NodeState(0))
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
