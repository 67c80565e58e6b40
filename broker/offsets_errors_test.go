package broker_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group requests whose write to __consumer_offsets fails answer what Kafka
// 4.x's coordinator answers (offsetsfmt.AppendError). The client's own
// requests are counted with a kgo hook, so "not retried" is a count, not a
// wall-clock guess.

// requestCounter counts the requests of one API key a kgo client writes.
type requestCounter struct {
	key int16
	n   atomic.Int64
}

func (c *requestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == c.key && err == nil {
		c.n.Add(1)
	}
}

const offsetCommitKey = 8

// A commit larger than max.message.bytes of __consumer_offsets (400
// partitions with 4000 bytes of metadata each, within
// offset.metadata.max.bytes but 1.6 MB in one batch) can never be written.
// Kafka 4.x answers UNKNOWN_SERVER_ERROR, which kgo does not retry; Rewind
// answered NOT_COORDINATOR, which kgo retried (FindCoordinator, commit
// again) until its 30 s retry timeout.
func TestOversizedCommitIsNotRetried(t *testing.T) {
	b := startBrokerAt(t, t.TempDir())
	commits := &requestCounter{key: offsetCommitKey}
	cl := newClient(t, b.Addr(), kgo.WithHooks(commits))
	createTopic(t, cl, "wide", 400)
	adm := kadm.NewClient(cl)
	ctx := testCtx(t, 60*time.Second)

	meta := strings.Repeat("m", 4000)
	big := kadm.Offsets{}
	for p := int32(0); p < 400; p++ {
		big.Add(kadm.Offset{Topic: "wide", Partition: p, At: 7, LeaderEpoch: -1, Metadata: meta})
	}
	resp, err := adm.CommitOffsets(ctx, "wide-group", big)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	bad := 0
	resp.Each(func(r kadm.OffsetResponse) {
		if !errors.Is(r.Err, kerr.UnknownServerError) {
			t.Errorf("partition %d: %v, want UNKNOWN_SERVER_ERROR", r.Partition, r.Err)
		}
		bad++
	})
	if bad != 400 {
		t.Fatalf("%d partitions answered, want 400", bad)
	}
	if n := commits.n.Load(); n != 1 {
		t.Fatalf("kgo sent the oversized commit %d times, want once (not retried)", n)
	}

	// Nothing of it was applied, and the group's partition still takes
	// commits that fit.
	offs, err := adm.FetchOffsets(ctx, "wide-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("wide", 0); ok && o.At >= 0 {
		t.Fatalf("offset %d committed by the refused commit", o.At)
	}
	small := kadm.Offsets{}
	small.Add(kadm.Offset{Topic: "wide", Partition: 0, At: 9, LeaderEpoch: -1, Metadata: meta})
	resp, err = adm.CommitOffsets(ctx, "wide-group", small)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit that fits: %v", err)
	}
}

// The leader's SyncGroup writes every member's subscription and
// assignment in one group metadata record; an assignment larger than
// max.message.bytes cannot be stored. Kafka 4.x answers the SyncGroup
// UNKNOWN_SERVER_ERROR (checked against Kafka 4.4.0), which kgo does not
// retry; Rewind answered NOT_COORDINATOR, which kgo retried.
func TestOversizedAssignmentIsNotRetried(t *testing.T) {
	b := startBrokerAt(t, t.TempDir())
	syncs := &requestCounter{key: 14}
	cl := newClient(t, b.Addr(), kgo.WithHooks(syncs))
	ctx := testCtx(t, 30*time.Second)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = "big-assignment"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 30000, 30000
	join.ProtocolType = "consumer"
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", []byte{0, 0}
	join.Protocols = append(join.Protocols, proto)
	jr, err := join.RequestWith(ctx, cl) // MEMBER_ID_REQUIRED, with the id
	if err != nil {
		t.Fatal(err)
	}
	join.MemberID = jr.MemberID
	if jr, err = join.RequestWith(ctx, cl); err != nil || jr.ErrorCode != 0 {
		t.Fatalf("join: %v %v", err, kerr.ErrorForCode(jr.ErrorCode))
	}

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = join.Group, jr.Generation, jr.MemberID
	pt, pn := "consumer", "range"
	sync.ProtocolType, sync.Protocol = &pt, &pn
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = jr.MemberID, make([]byte, 1100000) // over 1048588 bytes
	sync.GroupAssignment = append(sync.GroupAssignment, a)
	sr, err := sync.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if sr.ErrorCode != kerr.UnknownServerError.Code {
		t.Fatalf("SyncGroup with a 1.1 MB assignment: %v, want UNKNOWN_SERVER_ERROR", kerr.ErrorForCode(sr.ErrorCode))
	}
	if n := syncs.n.Load(); n != 1 {
		t.Fatalf("kgo sent the SyncGroup %d times, want once (not retried)", n)
	}
}

// Committed offsets go through the same disk. A commit that cannot be
// written for a full disk is answered NOT_COORDINATOR, as Kafka 4.x answers
// the KAFKA_STORAGE_ERROR of its log: the committed offset stays what it
// was, and the client retries. The broker's read-only mode ends by itself
// once space returns, so a commit retried within the client's timeout
// lands.
func TestCommitOnFullDisk(t *testing.T) {
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, t.TempDir(), broker.WithFS(efs))
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr(), kgo.RetryTimeout(time.Second))
	createTopic(t, cl, "commits", 1)
	adm := kadm.NewClient(cl)
	commit := func(adm *kadm.Client, at int64) error {
		o := kadm.Offsets{}
		o.Add(kadm.Offset{Topic: "commits", Partition: 0, At: at, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, "g", o)
		if err != nil {
			return err
		}
		return resp.Error()
	}
	committed := func() int64 {
		offs, err := adm.FetchOffsets(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("commits", 0)
		return o.At
	}
	if err := commit(adm, 5); err != nil {
		t.Fatal(err)
	}
	remove := efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: func(n string) bool {
		return strings.Contains(n, "/__consumer_offsets-") && strings.HasSuffix(n, ".log")
	}, Err: syscall.ENOSPC})
	// The first try gets ENOSPC from the file, the broker goes read-only,
	// and kgo's retries (for a second) are refused before writing.
	if err := commit(adm, 9); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("commit while __consumer_offsets could not be written: %v, want NOT_COORDINATOR", err)
	}
	if b.ReadOnly() == nil {
		t.Fatal("not read-only after ENOSPC on __consumer_offsets")
	}
	if at := committed(); at != 5 {
		t.Fatalf("committed offset %d after a refused commit, want 5", at)
	}

	// A client with kgo's default retry timeout keeps retrying; space
	// returns after its second try and the commit lands.
	commits := &requestCounter{key: offsetCommitKey}
	patient := kadm.NewClient(newClient(t, b.Addr(), kgo.WithHooks(commits)))
	done := make(chan error, 1)
	go func() { done <- commit(patient, 12) }()
	for commits.n.Load() < 2 {
		select {
		case err := <-done:
			t.Fatalf("commit ended (%v) before space returned", err)
		case <-ctx.Done():
			t.Fatal("the client did not retry the commit")
		case <-time.After(5 * time.Millisecond):
		}
	}
	remove()
	if err := <-done; err != nil {
		t.Fatalf("commit retried after space returned: %v", err)
	}
	if at := committed(); at != 12 {
		t.Fatalf("committed offset %d, want 12", at)
	}
	if err := commit(adm, 13); err != nil {
		t.Fatalf("commit after space returned: %v", err)
	}
}
