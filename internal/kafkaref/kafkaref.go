// Package kafkaref runs Apache Kafka itself on loopback for tests that
// compare Rewind with the real thing. It drives the project's own
// .ci/kafka.sh (Maven fetches the pinned jars, kafka-storage formats a
// KRaft directory, the broker starts on free 127.0.0.1 ports), so a test
// and a person running the script by hand get the same Kafka.
//
// One Kafka serves every test of a test binary: the first Start starts it,
// later calls reuse it, and Main stops it after the tests.
//
//	func TestMain(m *testing.M) { os.Exit(kafkaref.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		k := kafkaref.Start(t)
//		cl, _ := kgo.NewClient(kgo.SeedBrokers(k.Bootstrap()))
//	}
//
// Without Java 17+, Maven or a reachable Maven Central, Start skips the
// test with the reason, unless REWIND_KAFKA_REQUIRED=1 (CI), where it fails.
// REWIND_KAFKA_BOOTSTRAP=host:port uses a Kafka that is already running
// (for example one started with `.ci/kafka.sh start`) and leaves it alone.
//
// The cluster is removed even when the test binary panics or hits its
// -timeout, when no deferred code runs: the script's watchdog stops it and
// deletes its directory once this process is gone.
package kafkaref

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkascript"
)

// Cluster is a running Apache Kafka.
type Cluster struct {
	addrs  []string
	script *kafkascript.Cluster // nil for a cluster this package did not start
	pids   []int
}

// Bootstrap is the comma-separated host:port list of the brokers.
func (c *Cluster) Bootstrap() string { return strings.Join(c.addrs, ",") }

// Addrs are the brokers' host:port, one per node.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// PIDs are the brokers' JVM process ids (nil for an external cluster).
func (c *Cluster) PIDs() []int { return append([]int(nil), c.pids...) }

// PeakRSS is the largest peak resident set (VmHWM) of the cluster's JVMs in
// bytes, or an error for an external cluster.
func (c *Cluster) PeakRSS() (int64, error) {
	if c.script == nil {
		return 0, errors.New("kafkaref: external cluster")
	}
	return c.script.PeakRSS()
}

// RestartNode stops node i (0 for node 1) cleanly and starts it again
// on its directory and port, returning once it is started (not yet
// serving); the other nodes keep running. An external cluster cannot be
// restarted.
func (c *Cluster) RestartNode(i int) error {
	if c.script == nil {
		return errors.New("kafkaref: external cluster")
	}
	if _, err := c.script.RestartNode(i); err != nil {
		return err
	}
	pids, err := c.script.PIDs()
	if err != nil {
		return err
	}
	c.pids = pids
	return nil
}

// started is the outcome of starting a cluster of some size, once.
type started struct {
	once    sync.Once
	c       *Cluster
	err     error
	missing bool // a prerequisite is missing: skip unless required
}

var (
	mu       sync.Mutex
	clusters = map[int]*started{}
)

// Start returns the test binary's single-node Kafka, starting it on first
// use. It skips or fails the test (see the package doc) when Kafka cannot
// run here.
func Start(t testing.TB) *Cluster { return StartNodes(t, 1) }

// StartNodes is Start for a cluster of 1 or 3 combined broker+controller
// nodes.
func StartNodes(t testing.TB, nodes int) *Cluster {
	t.Helper()
	mu.Lock()
	s := clusters[nodes]
	if s == nil {
		s = &started{}
		clusters[nodes] = s
	}
	mu.Unlock()
	s.once.Do(func() { s.c, s.missing, s.err = start(nodes) })
	if s.err != nil {
		if s.missing && os.Getenv("REWIND_KAFKA_REQUIRED") != "1" {
			t.Skipf("kafkaref: Apache Kafka cannot run here (set REWIND_KAFKA_REQUIRED=1 to fail instead): %v", s.err)
		}
		t.Fatalf("kafkaref: %v", s.err)
	}
	return s.c
}

// Main runs the tests and then stops every cluster they started; use it
// as os.Exit(kafkaref.Main(m)) in TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if err := StopAll(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// StopAll stops the clusters this process started.
func StopAll() error {
	mu.Lock()
	defer mu.Unlock()
	var errs []error
	for n, s := range clusters {
		if s.c != nil {
			errs = append(errs, s.c.stop())
		}
		delete(clusters, n)
	}
	return errors.Join(errs...)
}

// start runs `kafka.sh start` in a new temporary directory, watched by this
// process. missing reports that Kafka cannot run here (no source tree, or a
// prerequisite the script says is missing).
func start(nodes int) (c *Cluster, missing bool, err error) {
	if ext := os.Getenv("REWIND_KAFKA_BOOTSTRAP"); ext != "" {
		if nodes != 1 {
			return nil, false, fmt.Errorf("REWIND_KAFKA_BOOTSTRAP names one cluster; this test wants %d nodes", nodes)
		}
		return &Cluster{addrs: strings.Split(ext, ",")}, false, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, false, err
	}
	script, err := kafkascript.Find(wd)
	if err != nil {
		return nil, true, err
	}
	dir, err := os.MkdirTemp("", "rewind-kafkaref")
	if err != nil {
		return nil, false, err
	}
	t0 := time.Now()
	kc, err := kafkascript.Start(context.Background(), script, dir, nodes)
	if err != nil {
		var me *kafkascript.MissingError
		return nil, errors.As(err, &me), err
	}
	c = &Cluster{addrs: kc.Addrs, script: kc}
	if c.pids, err = kc.PIDs(); err != nil {
		kc.Stop()
		return nil, false, err
	}
	fmt.Fprintf(os.Stderr, "kafkaref: Apache Kafka (%d node(s)) at %s, ready in %v\n",
		nodes, c.Bootstrap(), time.Since(t0).Round(100*time.Millisecond))
	return c, false, nil
}

// stop stops a cluster this package started.
func (c *Cluster) stop() error {
	if c.script == nil {
		return nil
	}
	return c.script.Stop()
}
