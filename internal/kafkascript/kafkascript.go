// Package kafkascript drives the project's .ci/kafka.sh from Go: it finds
// the script in a source tree, starts a KRaft cluster with it on loopback,
// reads what the script records (bootstrap, the JVMs' PIDs), restarts
// a node and stops the cluster. It is the one Go reader of the script's
// output and files, used by the test harness (internal/kafkaref) and by
// `rewind bench`, so a person running the script by hand, a test and the
// bench get the same Kafka.
//
// The script's contract, as read here:
//
//	kafka.sh start --nodes N --dir DIR --watch PID
//	    stdout: KAFKA_BOOTSTRAP=host:port,...   exit 3: a prerequisite is missing
//	DIR/kafka.pids                              the JVMs' PIDs, each leading its own process group
//	DIR/nodeI/stdout.log                        node I's output
//	kafka.sh stop --dir DIR                     a controlled shutdown, then KILL; removes DIR
//
// With --watch the script's watchdog stops the cluster and removes DIR once
// the watched process is gone, so a cluster never outlives a program that
// panicked or was killed before it could call Stop.
package kafkascript

import (
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
)

// Bounds on the script. A cold start downloads about 55 MB of jars first;
// a controlled shutdown waits 30 s before KILL.
const (
	StartTimeout = 5 * time.Minute
	stopTimeout  = 2 * time.Minute
)

// MissingError is the script's exit status 3: a prerequisite is missing
// (no Java 17+, no Maven, the jars could not be fetched). Callers skip on
// it where Kafka is optional.
type MissingError struct{ Reason string }

func (e *MissingError) Error() string { return e.Reason }

// Find is .ci/kafka.sh of the source tree holding dir: the first directory
// at or above dir with a go.mod and a .ci/kafka.sh (a nested module such as
// bench/kfakepeer is passed over).
func Find(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, ".ci", "kafka.sh")
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no .ci/kafka.sh beside a go.mod at or above %s: not in a Rewind source tree", dir)
		}
	}
}

// Version is KAFKA_VERSION of the script, or "?".
func Version(script string) string {
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

// Cluster is a Kafka the script started in Dir.
type Cluster struct {
	Script string
	Dir    string
	Addrs  []string // one host:port per node
}

// Bootstrap is the comma-separated host:port list of the brokers.
func (c *Cluster) Bootstrap() string { return strings.Join(c.Addrs, ",") }

// Start runs `script start` for a cluster of nodes (1 or 3) in dir, an
// existing directory the cluster then owns (Stop removes it, also when
// Start fails), watched by this process. The script and what it waits on
// (Maven, a probe JVM) run in their own process group, so ctx's end or
// StartTimeout kills all of them. A missing prerequisite is a
// *MissingError.
func Start(ctx context.Context, script, dir string, nodes int) (*Cluster, error) {
	c := &Cluster{Script: script, Dir: dir}
	if _, err := exec.LookPath("bash"); err != nil {
		os.RemoveAll(dir)
		return nil, &MissingError{Reason: "no bash to run " + script}
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "start",
		"--nodes", strconv.Itoa(nodes), "--dir", dir, "--watch", strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		c.Stop()
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee) && ee.ExitCode() == 3:
			return nil, &MissingError{Reason: lastLine(msg)}
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%s start did not finish: %w: %s", script, ctx.Err(), tailLines(msg, 30))
		}
		return nil, fmt.Errorf("%s start: %v: %s", script, err, tailLines(msg, 30))
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "KAFKA_BOOTSTRAP="); ok {
			c.Addrs = strings.Split(v, ",")
		}
	}
	if len(c.Addrs) != nodes {
		c.Stop()
		return nil, fmt.Errorf("%s start printed no KAFKA_BOOTSTRAP for %d node(s): %q", script, nodes, stdout.String())
	}
	return c, nil
}

// PIDs are the JVMs' process ids as the script (or Restart) recorded them,
// node 1 first. Each leads its own process group.
func (c *Cluster) PIDs() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, "kafka.pids"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("kafka.pids: bad pid %q", f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// PeakRSS is the largest peak resident set (VmHWM: the kernel keeps it, so
// no sample is missed) of the cluster's JVMs, in bytes.
func (c *Cluster) PeakRSS() (int64, error) {
	pids, err := c.PIDs()
	if err != nil {
		return 0, err
	}
	var peak int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("/proc/%d/status: %q", pid, line)
				}
				peak = max(peak, kb<<10)
			}
		}
	}
	return peak, nil
}

