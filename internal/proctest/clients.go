package proctest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The client-side helpers below are shared by the broker's tests and the
// test modules (compat/...), which cannot import another package's test
// files. Each fails t on error and closes what it opens with t.Cleanup.

// NewClient is a franz-go client seeded with addr.
func NewClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Ctx is a context that ends after d or with the test.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// CreateTopic creates topic with replication factor 1.
func CreateTopic(t testing.TB, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	if _, err := kadm.NewClient(cl).CreateTopic(Ctx(t, 10*time.Second), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// ProduceStrings produces one record per value, each acknowledged before
// the next is sent.
func ProduceStrings(t testing.TB, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	ctx := Ctx(t, 20*time.Second)
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// Seq is prefix00, prefix01, ... (n values).
func Seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// WaitFor polls cond every 50 ms and fails t if it is not true within d.
func WaitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CommitOffsets commits offsets[p] for partition p of topic in group,
// retrying for up to 30 s the coordinator errors a fresh Apache Kafka
// answers while it creates and loads __consumer_offsets (retriable errors
// a client retries), and fails t on any other error.
func CommitOffsets(t testing.TB, adm *kadm.Client, group, topic string, offsets ...int64) {
	t.Helper()
	os := kadm.Offsets{}
	for p, o := range offsets {
		os.Add(kadm.Offset{Topic: topic, Partition: int32(p), At: o, LeaderEpoch: -1})
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := adm.CommitAllOffsets(ctx, group, os)
		cancel()
		if err == nil {
			return
		}
		moving := errors.Is(err, kerr.NotCoordinator) || errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.CoordinatorLoadInProgress)
		if !moving || time.Now().After(deadline) {
			t.Fatalf("commit: %v", err)
		}
	}
}

// CommitAsMember commits offset for partition of topic through cl, a
// group member's client (at its generation or member epoch, as its own
// commits go), and fails t on any error.
func CommitAsMember(t testing.TB, cl *kgo.Client, topic string, partition int32, offset int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cerr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: {partition: {Epoch: -1, Offset: offset}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if cerr = err; err == nil {
				cerr = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
			}
		})
	if cerr != nil {
		t.Fatalf("commit %s/%d at %d: %v", topic, partition, offset, cerr)
	}
}
