package group

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type offs = map[string]map[int32]int64

// Kafka: a commit with generation -1 and no member id (admin tools,
// consumers without group management) is accepted for an unknown group and
// creates it, Empty, with no protocol type.
func TestStandaloneCommitCreatesGroup(t *testing.T) {
	h := newHarness(t)
	for v := int16(0); v <= 8; v++ {
		allCodes(t, h.commit(commitReq(v, "g", "", -1, offs{"t": {0: int64(10 + v)}})), 0)
		code, got := h.fetch(5, "g", map[string][]int32{"t": {0}})
		if code != 0 || got["t/0"] != int64(10+v) {
			t.Fatalf("v%d: fetch %v %v", v, code, got)
		}
	}
	gs := h.c.Groups()
	if len(gs) != 1 || gs[0].Name != "g" || gs[0].State != "Empty" || gs[0].ProtocolType != "" {
		t.Fatalf("groups %+v", gs)
	}
	// An unknown group with a generation: the commit comes from a stale
	// member, ILLEGAL_GENERATION.
	allCodes(t, h.commit(commitReq(8, "other", "m", 3, offs{"t": {0: 1}})), kerr.IllegalGeneration.Code)
	if h.state("other") != "Dead" {
		t.Fatal("a member commit created a group")
	}
}

// Kafka's validateOffsetCommit for groups with members.
func TestCommitFencing(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	o := offs{"t": {0: 1, 1: 2}}
	allCodes(t, h.commit(commitReq(8, "g", ids[1], gen, o)), 0)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, o)), kerr.UnknownMemberID.Code)
	allCodes(t, h.commit(commitReq(0, "g", ids[1], gen, o)), kerr.UnknownMemberID.Code) // v0 has no member: standalone
	allCodes(t, h.commit(commitReq(8, "g", ids[1], gen-1, o)), kerr.IllegalGeneration.Code)
	allCodes(t, h.commit(commitReq(8, "g", ids[1], gen+1, o)), kerr.IllegalGeneration.Code)
	allCodes(t, h.commit(commitReq(8, "g", "nope", gen, o)), kerr.UnknownMemberID.Code)
	// Once Empty again, a stale member's commit is refused but a
	// standalone one is fine.
	h.c.LeaveGroup(context.Background(), leaveReq(5, "g", leaving(ids[0]), leaving(ids[1])))
	if h.state("g") != "Empty" {
		t.Fatal(h.state("g"))
	}
	allCodes(t, h.commit(commitReq(8, "g", ids[1], gen, o)), kerr.UnknownMemberID.Code)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, o)), 0)
}

// offset.metadata.max.bytes and Config.TopicPartitionExists are checked per
// partition; the other partitions of the request are committed.
func TestCommitPerPartitionErrors(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OffsetMetadataMaxBytes = 5
		c.TopicPartitionExists = func(topic string, p int32) bool { return topic == "t" && p < 3 }
	})
	req := commitReq(8, "g", "", -1, offs{"t": {0: 1, 1: 2, 7: 3}, "missing": {0: 4}})
	long := "123456"
	req.Topics[1].Partitions[1].Metadata = &long // t/1
	codes := h.commit(req)
	want := map[string]int16{
		"t/0":       0,
		"t/1":       kerr.OffsetMetadataTooLarge.Code,
		"t/7":       kerr.UnknownTopicOrPartition.Code,
		"missing/0": kerr.UnknownTopicOrPartition.Code,
	}
	for k, w := range want {
		wantCode(t, k, codes[k], w)
	}
	got := h.c.Committed("g")
	if len(got) != 1 || len(got["t"]) != 1 || got["t"][0].Offset != 1 || got["t"][0].Metadata != "m" {
		t.Fatalf("committed %+v", got)
	}
	// All partitions unknown: no group validation at all (Kafka filters
	// them before asking the coordinator), and no group created.
	codes = h.commit(commitReq(8, "new", "x", 5, offs{"missing": {0: 1}}))
	wantCode(t, "unknown only", codes["missing/0"], kerr.UnknownTopicOrPartition.Code)
	if h.state("new") != "Dead" {
		t.Fatal("group created")
	}
}

