package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Config is what one bench run measures and how hard.
type Config struct {
	// Brokers, when set, is an already running Rewind (or any Kafka)
	// measured in place of an in-process Rewind. Scenarios that need to
	// start and stop the broker (start-to-ready, RSS, the fsync variants)
	// are skipped then.
	Brokers []string
	// DataDir holds the in-process brokers' data, the machine's write
	// test and kfake's start-to-ready data; a temporary directory under
	// it is removed at the end. Empty means the system temp dir.
	DataDir string
	// Exe is the rewind binary, run as a child process to measure the
	// broker's RSS on its own (os.Executable() from the CLI). Empty skips
	// the RSS figures.
	Exe string
	// Kfake is the kfakepeer program (bench/kfakepeer) that runs the
	// kfake comparison peer; "off" skips kfake, and empty looks for
	// rewind-kfakepeer next to Exe or on PATH, then builds bench/kfakepeer
	// of the source tree holding the current directory with the go
	// command. Without one the run measures Rewind alone (see peer.go).
	Kfake string
	// Kafka is how the run gets its Apache Kafka peer: "auto" (or empty)
	// starts one with .ci/kafka.sh of the source tree holding the current
	// directory, "off" skips Kafka, anything else is the path of a
	// kafka.sh to start it with. Without Java 17 or Maven (the script's
	// exit status 3) the run goes on without Kafka and says why.
	Kafka string
	// KafkaBootstrap, when set, is an already running Kafka measured in
	// place of one the bench starts; it is measured as configured (no
	// like-for-like column, no start-to-ready or RSS).
	KafkaBootstrap []string

	Scenarios []string // of AllScenarios; empty means all

	Rounds     int           // A B rounds per figure; the table shows medians
	Duration   time.Duration // of each produce / tailing / commit measurement
	Warmup     time.Duration // at the start of each timed measurement, not counted
	Producers  int           // producer clients
	Consumers  int           // consumer clients
	RecordSize int           // bytes per record value (the produce rows also use 100 B)
	Acks       string        // all, leader, none
	// Compression is the codec of produced batches: none (the default),
	// snappy, lz4, zstd, gzip. Values are random bytes, so compression
	// only costs CPU.
	Compression string
	// Volume, when > 0, makes each produce measurement send this many
	// bytes instead of running for Duration.
	Volume int64

	ConsumeBytes int64   // stored before the cold consume
	LatencyRate  float64 // bytes/s of the end-to-end latency measurement
	GroupSizes   []int   // consumer group sizes for time-to-stable
	// RejoinSize is the settled group one more member joins, for the time
	// to settle again with each protocol (0: not measured).
	RejoinSize int
	// ConsumerHeartbeat, when > 0, is group.consumer.heartbeat.interval.ms
	// (and its minimum, where lower) on every broker of the run: Rewind,
	// kfake and the Kafka the bench starts; 0 keeps their defaults (5 s).
	// A consumer-protocol member hears of a change only from a heartbeat's
	// answer, so the rejoin figure is one interval at least (rejoin.go):
	// the default, 100 ms, is one under the 200 ms goal, and the figure's
	// name says it.
	ConsumerHeartbeat time.Duration
	StartPartition    int   // partitions on disk for start-to-ready
	RSSBytes          int64 // stored data while measuring RSS
	LimitBytes        int64 // written by the fdatasync bandwidth test

	// FollowPartitions are the topic sizes one consumer follows while
	// FollowRate records/s trickle in, for the broker's CPU (follow.go).
	FollowPartitions []int
	FollowRate       float64

	Log io.Writer // progress lines; nil = quiet
}

// AllScenarios lists the scenario names Config.Scenarios may hold.
var AllScenarios = []string{"limits", "produce", "consume", "tls", "latency", "groups", "commits", "txn", "startup", "rss", "follow", "recompress"}

// DefaultConfig is the full run.
func DefaultConfig() Config {
	return Config{
		Rounds:         3,
		Duration:       5 * time.Second,
		Warmup:         time.Second,
		Producers:      2,
		Consumers:      2,
		RecordSize:     1024,
		Acks:           "all",
		Compression:    "none",
		ConsumeBytes:   1 << 30,
		LatencyRate:    50e6,
		GroupSizes:     []int{1, 10, 100},
		RejoinSize:     100,
		StartPartition: 1000,
		RSSBytes:       10 << 30,
		LimitBytes:     1 << 30,

		FollowPartitions: []int{100, 2000, 20000},
		FollowRate:       200,

		// Kafka's default interval, 5 s, puts the rejoin figure at 5-10 s
		// on every broker; see ConsumerHeartbeat.
		ConsumerHeartbeat: 100 * time.Millisecond,
	}
}

// SmokeConfig is a short run of every scenario, for CI: it checks that the
// bench works end to end, not how fast anything is.
func SmokeConfig() Config {
	c := DefaultConfig()
	c.Rounds = 1
	c.Duration = time.Second
	c.Warmup = 250 * time.Millisecond
	c.ConsumeBytes = 32 << 20
	c.LatencyRate = 5e6
	c.GroupSizes = []int{1, 10}
	c.RejoinSize = 10
	c.FollowPartitions = []int{100}
	c.StartPartition = 100
	c.RSSBytes = 64 << 20
	c.LimitBytes = 64 << 20
	return c
}

func (c *Config) validate() error {
	if len(c.Scenarios) == 0 {
		c.Scenarios = AllScenarios
	}
	for _, s := range c.Scenarios {
		if !c.has(s) || !contains(AllScenarios, s) {
			return fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(AllScenarios, ", "))
		}
	}
	switch {
	case c.Rounds < 1:
		return fmt.Errorf("rounds must be at least 1")
	case c.Duration <= c.Warmup:
		return fmt.Errorf("duration %v must be longer than the warmup %v", c.Duration, c.Warmup)
	case c.Producers < 1 || c.Consumers < 1:
		return fmt.Errorf("need at least one producer and one consumer")
	case c.RecordSize < 16:
		return fmt.Errorf("record size must be at least 16 bytes (the latency test stamps 8)")
	}
	if _, err := acksOpt(c.Acks); err != nil {
		return err
	}
	if _, err := compressionOpt(c.Compression); err != nil {
		return err
	}
	return nil
}

func (c *Config) has(scenario string) bool { return contains(c.Scenarios, scenario) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
