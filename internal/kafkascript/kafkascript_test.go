package kafkascript

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real script is exercised by internal/kafkaref's tests and bench's
// TestRunKafka (they start Apache Kafka); these check how its answers are
// read, with stand-in scripts that answer as it does.

func TestFind(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Find(wd)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs(filepath.Join("..", "..", ".ci", "kafka.sh"))
	if got != want {
		t.Errorf("Find = %s, want %s", got, want)
	}
	// A nested module without the script is passed over.
	if got, err := Find(filepath.Join(wd, "..", "..", "bench", "kfakepeer")); err != nil || got != filepath.Clean(want) {
		t.Errorf("from bench/kfakepeer: %s %v, want %s", got, err, want)
	}
	if _, err := Find(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .ci/kafka.sh") {
		t.Errorf("outside a source tree: %v", err)
	}
	if v := Version(want); !strings.HasPrefix(v, "4.") {
		t.Errorf("Version = %q, want 4.x", v)
	}
}

func fakeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kafka.sh")
	if err := os.WriteFile(p, []byte("#!/usr/bin/env bash\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartMissing(t *testing.T) {
	script := fakeScript(t, `echo "kafka.sh: fetching" >&2; echo "kafka.sh: missing prerequisite: no java" >&2; exit 3`)
	dir := t.TempDir()
	_, err := Start(context.Background(), script, dir, 1)
	var me *MissingError
	if !errors.As(err, &me) || me.Reason != "kafka.sh: missing prerequisite: no java" {
		t.Fatalf("err %v (%T), want MissingError with the last line", err, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dir after a failed start: %v", err)
	}
}

func TestStartFails(t *testing.T) {
	script := fakeScript(t, `echo "kafka.sh: Kafka did not answer" >&2; exit 1`)
	_, err := Start(context.Background(), script, t.TempDir(), 1)
	var me *MissingError
	if err == nil || errors.As(err, &me) || !strings.Contains(err.Error(), "Kafka did not answer") {
		t.Fatalf("err %v, want a failure with the script's output", err)
	}
}

// TestStartStop: the bootstrap and PIDs are read as the script writes
// them, Stop runs the script's stop and removes the directory, and a
// bootstrap for fewer nodes than asked is an error.
func TestStartStop(t *testing.T) {
	script := fakeScript(t, `
dir=""; nodes=""
while [ $# -gt 0 ]; do case $1 in --dir) dir=$2; shift 2;; --nodes) nodes=$2; shift 2;; *) cmd=${cmd:-$1}; shift;; esac; done
case $cmd in
  start) setsid sleep 300 </dev/null >/dev/null 2>&1 & a=$!; setsid sleep 300 </dev/null >/dev/null 2>&1 &
    echo "$a $!" >"$dir/kafka.pids"; echo "KAFKA_BOOTSTRAP=127.0.0.1:1,127.0.0.1:2"; echo "KAFKA_DIR=$dir" ;;
  stop) touch "$dir.stopped"; rm -rf "$dir" ;;
esac`)
	dir := filepath.Join(t.TempDir(), "k")
	os.Mkdir(dir, 0o755)
	c, err := Start(context.Background(), script, dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bootstrap() != "127.0.0.1:1,127.0.0.1:2" {
		t.Errorf("bootstrap %q", c.Bootstrap())
	}
	pids, err := c.PIDs()
	if err != nil || len(pids) != 2 {
		t.Fatalf("PIDs %v %v", pids, err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + ".stopped"); err != nil {
		t.Errorf("the script's stop did not run: %v", err)
	}
	// The stand-in's stop leaves its "JVMs" running: Stop kills them.
	for _, pid := range pids {
		for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d alive after Stop", pid)
			}
		}
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	dir = filepath.Join(t.TempDir(), "k3")
	os.Mkdir(dir, 0o755)
	if _, err := Start(context.Background(), script, dir, 3); err == nil || !strings.Contains(err.Error(), "for 3 node(s)") {
		t.Errorf("3 nodes asked, 2 started: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dir after a failed start: %v", err)
	}
}