// A commit is acknowledged only once its Store write is durable.
func TestCommitAckedAfterDurable(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	h.store.mu.Lock()
	h.store.block = release
	h.store.mu.Unlock()
	done := make(chan map[string]int16, 1)
	go func() { done <- h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 42}})) }()
	pending(t, done)
	close(release)
	allCodes(t, recv(t, done), 0)
	if h.store.count() != 1 || h.c.Committed("g")["t"][0].Offset != 42 {
		t.Fatal("commit not stored")
	}
}

// A failed append fails the commit and leaves the old offset in place;
// errors map as Kafka maps produce errors on __consumer_offsets.
func TestCommitStoreFailure(t *testing.T) {
	h := newHarness(t)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 1}})), 0)
	for _, c := range []struct {
		err  error
		want int16
	}{
		{errDisk, kerr.NotCoordinator.Code},
		{fmt.Errorf("%w: %w", ErrStoreFull, syscall.ENOSPC), kerr.NotCoordinator.Code},
		// Kafka 4.x: UNKNOWN_SERVER_ERROR, which clients do not retry
		// (3.x answered INVALID_COMMIT_OFFSET_SIZE).
		{kerr.MessageTooLarge, kerr.UnknownServerError.Code},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{context.DeadlineExceeded, kerr.CoordinatorNotAvailable.Code},
		{context.Canceled, kerr.NotCoordinator.Code},
	} {
		h.store.setFail(c.err)
		allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 2}})), c.want)
	}
	h.store.setFail(nil)
	if got := h.c.Committed("g")["t"][0].Offset; got != 1 {
		t.Fatalf("offset %d after failed commits, want 1", got)
	}

	// Kafka 4.x answers a failed write on every partition it was asked
	// for, also one refused for its metadata, which would keep clients
	// that read the first partition's code (kgo) from retrying.
	req := commitReq(8, "g", "", -1, offs{"t": {0: 3, 1: 3}})
	long := strings.Repeat("m", 5000)
	req.Topics[0].Partitions[0].Metadata = &long
	h.store.setFail(errDisk)
	allCodes(t, h.commit(req), kerr.NotCoordinator.Code)
	h.store.setFail(nil)
}

// A failed write of OffsetDelete's tombstones is answered with the
// request's error code alone, as Kafka 4.x answers it (clients retry a
// top-level NOT_COORDINATOR), and deletes nothing.
func TestOffsetDeleteStoreFailure(t *testing.T) {
	h := newHarness(t)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 1, 1: 1}})), 0)
	h.store.setFail(errDisk)
	resp := h.c.OffsetDelete(context.Background(), proctest.OffsetDeleteRequest("g", "t", 0, 1))
	wantCode(t, "offset delete on a failing store", resp.ErrorCode, kerr.NotCoordinator.Code)
	if len(resp.Topics) != 0 {
		t.Fatalf("per-partition answers %+v beside the request's error", resp.Topics)
	}
	h.store.setFail(nil)
	if n := len(h.c.Committed("g")["t"]); n != 2 {
		t.Fatalf("%d offsets left after a failed delete, want 2", n)
	}
}

