package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rewindhq/rewind/bench"
	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	def := bench.DefaultConfig()
	var (
		smoke                                             bool
		scenarios                                         []string
		volume, consumeBytes, rssBytes, limitBytes        string
		latencyMBs                                        float64
		cpuProfile, memProfile, kfakePeer, dataDir, save  string
		kafka, kafkaBootstrap                             string
		rounds, producers, consumers, recordSize, startPs int
		duration, warmup                                  time.Duration
		acks, compression                                 string
		groupSizes                                        []int
		followParts                                       []int
		followRate                                        float64
		rejoinSize                                        int
		consumerHeartbeat                                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Rewind against franz-go's kfake and the machine's limits, in one run",
		Long: `Measure throughput, latency, group rebalances, start-up and memory of
Rewind against franz-go's in-memory kfake cluster, on the same load (franz-go kgo clients, random incompressible
values, no compression unless --compression), alternating Rewind and kfake
round by round. The machine's own limits (one loopback TCP connection;
sequential write with fdatasync in --data-dir) are measured in the same
run, and each figure is shown as a ratio to kfake and a fraction of the
limit that bounds it.

Rewind runs in this process (a fresh broker and data directory for each
measurement) unless --brokers is given on the command line; its RSS is
measured on a child rewind serve.

kfake is not part of this binary: it runs as a child process of the
kfakepeer program (bench/kfakepeer in the source, a module of its own),
given by --kfake, else rewind-kfakepeer next to this binary or on PATH,
else built with the go command when the current directory is inside a
Rewind source tree (as with go run ./cmd/rewind bench). Without one, the
run measures Rewind alone and says why kfake was skipped.

Apache Kafka is measured in the same run (columns Kafka and x Kafka): one
single-node KRaft broker started with .ci/kafka.sh (--kafka), or a running
one (--kafka-bootstrap). Where durability matters it is measured twice: with
its default flush settings, and like for like with Rewind's fsync=always
(log.flush.interval.messages=1, columns Kafka flush=1). Without Java 17 or
Maven the run goes on without Kafka and says why.

--smoke is a short run of every scenario that checks the bench works; its
figures mean little. Flags given with --smoke override its settings.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg := bench.DefaultConfig()
			if smoke {
				cfg = bench.SmokeConfig()
			}
			// A flag given (on the command line or as REWIND_<FLAG>)
			// overrides the preset.
			given := func(name string) bool { return flagGiven(cmd, name) }
			if given("rounds") {
				cfg.Rounds = rounds
			}
			if given("duration") {
				cfg.Duration = duration
			}
			if given("warmup") {
				cfg.Warmup = warmup
			}
			if given("producers") {
				cfg.Producers = producers
			}
			if given("consumers") {
				cfg.Consumers = consumers
			}
			if given("record-size") {
				cfg.RecordSize = recordSize
			}
			if given("acks") {
				cfg.Acks = acks
			}
			if given("compression") {
				cfg.Compression = compression
			}
			if given("follow-partitions") {
				cfg.FollowPartitions = followParts
			}
			if given("follow-rate") {
				cfg.FollowRate = followRate
			}
			if given("group-sizes") {
				cfg.GroupSizes = groupSizes
			}
			if given("rejoin-size") {
				cfg.RejoinSize = rejoinSize
			}
			if given("group-consumer-heartbeat-interval") {
				cfg.ConsumerHeartbeat = consumerHeartbeat
			}
			if given("start-partitions") {
				cfg.StartPartition = startPs
			}
			if given("latency-rate") {
				cfg.LatencyRate = latencyMBs * 1e6
			}
			for _, v := range []struct {
				flag string
				dst  *int64
				val  string
			}{{"volume", &cfg.Volume, volume}, {"consume-bytes", &cfg.ConsumeBytes, consumeBytes}, {"rss-bytes", &cfg.RSSBytes, rssBytes}, {"limit-bytes", &cfg.LimitBytes, limitBytes}} {
				if given(v.flag) {
					n, err := parseBytes(v.val)
					if err != nil {
						return fmt.Errorf("--%s: %w", v.flag, err)
					}
					*v.dst = n
				}
			}
			cfg.Scenarios = scenarios
			cfg.Kfake = kfakePeer
			cfg.Kafka = kafka
			for _, s := range strings.Split(kafkaBootstrap, ",") {
				if s = strings.TrimSpace(s); s != "" {
					cfg.KafkaBootstrap = append(cfg.KafkaBootstrap, s)
				}
			}
			cfg.DataDir = dataDir
			// Only --brokers on the command line measures an external
			// cluster: REWIND_BROKERS, set for the client commands, must
			// not turn the one-command run into a run against production.
			if f := cmd.Flag(flagBrokers); f != nil && f.Changed {
				for _, s := range strings.Split(f.Value.String(), ",") {
					if s = strings.TrimSpace(s); s != "" {
						cfg.Brokers = append(cfg.Brokers, s)
					}
				}
			}
			if exe, err := os.Executable(); err == nil {
				cfg.Exe = exe
			}
			cfg.Log = cmd.ErrOrStderr()

			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			rep, err := bench.Run(ctx, cfg)
			if memProfile != "" {
				if f, ferr := os.Create(memProfile); ferr == nil {
					pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}
			if rep != nil && save != "" {
				if f, ferr := os.Create(save); ferr == nil {
					rep.WriteJSON(f)
					f.Close()
				}
			}
			if rep != nil && len(rep.Figures) > 0 {
				if out, _ := cmd.Flags().GetString(flagOutput); out == "json" {
					rep.WriteJSON(cmd.OutOrStdout())
				} else {
					rep.WriteTable(cmd.OutOrStdout())
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&smoke, "smoke", false, "a short run of every scenario (for CI: checks the bench works, not speed)")
	f.StringSliceVar(&scenarios, "scenarios", nil, "scenarios to run (default all): "+strings.Join(bench.AllScenarios, ","))
	f.StringVar(&dataDir, "data-dir", ".", "where brokers store data and the write test writes (in a temporary directory removed at the end)")
	f.IntVar(&rounds, "rounds", def.Rounds, "measurements of each figure per system, alternating Rewind and kfake; the table shows medians")
	f.DurationVar(&duration, "duration", def.Duration, "length of each timed produce, tailing and commit measurement")
	f.DurationVar(&warmup, "warmup", def.Warmup, "start of each timed measurement that is not counted")
	f.StringVar(&volume, "volume", "0", "produce this much per measurement (e.g. 1GiB) instead of running for --duration")
	f.IntVar(&producers, "producers", def.Producers, "producer clients")
	f.IntVar(&consumers, "consumers", def.Consumers, "consumer clients")
	f.IntVar(&recordSize, "record-size", def.RecordSize, "bytes of each record value (the produce scenario also runs 100 B)")
	f.StringVar(&acks, "acks", def.Acks, "all, leader or none")
	f.StringVar(&compression, "compression", def.Compression, "none, snappy, lz4, zstd or gzip (values are random: compression only costs CPU)")
	f.StringVar(&consumeBytes, "consume-bytes", bytesFlag(def.ConsumeBytes), "data stored before the cold consume")
	f.Float64Var(&latencyMBs, "latency-rate", def.LatencyRate/1e6, "MB/s produced during the end-to-end latency measurement")
	f.IntSliceVar(&followParts, "follow-partitions", def.FollowPartitions, "topic sizes one consumer follows for the broker-CPU figure (follow scenario)")
	f.Float64Var(&followRate, "follow-rate", def.FollowRate, "records/s produced to random partitions while the consumer follows")
	f.IntSliceVar(&groupSizes, "group-sizes", def.GroupSizes, "consumer group sizes for time to stable")
	f.DurationVar(&consumerHeartbeat, "group-consumer-heartbeat-interval", def.ConsumerHeartbeat, "group.consumer.heartbeat.interval.ms (and its minimum, where lower) on every broker measured: Rewind, kfake and the Kafka the bench starts; a consumer-protocol rebalance takes one interval at least, so the 200 ms goal needs less than 200ms (0: the brokers' default, 5s)")
	f.IntVar(&rejoinSize, "rejoin-size", def.RejoinSize, "settled group size one more member joins, timed with the classic and the consumer protocol (0: skip)")
	f.IntVar(&startPs, "start-partitions", def.StartPartition, "partitions on disk for start-to-ready")
	f.StringVar(&rssBytes, "rss-bytes", bytesFlag(def.RSSBytes), "data stored while measuring the broker's RSS")
	f.StringVar(&limitBytes, "limit-bytes", bytesFlag(def.LimitBytes), "written by the sequential write + fdatasync test")
	f.StringVar(&save, "save", "", "also write the report as JSON to this file (for CI history)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (in-process brokers and the clients) to the file")
	f.StringVar(&memProfile, "memprofile", "", "write an allocation profile of this process to the file")
	f.StringVar(&kafka, "kafka", "auto", "Apache Kafka peer: auto starts one with .ci/kafka.sh of the source tree (skipped, saying why, without Java 17 or Maven), off skips it, or the path of a kafka.sh to start it with")
	f.StringVar(&kafkaBootstrap, "kafka-bootstrap", "", "host:port,... of a running Apache Kafka to measure as configured, instead of starting one")
	f.StringVar(&kfakePeer, "kfake", "", "the kfakepeer binary that runs kfake (default: rewind-kfakepeer next to rewind or on PATH, else built from the source tree with go); off skips kfake")
	return cmd
}

func bytesFlag(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	}
	return strconv.FormatInt(n, 10)
}

// parseBytes reads 1048576, 512KiB, 64MiB, 10GiB, 1.5GB.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (like 512MiB or 10GiB)", s)
	}
	return int64(v * mult), nil
}
