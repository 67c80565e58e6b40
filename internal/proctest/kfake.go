package proctest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BuildKfake compiles bench/kfakepeer, the program that runs franz-go's
// kfake (a module of its own, so that the rewind module does not require
// kfake), into dir and returns the binary's path. root is as for Build.
// Tests that check a behaviour against kfake as a second implementation
// of the protocol build it once in TestMain and start clusters with Kfake.
func BuildKfake(root, dir string) (string, error) {
	bin, err := filepath.Abs(filepath.Join(dir, "rewind-kfakepeer"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(root, "bench", "kfakepeer")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building bench/kfakepeer: %w", err)
	}
	return bin, nil
}

// Kfake starts a one-broker kfake cluster on 127.0.0.1 in a child process
// of bin (from BuildKfake) and returns its address. The process is stopped
// when the test ends.
func Kfake(t testing.TB, bin string) string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	// kfakepeer exits when its stdin closes: it cannot outlive the test
	// binary.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		stdin.Close()
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
	}()
	select {
	case l := <-line:
		// "ready ADDR STARTUP_NS"
		if f := strings.Fields(l); len(f) == 3 && f[0] == "ready" {
			return f[1]
		}
		t.Fatalf("kfakepeer: no ready line (got %q)", l)
	case <-time.After(30 * time.Second):
		t.Fatal("kfakepeer not ready within 30s")
	}
	return ""
}