// OffsetCommit v1 carries a commit timestamp; v2-v4 a retention time that
// becomes the offset's expire timestamp (OffsetCommitValue version 1).
func TestCommitTimestampAndRetention(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.OffsetsRetention = time.Hour; c.OffsetsRetentionCheck = time.Minute })
	v1 := commitReq(1, "g", "", -1, offs{"t": {0: 5}})
	past := t0.Add(-30 * time.Minute)
	v1.Topics[0].Partitions[0].Timestamp = past.UnixMilli()
	allCodes(t, h.commit(v1), 0)
	oi := h.c.Committed("g")["t"][0]
	if !oi.CommitTime.Equal(past) || !oi.ExpireTime.Equal(past.Add(time.Hour)) {
		t.Fatalf("v1 commit %+v", oi)
	}

	v2 := commitReq(2, "g", "", -1, offs{"u": {0: 6}})
	v2.RetentionTimeMillis = (10 * time.Minute).Milliseconds()
	allCodes(t, h.commit(v2), 0)
	oi = h.c.Committed("g")["u"][0]
	if !oi.ExpireTime.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("v2 commit %+v", oi)
	}
	recs := h.store.all()[h.c.PartitionFor("g")]
	var val kmsg.OffsetCommitValue
	if err := val.ReadFrom(recs[len(recs)-1].Value); err != nil {
		t.Fatal(err)
	}
	if val.Version != 1 || val.ExpireTimestamp != t0.Add(10*time.Minute).UnixMilli() {
		t.Fatalf("value %+v, want version 1 with the expire timestamp", val)
	}
	// v5+ ignores the (removed) retention field.
	v5 := commitReq(5, "g", "", -1, offs{"w": {0: 7}})
	v5.RetentionTimeMillis = 1
	allCodes(t, h.commit(v5), 0)

	h.advance(10 * time.Minute)
	if _, ok := h.c.Committed("g")["u"]; ok {
		t.Fatal("v2 offset with 10m retention not expired")
	}
	if _, ok := h.c.Committed("g")["t"]; !ok {
		t.Fatal("v1 offset expired early")
	}
	h.advance(20 * time.Minute)
	if _, ok := h.c.Committed("g")["t"]; ok {
		t.Fatal("v1 offset not expired an hour after its commit timestamp")
	}
	if _, ok := h.c.Committed("g")["w"]; !ok {
		t.Fatal("v5 offset expired early")
	}
}

// Kafka's getOffsets: an unknown group answers -1 for every requested
// partition and no error; null topics (v2+) means every committed offset.
func TestOffsetFetch(t *testing.T) {
	h := newHarness(t)
	code, got := h.fetch(7, "nope", map[string][]int32{"t": {0, 1}})
	if code != 0 || len(got) != 2 || got["t/0"] != -1 || got["t/1"] != -1 {
		t.Fatalf("unknown group: %v %v", code, got)
	}
	c := commitReq(6, "g", "", -1, offs{"t": {0: 10, 1: 11}, "u": {3: 12}})
	c.Topics[0].Partitions[0].LeaderEpoch = 7
	allCodes(t, h.commit(c), 0)

	code, got = h.fetch(2, "g", nil)
	if code != 0 || len(got) != 3 || got["t/0"] != 10 || got["t/1"] != 11 || got["u/3"] != 12 {
		t.Fatalf("all: %v %v", code, got)
	}
	_, got = h.fetch(1, "g", nil) // v0-v1: not nullable, empty = nothing
	if len(got) != 0 {
		t.Fatalf("v1 empty topics: %v", got)
	}
	_, got = h.fetch(1, "g", map[string][]int32{"t": {1, 5}})
	if got["t/1"] != 11 || got["t/5"] != -1 {
		t.Fatalf("v1: %v", got)
	}

	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 5
	r.Group = "g"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0, 9}
	r.Topics = append(r.Topics, rt)
	resp := h.c.OffsetFetch(context.Background(), r)
	p0, p9 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
	if p0.LeaderEpoch != 7 || *p0.Metadata != "m" || p9.Offset != -1 || p9.LeaderEpoch != -1 || p9.Metadata == nil || *p9.Metadata != "" {
		t.Fatalf("v5 partitions %+v %+v", p0, p9)
	}

	// v8: several groups, each with its own topic list (null = all).
	r = kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	g1 := kmsg.NewOffsetFetchRequestGroup()
	g1.Group = "g"
	g2 := kmsg.NewOffsetFetchRequestGroup()
	g2.Group = "nope"
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = "t", []int32{0}
	g2.Topics = append(g2.Topics, gt)
	r.Groups = append(r.Groups, g1, g2)
	resp = h.c.OffsetFetch(context.Background(), r)
	if len(resp.Groups) != 2 {
		t.Fatalf("v8 groups %+v", resp.Groups)
	}
	n := 0
	for _, gt := range resp.Groups[0].Topics {
		n += len(gt.Partitions)
	}
	if resp.Groups[0].Group != "g" || n != 3 {
		t.Fatalf("v8 group g %+v", resp.Groups[0])
	}
	if gp := resp.Groups[1].Topics[0].Partitions[0]; resp.Groups[1].ErrorCode != 0 || gp.Offset != -1 {
		t.Fatalf("v8 unknown group %+v", resp.Groups[1])
	}
}

