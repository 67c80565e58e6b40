package kafkaref

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// roundTrip creates a topic, produces with acks=all and reads it back.
func roundTrip(t *testing.T, bootstrap string, replicas int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ConsumeTopics("rt"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 3, replicas, nil, "rt")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "rt", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	got := 0
	for got < 10 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 10: %v", got, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		got += fs.NumRecords()
	}
}

func TestSingleNode(t *testing.T) {
	k := Start(t)
	if len(k.Addrs()) != 1 || !strings.HasPrefix(k.Bootstrap(), "127.0.0.1:") {
		t.Fatalf("bootstrap %q, want one 127.0.0.1 address", k.Bootstrap())
	}
	roundTrip(t, k.Bootstrap(), 1)
	if k2 := Start(t); k2 != k {
		t.Fatal("a second Start in the same test binary started another Kafka")
	}
	if rss, err := k.PeakRSS(); err == nil {
		t.Logf("peak RSS %d MiB", rss>>20)
	}
}

func TestThreeNodes(t *testing.T) {
	if os.Getenv("REWIND_KAFKA_BOOTSTRAP") != "" {
		t.Skip("REWIND_KAFKA_BOOTSTRAP names a single external cluster")
	}
	k := StartNodes(t, 3)
	if len(k.Addrs()) != 3 {
		t.Fatalf("bootstrap %q, want 3 brokers", k.Bootstrap())
	}
	// Replication factor 3 with acks=all needs all three brokers in the ISR.
	roundTrip(t, k.Bootstrap(), 3)
	if rss, err := k.PeakRSS(); err == nil {
		t.Logf("largest peak RSS of the three JVMs %d MiB", rss>>20)
	}
}

// TestPanicLeavesNothing runs a child test binary that starts Kafka and
// panics: no TestMain cleanup runs, and the watchdog must still stop the
// JVM and remove its directory.
func TestPanicLeavesNothing(t *testing.T) {
	if os.Getenv("KAFKAREF_PANIC_CHILD") == "1" {
		k := Start(t)
		fmt.Printf("CHILD dir=%s pids=%v\n", k.script.Dir, k.pids)
		panic("kafkaref test: panicking with Kafka running")
	}
	if os.Getenv("REWIND_KAFKA_BOOTSTRAP") != "" {
		t.Skip("an external cluster is not started here")
	}
	Start(t) // skip here, not in the child, when Kafka cannot run
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestPanicLeavesNothing$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KAFKAREF_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child did not panic:\n%s", out)
	}
	var dir string
	var pids []int
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "CHILD dir="); ok {
			d, p, _ := strings.Cut(rest, " pids=")
			dir = d
			for _, f := range strings.Fields(strings.Trim(p, "[]")) {
				n, _ := strconv.Atoi(f)
				pids = append(pids, n)
			}
		}
	}
	if dir == "" || len(pids) == 0 {
		t.Fatalf("child printed no cluster:\n%s", out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		alive := false
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil && !zombie(pid) {
				alive = true
			}
		}
		_, statErr := os.Stat(dir)
		if !alive && os.IsNotExist(statErr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("60 s after the child panicked: JVM alive %v, dir %s stat %v", alive, dir, statErr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}