// Restart stops node 1's JVM cleanly (SIGTERM to its process group: a
// controlled shutdown, KILL after a minute) and starts it again with the
// command line it ran with (read from /proc, so the flags the script chose
// are not restated here), on the same directory and ports, in a session of
// its own as the script starts it, and records its new PID for Stop and the
// watchdog. It returns when the new process was started, for a caller that
// times the way to its first answer.
func (c *Cluster) Restart() (time.Time, error) {
	pids, err := c.PIDs()
	if err != nil {
		return time.Time{}, err
	}
	if len(pids) != 1 {
		return time.Time{}, fmt.Errorf("restart of a %d-node cluster", len(pids))
	}
	return c.RestartNode(0)
}

// RestartNode is Restart for node i (0 for node 1) of a cluster of any
// size; the other nodes keep running, so the cluster's leaders and group
// coordinators move off the node and back.
func (c *Cluster) RestartNode(i int) (time.Time, error) {
	pids, err := c.PIDs()
	if err != nil {
		return time.Time{}, err
	}
	if i < 0 || i >= len(pids) {
		return time.Time{}, fmt.Errorf("no node %d in a %d-node cluster", i+1, len(pids))
	}
	pid := pids[i]
	argv, err := cmdline(pid)
	if err != nil {
		return time.Time{}, err
	}
	syscall.Kill(-pid, syscall.SIGTERM)
	for deadline := time.Now().Add(time.Minute); alive(pid); {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			return time.Time{}, errors.New("Kafka did not stop within a minute of SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := os.OpenFile(filepath.Join(c.Dir, fmt.Sprintf("node%d", i+1), "stdout.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return time.Time{}, err
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return time.Time{}, err
	}
	go cmd.Wait() // reaped when it ends, so the script's stop sees it gone
	pids[i] = cmd.Process.Pid
	var b strings.Builder
	for _, p := range pids {
		fmt.Fprintln(&b, p)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "kafka.pids"), []byte(b.String()), 0o644); err != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return time.Time{}, err
	}
	return started, nil
}

// NodeState says whether node i's JVM (0 for node 1) still runs and, when it
// has exited, the last lines it printed: what a caller whose wait for a
// restarted node timed out reports.
func (c *Cluster) NodeState(i int) string {
	pids, err := c.PIDs()
	if err != nil || i < 0 || i >= len(pids) {
		return fmt.Sprintf("node %d: no PID (%v)", i+1, err)
	}
	if alive(pids[i]) {
		return fmt.Sprintf("node %d (pid %d) is running", i+1, pids[i])
	}
	out, _ := os.ReadFile(filepath.Join(c.Dir, fmt.Sprintf("node%d", i+1), "stdout.log"))
	return fmt.Sprintf("node %d (pid %d) exited; its log ends:\n%s", i+1, pids[i], tailLines(strings.TrimSpace(string(out)), 15))
}

// JVMArgs is node 1's JVM command line as it runs (the java binary first).
func (c *Cluster) JVMArgs() ([]string, error) {
	pids, err := c.PIDs()
	if err != nil {
		return nil, err
	}
	return cmdline(pids[0])
}

func cmdline(pid int) ([]string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	argv := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	if len(argv) < 2 || !strings.Contains(filepath.Base(argv[0]), "java") {
		return nil, fmt.Errorf("pid %d is not a Kafka JVM: %q", pid, argv)
	}
	return argv, nil
}

// alive is whether pid runs and is not a zombie (a JVM this process
// started and has not reaped yet).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// Stop asks the script to stop the cluster and, should the script fail or
// hang, kills the JVMs' process groups itself and removes the directory.
// It is a no-op on a stopped cluster.
func (c *Cluster) Stop() error {
	if c.Dir == "" {
		return nil
	}
	pids, _ := c.PIDs()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", c.Script, "stop", "--dir", c.Dir).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s stop: %v: %s", c.Script, err, out)
	}
	for _, pid := range pids {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	if rerr := os.RemoveAll(c.Dir); rerr != nil && err == nil {
		err = rerr
	}
	c.Dir = ""
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