// KIP-211: offsets of a consumer group expire OffsetsRetention after the
// group became Empty, however old the commits are; the group then turns
// Dead and is removed, with tombstones written.
func TestOffsetsExpireAfterGroupEmpty(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheck = time.Minute
		c.MaxSessionTimeout = 24 * time.Hour
	})
	opt := withTimeouts(10*time.Hour, time.Minute)
	ids, gen := h.stableGroup("g", 1, opt)
	allCodes(t, h.commit(commitReq(8, "g", ids[0], gen, offs{"t": {0: 5}})), 0)
	h.advance(3 * time.Hour) // far past retention, but the group is active
	wantCode(t, "hb", h.heartbeat(4, "g", ids[0], gen), 0)
	if _, ok := h.c.Committed("g")["t"]; !ok {
		t.Fatal("offset of an active, subscribed consumer group expired")
	}
	h.c.LeaveGroup(context.Background(), leaveReq(5, "g", leaving(ids[0])))
	if h.state("g") != "Empty" {
		t.Fatal(h.state("g"))
	}
	h.advance(59 * time.Minute)
	if oi, ok := h.c.Committed("g")["t"][0]; !ok || !oi.ExpireTime.Equal(h.clk.Now().Add(time.Minute)) {
		t.Fatalf("offset expired before retention since Empty, or wrong expire time %+v", oi)
	}
	before := h.store.count()
	h.advance(time.Minute)
	if h.state("g") != "Dead" || len(h.c.Groups()) != 0 {
		t.Fatalf("group %s after its offsets expired, want removed", h.state("g"))
	}
	recs := h.store.all()[h.c.PartitionFor("g")][before:]
	if len(recs) != 2 || recs[0].Value != nil || recs[1].Value != nil {
		t.Fatalf("want an offset tombstone and a group tombstone, got %d records", len(recs))
	}
	var gk kmsg.GroupMetadataKey
	if err := gk.ReadFrom(recs[1].Key); err != nil || gk.Version != 2 || gk.Group != "g" {
		t.Fatalf("group tombstone key %+v %v", gk, err)
	}
	_, got := h.fetch(7, "g", map[string][]int32{"t": {0}})
	if got["t/0"] != -1 {
		t.Fatalf("fetch after expiry %v", got)
	}
}

// Offset-only groups: offsets expire OffsetsRetention after their last
// commit; no group tombstone is written for a group that never had a
// generation.
func TestStandaloneOffsetsExpire(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.OffsetsRetention = time.Hour; c.OffsetsRetentionCheck = time.Minute })
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 1}, "u": {0: 1}})), 0)
	h.advance(30 * time.Minute)
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"u": {0: 2}})), 0)
	h.advance(30 * time.Minute)
	c := h.c.Committed("g")
	if _, ok := c["t"]; ok {
		t.Fatal("t not expired an hour after its commit")
	}
	if _, ok := c["u"]; !ok {
		t.Fatal("u expired early")
	}
	before := h.store.count()
	h.advance(30 * time.Minute)
	if h.state("g") != "Dead" {
		t.Fatal("group not removed")
	}
	if n := h.store.count() - before; n != 1 {
		t.Fatalf("%d records, want only the offset tombstone", n)
	}
}

