// Package proctest runs the real rewind binary as a child process for
// tests that must observe the broker from outside: its peak memory (RSS
// read from /proc), whether it keeps answering other clients, and what it
// does to its data directory across kill -9 and restarts.
//
// Build the binary once per test binary in TestMain with Build, then Start
// brokers on loopback ports. Every process is killed by t.Cleanup.
//
// It also holds the test helpers that more than one Go module's tests
// need (test files cannot be imported, least of all across modules): the
// client helpers of clients.go and the CLI helpers of cli.go, used by the
// broker's and cmd/rewind's tests and by the test modules under compat/.
package proctest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Build compiles ./cmd/rewind of the rewind module into dir and returns
// the binary's path. root is the path from the calling package to the
// rewind module's root (for example "../.."). The build runs in root, so
// that test modules nested in the repository (compat/, test/browser/)
// build the broker with its own module's requirements.
func Build(root, dir string) (string, error) {
	bin, err := filepath.Abs(filepath.Join(dir, "rewind"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/rewind")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building rewind: %w", err)
	}
	return bin, nil
}

// Main is the body of a TestMain that needs built binaries: it makes a
// temporary directory, lets build compile into it (Build, BuildKfake),
// runs the tests, removes the directory and exits with the tests' code. A
// failed build exits 1 before any test runs.
func Main(m *testing.M, build func(dir string) error) {
	dir, err := os.MkdirTemp("", "rewind-proctest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// FreeAddr returns a loopback host:port that was free a moment ago, for a
// process that binds it later and may bind it again after a restart. The
// port lies outside the kernel's ephemeral range (ip_local_port_range):
// a port from there can be taken between a process's exit and its restart
// by any outgoing connection or port-0 listener of the tests running
// beside it, and the restarted broker then fails to bind. No port is
// handed out twice by one test binary.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// FreePort is FreeAddr's port.
func FreePort(t testing.TB) int {
	t.Helper()
	base, span := stableRange()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 500 {
		p := base + rand.IntN(span)
		if portsGiven[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[p] = true
		return p
	}
	t.Fatalf("no free loopback port in %d-%d", base, base+span-1)
	return 0
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// stableRange is the port range FreePort draws from: 10000 up to the
// ephemeral range's start, or above its end when that leaves too few.
func stableRange() (base, span int) {
	lo, hi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.Atoi(f[0])
			h, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && l <= h {
				lo, hi = l, h
			}
		}
	}
	if base, span = 10000, lo-10000; span >= 2000 {
		return base, span
	}
	return hi + 1, max(65536-(hi+1), 1)
}

// Proc is a running `rewind serve`.
type Proc struct {
	Cmd     *exec.Cmd
	Addr    string // Kafka listener
	DataDir string
	LogPath string // the process's stdout and stderr

	logf *os.File
	done chan struct{}
	err  error
}

// Config says how to start a broker. Zero values take the defaults noted.
type Config struct {
	Binary  string   // from Build (required)
	DataDir string   // default: a new t.TempDir()
	Addr    string   // default: FreeAddr
	Args    []string // more `rewind serve` flags
	// NoWait returns as soon as the process started, without waiting for
	// the listener (for starts that are expected to fail).
	NoWait bool
}

// Start starts `rewind serve` with --http "" and --group-initial-rebalance-delay 0
// (unless Args sets them) and waits until it answers a Metadata request.
func Start(t testing.TB, c Config) *Proc {
	t.Helper()
	if c.DataDir == "" {
		c.DataDir = t.TempDir()
	}
	if c.Addr == "" {
		c.Addr = FreeAddr(t)
	}
	args := []string{"serve", "--listen", c.Addr, "--data-dir", c.DataDir, "--log-level", "info"}
	if !hasFlag(c.Args, "--http") {
		args = append(args, "--http", "")
	}
	if !hasFlag(c.Args, "--group-initial-rebalance-delay") {
		args = append(args, "--group-initial-rebalance-delay", "0")
	}
	args = append(args, c.Args...)
	logf, err := os.CreateTemp("", "rewind-proc-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(c.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, Addr: c.Addr, DataDir: c.DataDir, LogPath: logf.Name(), logf: logf, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("broker log %s:\n%s", p.LogPath, tail(p.Log(), 4000))
		}
		os.Remove(p.LogPath)
	})
	if c.NoWait {
		return p
	}
	// The broker binds its port before it opens the data directory, so a
	// connection is accepted (queued) while recovery still runs: wait for
	// an answer, not for the port.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := MetadataLatency(ctx, c.Addr)
		cancel()
		if err == nil {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("rewind exited before listening (%v): %s", p.err, tail(p.Log(), 2000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rewind did not listen on %s within 30s: %s", c.Addr, tail(p.Log(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Log returns what the process wrote so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Exited returns a channel closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// Wait waits up to d for the process to exit and returns its exit error
// (nil for status 0), or an error if it is still running.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("rewind (pid %d) still running after %s", p.Cmd.Process.Pid, d)
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Proc) Kill() {
	select {
	case <-p.done:
	default:
		p.Cmd.Process.Kill()
		<-p.done
	}
	p.logf.Close()
}

// Stop sends SIGTERM (a clean shutdown) and waits up to 30 s.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.Cmd.Process.Signal(os.Interrupt)
	err := p.Wait(30 * time.Second)
	if err != nil {
		p.Kill()
	}
	p.logf.Close()
	return err
}

// status reads one "Name: N kB" field of /proc/PID/status in bytes.
func (p *Proc) status(field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) < 1 {
			break
		}
		kb, err := strconv.ParseInt(fs[0], 10, 64)
		return kb << 10, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", p.Cmd.Process.Pid, field)
}

// RSS is the process's resident set size now, in bytes.
func (p *Proc) RSS() (int64, error) { return p.status("VmRSS") }

// PeakRSS is the largest resident set size the process has had, in bytes
// (VmHWM: the kernel keeps it, so no sample is missed).
func (p *Proc) PeakRSS() (int64, error) { return p.status("VmHWM") }

// MustPeakRSSMiB is PeakRSS in MiB, failing the test if /proc cannot be read.
func (p *Proc) MustPeakRSSMiB(t testing.TB) int64 {
	t.Helper()
	n, err := p.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	return n >> 20
}

// Client returns a franz-go client for the broker, closed by t.Cleanup.
func (p *Proc) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return NewClient(t, p.Addr, opts...)
}

// MetadataLatency opens a new connection, sends one Metadata request and
// returns how long the answer took (dial included). Use it while an attack
// runs to check that other clients are still served.
func MetadataLatency(ctx context.Context, addr string) (time.Duration, error) {
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	if _, err := req.RequestWith(ctx, cl); err != nil {
		return time.Since(start), err
	}
	return time.Since(start), nil
}

// ListEndRequest is a ListOffsets v7 request for the end offset
// (timestamp -1) of one partition.
func ListEndRequest(topic string, partition int32) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// OffsetDeleteRequest is an OffsetDelete (v0) of partitions of one topic.
func OffsetDeleteRequest(group, topic string, partitions ...int32) *kmsg.OffsetDeleteRequest {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rp.Partition = p
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// SyncBuffer is a bytes.Buffer safe to read while loggers or commands
// write to it from other goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ListEnd asks the broker for the end offset of topic/partition (ListOffsets
// v7, timestamp -1) and returns the partition's error code and offset.
func ListEnd(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, partition int32) (int16, int64) {
	t.Helper()
	resp, err := ListEndRequest(topic, partition).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets for %s/%d: %d topics in the answer", topic, partition, len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.Offset
}
