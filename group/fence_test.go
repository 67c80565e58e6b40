package group

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A fenced __consumer_offsets partition: its groups are unloaded and
// answered NOT_COORDINATOR (Kafka's answer for a partition whose load
// failed), the other partitions' groups are served; LoadPartition brings
// it back after a repair.
func TestFencedPartition(t *testing.T) {
	h := newHarness(t)
	// "abc" is on partition 4, "hello" on 22 (TestPartitionFor).
	allCodes(t, h.commit(commitReq(8, "abc", "", -1, offs{"t": {0: 10}})), 0)
	allCodes(t, h.commit(commitReq(8, "hello", "", -1, offs{"t": {0: 20}})), 0)
	h.stableGroup("hello", 1)

	// At start-up: the records of partition 4 were replayed up to the
	// damage, then it is fenced.
	n := &harness{t: t, clk: h.clk, store: h.store, cfg: h.cfg}
	h.c.Close()
	n.c = New(h.cfg, h.store)
	h.store.replayInto(t, n.c)
	cause := errors.New("CRC-32C mismatch")
	if got := n.c.FencePartition(4, cause); !slices.Equal(got, []string{"abc"}) {
		t.Fatalf("FencePartition unloaded %v, want [abc]", got)
	}
	n.c.start(false)
	t.Cleanup(n.c.Close)

	code, got := n.fetch(5, "abc", map[string][]int32{"t": {0}})
	wantCode(t, "OffsetFetch of a fenced group", code, kerr.NotCoordinator.Code)
	if got["t/0"] != -1 {
		t.Fatalf("fenced group's offset %d, want -1", got["t/0"])
	}
	allCodes(t, n.commit(commitReq(8, "abc", "", -1, offs{"t": {0: 11}})), kerr.NotCoordinator.Code)
	wantCode(t, "JoinGroup", n.join(joinReq(9, "abc", "")).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "Heartbeat", n.heartbeat(4, "abc", "m", 1), kerr.NotCoordinator.Code)
	dg := n.c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Groups: []string{"abc", "hello"}})
	wantCode(t, "DescribeGroups of a fenced group", dg.Groups[0].ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "DescribeGroups of another group", dg.Groups[1].ErrorCode, 0)
	if err := n.c.GroupErr("abc"); !errors.Is(err, cause) {
		t.Fatalf("GroupErr = %v", err)
	}
	if n.c.GroupErr("hello") != nil || n.c.PartitionErr(22) != nil {
		t.Fatal("another partition reported fenced")
	}
	for _, s := range n.c.Groups() {
		if s.Name == "abc" {
			t.Fatal("a fenced group is listed")
		}
	}
	// Another partition is served as before.
	code, got = n.fetch(5, "hello", map[string][]int32{"t": {0}})
	if code != 0 || got["t/0"] != 20 {
		t.Fatalf("other group: %s, offset %d; want 20", errName(code), got["t/0"])
	}

	// A running coordinator unloads a loaded group too, waking its
	// members' calls; then LoadPartition serves partition 22 again.
	if got := n.c.FencePartition(22, cause); !slices.Equal(got, []string{"hello"}) {
		t.Fatalf("FencePartition of a loaded partition unloaded %v", got)
	}
	code, _ = n.fetch(5, "hello", map[string][]int32{"t": {0}})
	wantCode(t, "OffsetFetch after fencing a loaded partition", code, kerr.NotCoordinator.Code)

	for _, p := range []int32{4, 22} {
		err := n.c.LoadPartition(p, func(replay ReplayFunc) error {
			for i, r := range h.store.all()[p] {
				if err := replay(int64(i), plainBatch, r.Key, r.Value, r.Timestamp); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for g, want := range map[string]int64{"abc": 10, "hello": 20} {
		code, got = n.fetch(5, g, map[string][]int32{"t": {0}})
		if code != 0 || got["t/0"] != want {
			t.Fatalf("%s after LoadPartition: %s, offset %d; want %d", g, errName(code), got["t/0"], want)
		}
	}
	allCodes(t, n.commit(commitReq(8, "abc", "", -1, offs{"t": {0: 12}})), 0)
	if n.c.LoadPartition(4, func(ReplayFunc) error { return nil }) == nil {
		t.Fatal("LoadPartition of a partition that is not fenced succeeded")
	}
}

func TestRecordGroup(t *testing.T) {
	for _, key := range [][]byte{offsetKey("g1", tp{"t", 1}), groupKey("g1")} {
		if g, ok := RecordGroup(key); !ok || g != "g1" {
			t.Fatalf("RecordGroup = %q, %v", g, ok)
		}
	}
	if _, ok := RecordGroup([]byte{0, 9, 1}); ok {
		t.Fatal("unknown key version decoded")
	}
}