// KIP-211: a Stable consumer group keeps the offsets of topics it
// subscribes to; offsets of topics it no longer subscribes to expire
// OffsetsRetention after their last commit.
func TestUnsubscribedTopicOffsetsExpire(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheck = time.Minute
		c.MaxSessionTimeout = 24 * time.Hour
	})
	ids, gen := h.stableGroup("g", 1, withTimeouts(10*time.Hour, time.Minute))
	allCodes(t, h.commit(commitReq(8, "g", ids[0], gen, offs{"t": {0: 1}, "old": {0: 1}})), 0)
	h.advance(61 * time.Minute)
	c := h.c.Committed("g")
	if _, ok := c["old"]; ok {
		t.Fatal("offset of an unsubscribed topic kept")
	}
	if _, ok := c["t"]; !ok {
		t.Fatal("offset of a subscribed topic expired")
	}
}

// KIP-496 OffsetDelete.
func TestOffsetDelete(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.TopicPartitionExists = func(topic string, p int32) bool { return topic != "missing" }
	})
	del := func(group string, topics map[string][]int32) *kmsg.OffsetDeleteResponse {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		for _, tn := range []string{"t", "u", "missing"} {
			if ps, ok := topics[tn]; ok {
				r.Topics = append(r.Topics, proctest.OffsetDeleteRequest(group, tn, ps...).Topics...)
			}
		}
		return h.c.OffsetDelete(context.Background(), r)
	}
	codes := func(r *kmsg.OffsetDeleteResponse) map[string]int16 {
		out := make(map[string]int16)
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				out[tpName(t.Topic, p.Partition)] = p.ErrorCode
			}
		}
		return out
	}
	wantCode(t, "unknown group", del("nope", map[string][]int32{"t": {0}}).ErrorCode, kerr.GroupIDNotFound.Code)
	wantCode(t, "empty group id", del("", map[string][]int32{"t": {0}}).ErrorCode, kerr.InvalidGroupID.Code)

	// Stable consumer group subscribed to t.
	ids, gen := h.stableGroup("g", 1)
	allCodes(t, h.commit(commitReq(8, "g", ids[0], gen, offs{"t": {0: 1}, "u": {0: 2}})), 0)
	r := del("g", map[string][]int32{"t": {0}, "u": {0}, "missing": {0}})
	wantCode(t, "group error", r.ErrorCode, 0)
	cs := codes(r)
	wantCode(t, "t/0", cs["t/0"], kerr.GroupSubscribedToTopic.Code)
	wantCode(t, "u/0", cs["u/0"], 0)
	wantCode(t, "missing/0", cs["missing/0"], kerr.UnknownTopicOrPartition.Code)
	c := h.c.Committed("g")
	if _, ok := c["u"]; ok {
		t.Fatal("u not deleted")
	}
	if _, ok := c["t"]; !ok {
		t.Fatal("t deleted")
	}
	recs := h.store.all()[h.c.PartitionFor("g")]
	var k kmsg.OffsetCommitKey
	if last := recs[len(recs)-1]; last.Value != nil || k.ReadFrom(last.Key) != nil || k.Topic != "u" {
		t.Fatalf("last record should be u's tombstone: %+v", k)
	}

	// Empty: anything goes.
	h.c.LeaveGroup(context.Background(), leaveReq(5, "g", leaving(ids[0])))
	r = del("g", map[string][]int32{"t": {0}})
	if r.ErrorCode != 0 || codes(r)["t/0"] != 0 {
		t.Fatalf("delete from empty group %+v", r)
	}
	if len(h.c.Committed("g")) != 0 {
		t.Fatal("t not deleted")
	}

	// A non-consumer group with members: NON_EMPTY_GROUP.
	h.stableGroup("connect", 1, withProtocolType("connect"))
	wantCode(t, "non-consumer group", del("connect", map[string][]int32{"t": {0}}).ErrorCode, kerr.NonEmptyGroup.Code)
}

