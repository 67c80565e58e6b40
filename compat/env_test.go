package compat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// env is the one broker every client talks to, plus a franz-go admin
// client the suite uses to check what the clients did.
type env struct {
	addr      string
	http      string // the admin listener (/metrics)
	root      string // module root
	dir       string // scratch space for this run
	brokerLog string
	commit    string
	adm       *kadm.Client
	cl        *kgo.Client
}

// startEnv builds cmd/rewind, starts it on a free loopback port and stops it
// (SIGTERM, then SIGKILL) when the test ends.
func startEnv(t *testing.T) *env {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &env{root: root, dir: dir, brokerLog: filepath.Join(dir, "broker.log")}
	// -dirty marks a broker built from uncommitted changes.
	e.commit = strings.TrimSpace(runQuiet(root, "git", "describe", "--always", "--dirty"))

	bin := filepath.Join(dir, "rewind")
	build := exec.Command(goTool(), "build", "-o", bin, "./cmd/rewind")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the broker (go build ./cmd/rewind): %v\n%s", err, out)
	}

	port := freePort(t)
	e.addr = fmt.Sprintf("127.0.0.1:%d", port)
	e.http = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	logf, err := os.Create(e.brokerLog)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve",
		"--listen", e.addr,
		"--data-dir", filepath.Join(dir, "data"),
		"--group-initial-rebalance-delay", "0",
		"--auto-create-topics=true",
		"--http", e.http,
		"--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited); logf.Close() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("broker log (last lines of %s):\n%s", e.brokerLog, tailFile(e.brokerLog, 60))
		}
	})

	e.cl, err = kgo.NewClient(kgo.SeedBrokers(e.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cl.Close)
	e.adm = kadm.NewClient(e.cl)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		select {
		case <-exited:
			t.Fatalf("broker exited at start:\n%s", tailFile(e.brokerLog, 40))
		default:
		}
		if err := e.cl.Ping(ctx); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("broker not ready after 30s: %v\n%s", err, tailFile(e.brokerLog, 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return e
}

func (e *env) createTopics(ctx context.Context, topics ...string) error {
	resp, err := e.adm.CreateTopics(ctx, 1, 1, nil, topics...)
	if err != nil {
		return err
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("%s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// expectTopics checks, with franz-go, that the broker has the topics.
func (e *env) expectTopics(ctx context.Context, topics ...string) error {
	md, err := e.adm.Metadata(ctx, topics...)
	if err != nil {
		return fmt.Errorf("check with franz-go: %w", err)
	}
	for _, tp := range topics {
		d, ok := md.Topics[tp]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return fmt.Errorf("client reported success but the broker does not have topic %s (%v)", tp, d.Err)
		}
	}
	return nil
}

var codecIDs = map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// expectCodec checks, with franz-go, that the batches stored in topic carry
// the codec's attribute: the client really compressed.
func (e *env) expectCodec(ctx context.Context, topic, codec string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("checking the stored codec with franz-go: %w", err)
		}
		for _, fe := range fs.Errors() {
			return fmt.Errorf("checking the stored codec with franz-go: %w", fe.Err)
		}
		for _, r := range fs.Records() {
			if got := r.Attrs.CompressionType(); got != codecIDs[codec] {
				return fmt.Errorf("stored batch at offset %d has compression type %d, want %d (%s): the client did not compress", r.Offset, got, codecIDs[codec], codec)
			}
			return nil
		}
	}
}

// expectCommitted checks, with franz-go, the group's committed offset on
// partition 0 of topic.
func (e *env) expectCommitted(ctx context.Context, group, topic string, want int64) error {
	offs, err := e.adm.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("OffsetFetch with franz-go: %w", err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok {
		return fmt.Errorf("client read the records but the broker has no committed offset for %s/0 in group %s", topic, group)
	}
	if o.Err != nil {
		return fmt.Errorf("OffsetFetch %s/0: %w", topic, o.Err)
	}
	if o.At != want {
		return fmt.Errorf("committed offset is %d, want %d", o.At, want)
	}
	return nil
}

func freePort(t *testing.T) int { return proctest.FreePort(t) }

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func runQuiet(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, _ := cmd.Output()
	return string(out)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return tailLines(string(b), n)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// proc runs one subprocess in its own process group, killed with the
// group when ctx ends.
type proc struct {
	name   string
	args   []string
	dir    string
	env    []string
	stdin  string
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// run returns an error carrying the exit status and the last stderr lines,
// which is what the table shows for a failing cell.
func (p *proc) run(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, p.name, p.args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdin = strings.NewReader(p.stdin)
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	msg := errLines(p.stderr.String())
	if ctx.Err() != nil {
		return fmt.Errorf("timed out (killed): %s", msg)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: %s", ee.ProcessState.String(), msg)
	}
	return err
}

// errLines picks what a failing subprocess said: lines starting with
// "ERROR:" (our drivers' verdict), else the last few lines.
func errLines(stderr string) string {
	var picked []string
	for _, l := range strings.Split(stderr, "\n") {
		if rest, ok := strings.CutPrefix(l, "ERROR: "); ok {
			picked = append(picked, rest)
		}
	}
	if len(picked) == 0 {
		picked = strings.Split(tailLines(stderr, 4), "\n")
	}
	out := strings.Join(picked, " / ")
	if out == "" {
		out = "(no output on stderr)"
	}
	return short(out, 600)
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

var dpkgMu sync.Mutex

// debVersion is the installed version of a Debian package, or "not
// installed".
func debVersion(pkg string) string {
	dpkgMu.Lock()
	defer dpkgMu.Unlock()
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil || len(out) == 0 {
		return "not installed"
	}
	return string(out)
}
