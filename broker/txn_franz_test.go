package broker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// readCommitted returns every record value of topic a read_committed
// consumer sees, stopping once nothing new arrives for a second.
func readCommitted(t *testing.T, addr, topic string) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)); n++ })
		if n == 0 {
			slices.Sort(got)
			return got
		}
	}
}

// A kgo transactional producer (transaction version 2: EndTxn v5, Produce
// v12) commits and aborts transactions over two partitions: a
// read_committed consumer sees exactly the committed records; a second
// producer with the same transactional id fences the first; the epoch the
// coordinator holds grew at every end (KIP-890).
func TestFranzTransactions(t *testing.T) {
	b := rewindtest.Start(t)
	admin := newClient(t, b.Addr())
	createTopic(t, admin, "tx", 2)
	ctx := testCtx(t, 60*time.Second)

	cl := newClient(t, b.Addr(), kgo.TransactionalID("franz-tx"), kgo.DefaultProduceTopic("tx"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(10*time.Second))
	var want []string
	for i := range 6 {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var vals []string
		for p := range int32(2) {
			v := fmt.Sprintf("t%d-p%d", i, p)
			vals = append(vals, v)
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v), Partition: p}).FirstErr(); err != nil {
				t.Fatalf("transaction %d produce: %v", i, err)
			}
		}
		commit := i%3 != 1
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("transaction %d end(commit=%v): %v", i, commit, err)
		}
		if commit {
			want = append(want, vals...)
		}
	}
	// The message browser shows each partition as a read_uncommitted
	// consumer sees it: every record, aborted ones too, and no
	// transaction marker (each takes an offset, so the offsets skip them).
	recs, err := b.ReadRecords("tx", 0, 0, 100, storage.PreviewLimits{MaxField: 64, MaxHeaders: 1, MaxDecoded: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var browsed []string
	for i, r := range recs {
		browsed = append(browsed, string(r.Value))
		if want := int64(2 * i); r.Offset != want {
			t.Errorf("browsed record %d at offset %d, want %d (a record, then its marker)", i, r.Offset, want)
		}
	}
	if want := []string{"t0-p0", "t1-p0", "t2-p0", "t3-p0", "t4-p0", "t5-p0"}; !slices.Equal(browsed, want) {
		t.Errorf("the browser shows %q, want %q", browsed, want)
	}

	slices.Sort(want)
	if got := readCommitted(t, b.Addr(), "tx"); !slices.Equal(got, want) {
		t.Fatalf("read_committed saw %v, want %v", got, want)
	}
	d := describeTxn(t, admin, "franz-tx")
	if d.State != "CompleteCommit" || d.ProducerEpoch < 6 {
		t.Fatalf("after six ends: %+v (want CompleteCommit, epoch bumped at every end)", d)
	}

	// A second producer of the id fences the first.
	cl2 := newClient(t, b.Addr(), kgo.TransactionalID("franz-tx"), kgo.DefaultProduceTopic("tx"))
	if err := cl2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl2.ProduceSync(ctx, kgo.StringRecord("second")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	err = cl.ProduceSync(ctx, kgo.StringRecord("fenced")).FirstErr()
	if err == nil {
		err = cl.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("the fenced producer: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	got := readCommitted(t, b.Addr(), "tx")
	if slices.Contains(got, "fenced") || !slices.Contains(got, "second") {
		t.Fatalf("after the fence: %v", got)
	}
}

// A transaction left open by a producer that went away is aborted once its
// timeout passes, also across a restart of the broker.
func TestHangingTransactionAbortedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := rewindtest.Start(t, broker.WithDataDir(dir))
	admin := newClient(t, b.Addr())
	createTopic(t, admin, "hang", 1)
	ctx := testCtx(t, 60*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.TransactionalID("hanger"), kgo.DefaultProduceTopic("hang"),
		kgo.TransactionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("never")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if d := describeTxn(t, admin, "hanger"); d.State != "Ongoing" {
		t.Fatalf("open: %+v", d)
	}
	admin.Close()
	if err := b.Close(); err != nil { // the producer is gone with it
		t.Fatal(err)
	}
	cl.Close()

	b2 := rewindtest.Start(t, broker.WithDataDir(dir), func(c *broker.Config) { c.TransactionAbortInterval = 50 * time.Millisecond })
	admin2 := newClient(t, b2.Addr())
	waitFor(t, 20*time.Second, func() bool { return describeTxn(t, admin2, "hanger").State == "CompleteAbort" })
	if got := readCommitted(t, b2.Addr(), "hang"); len(got) != 0 {
		t.Fatalf("read_committed saw %v of an aborted transaction", got)
	}
	// The LSO is past the abort: a new transaction commits.
	cl2 := newClient(t, b2.Addr(), kgo.TransactionalID("hanger"), kgo.DefaultProduceTopic("hang"))
	if err := cl2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl2.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := readCommitted(t, b2.Addr(), "hang"); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("read_committed saw %v, want [after]", got)
	}
}