// DeleteGroups: only Empty groups (NON_EMPTY_GROUP otherwise,
// GROUP_ID_NOT_FOUND for unknown ones), with tombstones for every offset
// and the group.
func TestDeleteGroups(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("active", 1)
	allCodes(t, h.commit(commitReq(8, "active", ids[0], gen, offs{"t": {0: 1}})), 0)
	allCodes(t, h.commit(commitReq(8, "idle", "", -1, offs{"t": {0: 1, 1: 2}})), 0)
	before := h.store.count()
	r := h.c.DeleteGroups(context.Background(), &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"active", "idle", "nope", "idle"}})
	if len(r.Groups) != 3 {
		t.Fatalf("groups %+v", r.Groups)
	}
	wantCode(t, "active", r.Groups[0].ErrorCode, kerr.NonEmptyGroup.Code)
	wantCode(t, "idle", r.Groups[1].ErrorCode, 0)
	wantCode(t, "nope", r.Groups[2].ErrorCode, kerr.GroupIDNotFound.Code)
	if h.store.count()-before != 2 {
		t.Fatalf("want 2 offset tombstones (no group tombstone: generation 0), got %d", h.store.count()-before)
	}
	if h.state("idle") != "Dead" {
		t.Fatal("idle not deleted")
	}
	// After everyone leaves, the consumer group can be deleted; its
	// metadata is tombstoned too.
	h.c.LeaveGroup(context.Background(), leaveReq(5, "active", leaving(ids[0])))
	before = h.store.count()
	r = h.c.DeleteGroups(context.Background(), &kmsg.DeleteGroupsRequest{Version: 0, Groups: []string{"active"}})
	wantCode(t, "active after leave", r.Groups[0].ErrorCode, 0)
	if h.store.count()-before != 2 {
		t.Fatalf("want offset and group tombstones, got %d records", h.store.count()-before)
	}
	// A failed write keeps the group.
	allCodes(t, h.commit(commitReq(8, "idle", "", -1, offs{"t": {0: 1}})), 0)
	h.store.setFail(errDisk)
	r = h.c.DeleteGroups(context.Background(), &kmsg.DeleteGroupsRequest{Version: 1, Groups: []string{"idle"}})
	wantCode(t, "failed delete", r.Groups[0].ErrorCode, kerr.NotCoordinator.Code)
	h.store.setFail(nil)
	if h.state("idle") != "Empty" {
		t.Fatal("group removed although its tombstones were not written")
	}
}

// DescribeGroups of an unknown group: Dead, no error (as Kafka before v6).
// Outside Stable, members are listed without metadata but with their last
// assignment (Kafka 4's ClassicGroupMember.describeNoMetadata; Kafka 3's
// summaryNoMetadata left it out too).
func TestDescribeGroups(t *testing.T) {
	h := newHarness(t)
	r := h.c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Version: 3, Groups: []string{"nope"}, IncludeAuthorizedOperations: true})
	g := r.Groups[0]
	if g.ErrorCode != 0 || g.State != "Dead" || g.Group != "nope" || len(g.Members) != 0 {
		t.Fatalf("unknown group %+v", g)
	}
	ids, _ := h.stableGroup("g", 2)
	a := h.joinAsync(joinReq(9, "g", ids[0]))
	h.waitAwaiting("g", 1)
	r = h.c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Version: 4, Groups: []string{"g"}})
	g = r.Groups[0]
	if g.State != "PreparingRebalance" || g.Protocol != "" || len(g.Members) != 2 || len(g.Members[0].ProtocolMetadata) != 0 || len(g.Members[0].MemberAssignment) == 0 {
		t.Fatalf("rebalancing group %+v", g)
	}
	if g.AuthorizedOperations != -2147483648 {
		t.Fatalf("authorized operations %d without asking", g.AuthorizedOperations)
	}
	_ = a
	r = h.c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Version: 3, Groups: []string{"g"}, IncludeAuthorizedOperations: true})
	if r.Groups[0].AuthorizedOperations != groupAuthorizedOperations {
		t.Fatalf("authorized operations %d", r.Groups[0].AuthorizedOperations)
	}
}

