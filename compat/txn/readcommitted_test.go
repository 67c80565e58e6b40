package txn

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const parts = 2

// written is what franz-go wrote: values of committed transactions, of
// an aborted one, and of one left open while the consumers read.
type written struct {
	topic     string
	committed []string
	aborted   []string
	open      []string
}

// reader reads topic from the beginning to its end (the last stable offset
// with read_committed) and returns the values.
type reader func(t *testing.T, addr, topic string, committed bool) []string

// eachBroker runs fn against a fresh Rewind and against Apache Kafka.
func eachBroker(t *testing.T, fn func(t *testing.T, addr string)) {
	t.Run("rewind", func(t *testing.T) {
		p := proctest.Start(t, proctest.Config{Binary: binary})
		if !servesTransactions(t, p.Addr) {
			t.Skip("this Rewind does not serve transactions (no EndTxn in ApiVersions)")
		}
		fn(t, p.Addr)
	})
	t.Run("kafka", func(t *testing.T) { fn(t, kafkaref.Start(t).Bootstrap()) })
}

func servesTransactions(t *testing.T, addr string) bool {
	t.Helper()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(proctest.Ctx(t, 10*time.Second), proctest.NewClient(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 26 { // EndTxn
			return true
		}
	}
	return false
}

// writeTxns writes, with franz-go, a committed transaction, an aborted one
// and a committed one over both partitions of a new topic, then opens a
// fourth and leaves it open (aborted when the test ends).
func writeTxns(t *testing.T, addr string) written {
	t.Helper()
	w := written{topic: fmt.Sprintf("compat-txn-%d", time.Now().UnixNano())}
	proctest.CreateTopic(t, proctest.NewClient(t, addr), w.topic, parts)
	cl := proctest.NewClient(t, addr, kgo.TransactionalID(w.topic+"-producer"),
		kgo.DefaultProduceTopic(w.topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := proctest.Ctx(t, time.Minute)
	txn := func(name string, commit bool, end bool) []string {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var vals []string
		for i := range 10 {
			v := fmt.Sprintf("%s-%02d", name, i)
			vals = append(vals, v)
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % parts), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if end {
			if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatal(err)
			}
		}
		return vals
	}
	w.committed = append(w.committed, txn("committed1", true, true)...)
	w.aborted = txn("aborted", false, true)
	w.committed = append(w.committed, txn("committed2", true, true)...)
	w.open = txn("open", false, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cl.EndTransaction(ctx, kgo.TryAbort)
	})
	return w
}

// checkReaders reads w.topic with each isolation level: read_committed
// must return exactly the committed values, read_uncommitted everything.
func checkReaders(t *testing.T, addr string, read reader) {
	w := writeTxns(t, addr)
	got := read(t, addr, w.topic, true)
	slices.Sort(got)
	want := slices.Sorted(slices.Values(w.committed))
	if !slices.Equal(got, want) {
		t.Errorf("read_committed: %d values %q, want the %d committed ones %q", len(got), got, len(want), want)
	}
	got = read(t, addr, w.topic, false)
	slices.Sort(got)
	want = slices.Sorted(slices.Values(slices.Concat(w.committed, w.aborted, w.open)))
	if !slices.Equal(got, want) {
		t.Errorf("read_uncommitted: %d values %q, want all %d written", len(got), got, len(want))
	}
}

// TestKcatReadCommitted: kcat -C -e with isolation.level=read_committed
// stops at the last stable offset (the open transaction) and prints no
// record of the aborted one.
func TestKcatReadCommitted(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("REWIND_COMPAT_REQUIRED") == "1" {
			t.Fatal("kcat not on PATH (Debian package kcat)")
		}
		t.Skip("kcat not on PATH (Debian package kcat; .ci/compat.sh installs it)")
	}
	eachBroker(t, func(t *testing.T, addr string) { checkReaders(t, addr, kcatRead) })
}

func kcatRead(t *testing.T, addr, topic string, committed bool) []string {
	t.Helper()
	iso := "read_uncommitted"
	if committed {
		iso = "read_committed"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
		"-X", "isolation.level="+iso, "-f", "%s\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.Contains(stderr.String(), "ERROR") {
		t.Fatalf("kcat (%s): %v: %s", iso, err, stderr.String())
	}
	return strings.Fields(string(out))
}
