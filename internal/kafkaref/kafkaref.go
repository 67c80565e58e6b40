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
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on the script. A cold start downloads about 55 MB of jars first.
const (
	startTimeout = 5 * time.Minute
	stopTimeout  = time.Minute
)

// Cluster is a running Apache Kafka.
type Cluster struct {
	addrs []string
	dir   string // "" for a cluster this package did not start
	pids  []int
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
	if len(c.pids) == 0 {
		return 0, errors.New("kafkaref: external cluster")
	}
	var peak int64
	for _, pid := range c.pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				peak = max(peak, kb*1024)
			}
		}
	}
	return peak, nil
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

// Script is the path of .ci/kafka.sh, found by walking up from the working
// directory (a test's package directory) to the module root.
func Script() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, ".ci", "kafka.sh")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("no .ci/kafka.sh beside %s/go.mod", dir)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// start runs `kafka.sh start` in a new temporary directory, watched by this
// process. missing reports that the script said a prerequisite is missing.
func start(nodes int) (c *Cluster, missing bool, err error) {
	if ext := os.Getenv("REWIND_KAFKA_BOOTSTRAP"); ext != "" {
		if nodes != 1 {
			return nil, false, fmt.Errorf("REWIND_KAFKA_BOOTSTRAP names one cluster; this test wants %d nodes", nodes)
		}
		return &Cluster{addrs: strings.Split(ext, ",")}, false, nil
	}
	if _, err := exec.LookPath("bash"); err != nil {
		return nil, true, errors.New("no bash to run .ci/kafka.sh")
	}
	script, err := Script()
	if err != nil {
		return nil, true, err
	}
	dir, err := os.MkdirTemp("", "rewind-kafkaref")
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "start",
		"--nodes", strconv.Itoa(nodes), "--dir", dir, "--watch", strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Its own process group, so a timeout ends the script and whatever it
	// was waiting on (Maven, a probe JVM), not just bash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	t0 := time.Now()
	runErr := cmd.Run()
	c = &Cluster{dir: dir}
	c.readPIDs()
	if runErr != nil {
		c.stop()
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if errors.As(runErr, &ee) && ee.ExitCode() == 3 {
			return nil, true, errors.New(lastLine(msg))
		}
		if ctx.Err() != nil {
			return nil, false, fmt.Errorf("kafka.sh start did not finish within %v: %s", startTimeout, tailLines(msg, 30))
		}
		return nil, false, fmt.Errorf("kafka.sh start: %v: %s", runErr, tailLines(msg, 30))
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "KAFKA_BOOTSTRAP="); ok {
			c.addrs = strings.Split(v, ",")
		}
	}
	if len(c.addrs) != nodes {
		c.stop()
		return nil, false, fmt.Errorf("kafka.sh start printed no bootstrap for %d nodes: %q", nodes, stdout.String())
	}
	fmt.Fprintf(os.Stderr, "kafkaref: Apache Kafka (%d node(s)) at %s, ready in %v\n",
		nodes, c.Bootstrap(), time.Since(t0).Round(100*time.Millisecond))
	return c, false, nil
}

func (c *Cluster) readPIDs() {
	b, err := os.ReadFile(filepath.Join(c.dir, "kafka.pids"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			c.pids = append(c.pids, pid)
		}
	}
}

// stop asks the script to stop the cluster (a controlled shutdown, then
// KILL) and, should the script fail or hang, kills the JVMs' process
// groups itself and removes the directory.
func (c *Cluster) stop() error {
	if c.dir == "" {
		return nil
	}
	var err error
	if script, serr := Script(); serr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		cmd := exec.CommandContext(ctx, "bash", script, "stop", "--dir", c.dir)
		out, rerr := cmd.CombinedOutput()
		cancel()
		if rerr != nil {
			err = fmt.Errorf("kafka.sh stop: %v: %s", rerr, out)
		}
	}
	for _, pid := range c.pids {
		// The JVMs lead their own process groups (setsid in the script).
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = rerr
	}
	c.dir = ""
	return err
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