// ListGroups with the KIP-518 state filter (v4), case-insensitive.
func TestListGroups(t *testing.T) {
	h := newHarness(t)
	h.stableGroup("b-stable", 1)
	allCodes(t, h.commit(commitReq(8, "a-empty", "", -1, offs{"t": {0: 1}})), 0)
	names := func(r *kmsg.ListGroupsResponse) string {
		var s []string
		for _, g := range r.Groups {
			s = append(s, g.Group+":"+g.GroupState+":"+g.ProtocolType)
		}
		return strings.Join(s, ",")
	}
	r := h.c.ListGroups(context.Background(), &kmsg.ListGroupsRequest{Version: 4})
	if got := names(r); got != "a-empty:Empty:,b-stable:Stable:consumer" {
		t.Fatalf("list %s", got)
	}
	r = h.c.ListGroups(context.Background(), &kmsg.ListGroupsRequest{Version: 4, StatesFilter: []string{"stable"}})
	if got := names(r); got != "b-stable:Stable:consumer" {
		t.Fatalf("filtered list %s", got)
	}
	r = h.c.ListGroups(context.Background(), &kmsg.ListGroupsRequest{Version: 3, StatesFilter: []string{"Stable"}})
	if len(r.Groups) != 2 {
		t.Fatal("v3 has no state filter")
	}
}

// Kafka's handleDeletedPartitions: deleting a topic drops every group's
// offsets for it (with tombstones); Empty groups left without offsets go.
func TestTopicDeleted(t *testing.T) {
	h := newHarness(t)
	allCodes(t, h.commit(commitReq(8, "a", "", -1, offs{"gone": {0: 1, 1: 2}})), 0)
	allCodes(t, h.commit(commitReq(8, "b", "", -1, offs{"gone": {0: 1}, "kept": {0: 3}})), 0)
	before := h.store.count()
	h.c.TopicDeleted("gone")
	if h.state("a") != "Dead" {
		t.Fatal("group a, left without offsets, not removed")
	}
	if c := h.c.Committed("b"); len(c) != 1 || c["kept"][0].Offset != 3 {
		t.Fatalf("b committed %+v", c)
	}
	if n := h.store.count() - before; n != 3 {
		t.Fatalf("%d tombstones, want 3", n)
	}
	n := h.restart()
	if n.state("a") != "Dead" || len(n.c.Committed("b")) != 1 {
		t.Fatal("deleted topic offsets came back after replay")
	}
}

// subscribedModern is a Config.Modern whose consumer-protocol group "g"
// has members subscribed to the topics in subscribed.
type subscribedModern struct{ subscribed map[string]bool }

func (subscribedModern) CommitCheck(string, string, *string, int32, int16, bool) (bool, int16, func(string, int32) int16) {
	return false, 0, nil
}
func (subscribedModern) FetchCheck(string, *string, int32) (bool, int16) { return false, 0 }
func (m subscribedModern) SubscribedTo(group, topic string) bool {
	return group == "g" && m.subscribed[topic]
}

// The offsets of a consumer-protocol group (kept here as an offsets-only
// group) do not expire for the topics its members subscribe to, however
// long ago they were committed, as Kafka 4.4's cleanupExpiredOffsets
// skips them; those of other topics expire OffsetsRetention after their
// last commit, and the group stays.
func TestConsumerGroupSubscribedOffsetsDoNotExpire(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheck = time.Minute
		c.Modern = subscribedModern{subscribed: map[string]bool{"t": true}}
	})
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 1}, "u": {0: 1}})), 0)
	h.advance(3 * time.Hour)
	c := h.c.Committed("g")
	if _, ok := c["t"]; !ok {
		t.Fatal("the offsets of a subscribed topic expired")
	}
	if _, ok := c["u"]; ok {
		t.Fatal("the offsets of a topic nobody subscribes to did not expire")
	}
}
