package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// kfake, the comparison peer, is not linked into the rewind binary: it runs
// as a child process of its own program, bench/kfakepeer (a module of its
// own), one process per measurement like the fresh in-process Rewind.
// findPeer decides where that program comes from, in this order:
//
//  1. Config.Kfake: a kfakepeer binary ("off" skips kfake);
//  2. rewind-kfakepeer next to the rewind binary (Config.Exe), or on PATH;
//  3. bench/kfakepeer in the source tree holding the current directory,
//     built once per run with the go command when it is installed.
//
// Otherwise kfake is not measured: the run goes on with Rewind's figures,
// the kfake and ceiling columns stay empty and the report says why.

// peerName is the binary findPeer looks for next to rewind and on PATH.
const peerName = "rewind-kfakepeer"

// peer is the kfakepeer program of a run; exe is empty when kfake is not
// measured, and why says why.
type peer struct {
	exe string
	why string
}

func (p peer) ok() bool { return p.exe != "" }

// findPeer locates or builds kfakepeer; a binary built from source goes
// into dir.
func findPeer(cfg *Config, dir string, logf func(string, ...any)) (peer, error) {
	switch cfg.Kfake {
	case "off":
		return peer{why: "--kfake off"}, nil
	case "":
	default:
		exe, err := exec.LookPath(cfg.Kfake)
		if err != nil {
			return peer{}, fmt.Errorf("--kfake %s: %w", cfg.Kfake, err)
		}
		return peer{exe: exe}, nil
	}
	if cfg.Exe != "" {
		if exe := filepath.Join(filepath.Dir(cfg.Exe), peerName); isExecutable(exe) {
			return peer{exe: exe}, nil
		}
	}
	if exe, err := exec.LookPath(peerName); err == nil {
		return peer{exe: exe}, nil
	}
	src := sourceDir()
	if src == "" {
		return peer{why: "no " + peerName + " next to rewind or on PATH, and not in a Rewind source tree (build it with `go build -o " + peerName + " .` in bench/kfakepeer, then pass --kfake)"}, nil
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return peer{why: "no " + peerName + " next to rewind or on PATH, and no go command to build " + src}, nil
	}
	// Absolute: go build runs in src, and a relative path would be
	// looked up there (and on PATH by exec) rather than in dir.
	exe, err := filepath.Abs(filepath.Join(dir, peerName))
	if err != nil {
		return peer{}, err
	}
	logf("kfake: building %s (go build)", src)
	cmd := exec.Command(gobin, "build", "-o", exe, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return peer{why: fmt.Sprintf("building %s failed: %v: %s", src, err, strings.TrimSpace(string(out)))}, nil
	}
	return peer{exe: exe}, nil
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// sourceDir is bench/kfakepeer of the Rewind source tree holding the
// current directory, or "".
func sourceDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		src := filepath.Join(d, "bench", "kfakepeer")
		if _, err := os.Stat(filepath.Join(src, "go.mod")); err == nil {
			return src
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// peerTarget is one kfakepeer process.
type peerTarget struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	addr    string
	startup time.Duration // kfake.NewCluster, as the peer measured it
	readyAt time.Time     // when its ready line arrived
}

func (t *peerTarget) addrs() []string { return []string{t.addr} }

// close stops the peer with SIGTERM (kfake then closes the cluster,
// persisting its DataDir) and waits for it.
func (t *peerTarget) close() error {
	t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- t.cmd.Wait() }()
	select {
	case err := <-done:
		t.stdin.Close()
		return err
	case <-time.After(time.Minute):
		t.cmd.Process.Kill()
		t.stdin.Close()
		return fmt.Errorf("%s did not stop after SIGTERM", t.cmd.Path)
	}
}

// start runs the peer with args and waits for its "ready ADDR STARTUP_NS"
// line. Its stdin is a pipe held open until close, so a peer whose parent
// died sees end of file and exits.
func (p peer) start(args ...string) (*peerTarget, error) {
	if !p.ok() {
		return nil, errors.New("kfake is not measured: " + p.why)
	}
	cmd := exec.Command(p.exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &peerTarget{cmd: cmd, stdin: stdin}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, stdout)
	}()
	fail := func(err error) (*peerTarget, error) {
		cmd.Process.Kill()
		cmd.Wait()
		stdin.Close()
		return nil, fmt.Errorf("%s %s: %w", p.exe, strings.Join(args, " "), err)
	}
	select {
	case l, ok := <-line:
		f := strings.Fields(l)
		if !ok || len(f) != 3 || f[0] != "ready" {
			return fail(fmt.Errorf("no ready line (got %q)", l))
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return fail(fmt.Errorf("ready line %q: %w", l, err))
		}
		t.addr, t.startup, t.readyAt = f[1], time.Duration(ns), time.Now()
		return t, nil
	case <-time.After(time.Minute):
		return fail(errors.New("not ready after 1m"))
	}
}
