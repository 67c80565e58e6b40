package group

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka: partitionFor(group) = Utils.abs(group.hashCode) %
// offsets.topic.num.partitions, Java's String.hashCode over UTF-16.
func TestPartitionFor(t *testing.T) {
	for _, c := range []struct {
		group string
		want  int32
	}{
		{"abc", 4},                // hashCode 96354
		{"hello", 22},             // 99162322
		{"polygenelubricants", 0}, // hashCode is Integer.MIN_VALUE: Utils.abs gives 0
		{"my-group", 12},          // -1906497762
		{"😀", 49},                 // a surrogate pair: 31*0xD83D + 0xDE00
		{"", 0},
	} {
		if got := partitionFor(c.group, 50); got != c.want {
			t.Errorf("partitionFor(%q) = %d, want %d", c.group, got, c.want)
		}
	}
}

// Every record is in Kafka's exact format: OffsetCommitKey v1 /
// OffsetCommitValue v3, GroupMetadataKey v2 / GroupMetadataValue v3, all
// on the group's partition.
func TestRecordFormats(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 1)
	c := commitReq(8, "g", ids[0], gen, offs{"t": {3: 42}})
	c.Topics[0].Partitions[0].LeaderEpoch = 5
	allCodes(t, h.commit(c), 0)

	parts := h.store.all()
	if len(parts) != 1 {
		t.Fatalf("records on %d partitions, want 1", len(parts))
	}
	recs, ok := parts[partitionFor("g", 50)]
	if !ok || len(recs) != 2 {
		t.Fatalf("want 2 records on partition %d: %v", partitionFor("g", 50), parts)
	}

	var gk kmsg.GroupMetadataKey
	if err := gk.ReadFrom(recs[0].Key); err != nil || gk.Version != 2 || gk.Group != "g" {
		t.Fatalf("group key %+v %v", gk, err)
	}
	var gv kmsg.GroupMetadataValue
	if err := gv.ReadFrom(recs[0].Value); err != nil {
		t.Fatal(err)
	}
	if gv.Version != 3 || gv.ProtocolType != "consumer" || gv.Generation != gen || *gv.Protocol != "range" || *gv.Leader != ids[0] ||
		gv.CurrentStateTimestamp != h.clk.Now().UnixMilli() || len(gv.Members) != 1 {
		t.Fatalf("group value %+v", gv)
	}
	m := gv.Members[0]
	if m.MemberID != ids[0] || m.SessionTimeoutMillis != 10000 || m.RebalanceTimeoutMillis != 20000 ||
		!bytes.Equal(m.Subscription, consumerMeta("t")) || string(m.Assignment) != "assignment-of-"+ids[0] {
		t.Fatalf("group member %+v", m)
	}
	if recs[0].Timestamp != h.clk.Now().UnixMilli() {
		t.Fatalf("record timestamp %d", recs[0].Timestamp)
	}

	var ok1 kmsg.OffsetCommitKey
	if err := ok1.ReadFrom(recs[1].Key); err != nil || ok1.Version != 1 || ok1.Group != "g" || ok1.Topic != "t" || ok1.Partition != 3 {
		t.Fatalf("offset key %+v %v", ok1, err)
	}
	var ov kmsg.OffsetCommitValue
	if err := ov.ReadFrom(recs[1].Value); err != nil {
		t.Fatal(err)
	}
	if ov.Version != 3 || ov.Offset != 42 || ov.LeaderEpoch != 5 || ov.Metadata != "m" || ov.CommitTimestamp != h.clk.Now().UnixMilli() {
		t.Fatalf("offset value %+v", ov)
	}

	// Members leave: the Empty generation is written (no members, no
	// protocol, no leader).
	h.c.LeaveGroup(context.Background(), leaveReq(5, "g", leaving(ids[0])))
	recs = h.store.all()[partitionFor("g", 50)]
	var ev kmsg.GroupMetadataValue
	if err := ev.ReadFrom(recs[len(recs)-1].Value); err != nil {
		t.Fatal(err)
	}
	if ev.Generation != gen+1 || ev.Protocol != nil || ev.Leader != nil || len(ev.Members) != 0 || ev.ProtocolType != "consumer" {
		t.Fatalf("empty group value %+v", ev)
	}
}

// Static and client details are persisted in the member records.
func TestRecordMemberDetails(t *testing.T) {
	h := newHarness(t, noDelay)
	ctx := WithClient(context.Background(), "cli", "/127.0.0.1")
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- h.c.JoinGroup(ctx, joinReq(9, "g", "", withInstance("inst"))) }()
	h.waitAwaiting("g", 1)
	h.fire()
	r := recv(t, ch)
	wantCode(t, "join", r.ErrorCode, 0)
	wantCode(t, "sync", h.sync(syncReq(5, "g", r.MemberID, r.Generation, map[string][]byte{r.MemberID: []byte("a")})).ErrorCode, 0)
	recs := h.store.all()[partitionFor("g", 50)]
	var gv kmsg.GroupMetadataValue
	if err := gv.ReadFrom(recs[len(recs)-1].Value); err != nil {
		t.Fatal(err)
	}
	m := gv.Members[0]
	if m.InstanceID == nil || *m.InstanceID != "inst" || m.ClientID != "cli" || m.ClientHost != "/127.0.0.1" {
		t.Fatalf("member %+v", m)
	}
}

// Replay round trip: the records a coordinator wrote, replayed into a new
// one, give the same committed offsets, groups, generations and members;
// deleted groups stay deleted.
func TestReplayRoundTrip(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	allCodes(t, h.commit(commitReq(8, "g", ids[0], gen, offs{"t": {0: 10, 1: 11}})), 0)
	h.advance(time.Second)
	wantCode(t, "hb", h.heartbeat(4, "g", ids[1], gen), 0)
	allCodes(t, h.commit(commitReq(8, "g", ids[1], gen, offs{"t": {1: 12}})), 0)
	allCodes(t, h.commit(commitReq(8, "solo", "", -1, offs{"u": {0: 5}})), 0)
	allCodes(t, h.commit(commitReq(8, "gone", "", -1, offs{"u": {0: 6}})), 0)
	h.c.DeleteGroups(context.Background(), &kmsg.DeleteGroupsRequest{Groups: []string{"gone"}})
	eids, egen := h.stableGroup("left", 1)
	allCodes(t, h.commit(commitReq(8, "left", eids[0], egen, offs{"t": {0: 1}})), 0)
	h.c.LeaveGroup(context.Background(), leaveReq(5, "left", leaving(eids[0])))
	v2 := commitReq(2, "solo", "", -1, offs{"w": {0: 9}})
	v2.RetentionTimeMillis = time.Hour.Milliseconds()
	allCodes(t, h.commit(v2), 0)

	wantGroups := h.c.Groups()
	wantCommitted := map[string]map[string]map[int32]OffsetInfo{}
	wantHistory := map[string][]Commit{}
	for _, g := range []string{"g", "solo", "left"} {
		wantCommitted[g] = h.c.Committed(g)
		wantHistory[g] = h.c.History(g)
	}

	n := h.restart()
	if got := n.c.Groups(); !reflect.DeepEqual(got, wantGroups) {
		t.Fatalf("groups after replay\n got %+v\nwant %+v", got, wantGroups)
	}
	for _, g := range []string{"g", "solo", "left"} {
		if got := n.c.Committed(g); !reflect.DeepEqual(got, wantCommitted[g]) {
			t.Fatalf("%s committed after replay\n got %+v\nwant %+v", g, got, wantCommitted[g])
		}
		if got := n.c.History(g); !reflect.DeepEqual(got, wantHistory[g]) {
			t.Fatalf("%s history after replay\n got %+v\nwant %+v", g, got, wantHistory[g])
		}
	}
	if n.c.Committed("gone") != nil {
		t.Fatal("deleted group came back")
	}
	if len(wantHistory["g"]) != 3 {
		t.Fatalf("history of g: %+v", wantHistory["g"])
	}

	// Members of the last stored generation carry on if they heartbeat in
	// time (Kafka's onGroupLoaded), with their assignment.
	wantCode(t, "hb after restart", n.heartbeat(4, "g", ids[0], gen), 0)
	sr := n.sync(syncReq(5, "g", ids[1], gen, nil))
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assignment-of-"+ids[1] {
		t.Fatalf("sync after restart %+v", sr)
	}
	// A commit from a member of the restored generation is accepted.
	allCodes(t, n.commit(commitReq(8, "g", ids[0], gen, offs{"t": {0: 13}})), 0)
	// A member that does not come back within its session is dropped.
	n.advance(9 * time.Second)
	wantCode(t, "hb", n.heartbeat(4, "g", ids[0], gen), 0)
	n.advance(time.Second)
	wantCode(t, "silent member", n.heartbeat(4, "g", ids[1], gen), kerr.UnknownMemberID.Code)
	wantCode(t, "survivor told to rejoin", n.heartbeat(4, "g", ids[0], gen), kerr.RebalanceInProgress.Code)

	// Replay is refused once the coordinator is in use.
	if err := n.c.Replay(0, 0, groupKey("x"), nil, 0); err == nil {
		t.Fatal("Replay after start accepted")
	}
}

// Replay skips record types it does not know and rejects malformed ones.
func TestReplayRecords(t *testing.T) {
	c := New(testConfig(&fakeClock{t: t0}), nil)
	defer c.Close()
	if err := c.Replay(0, 0, []byte{0, 9, 1, 2}, []byte{1}, 0); err != nil {
		t.Fatalf("unknown key version: %v", err)
	}
	if err := c.Replay(0, 1, []byte{0}, nil, 0); err == nil {
		t.Fatal("short key accepted")
	}
	if err := c.Replay(0, 2, offsetKey("g", tp{"t", 0}), []byte{0, 3, 1}, 0); err == nil {
		t.Fatal("truncated offset value accepted")
	}
	// Key version 0 offsets (Kafka 0.8.2) and value version 0 load too.
	k := kmsg.NewOffsetCommitKey()
	k.Version, k.Group, k.Topic, k.Partition = 0, "old", "t", 1
	v := kmsg.NewOffsetCommitValue()
	v.Version, v.Offset, v.Metadata, v.CommitTimestamp = 0, 77, "meta", t0.UnixMilli()
	if err := c.Replay(0, 3, k.AppendTo(nil), v.AppendTo(nil), t0.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	c.start(false)
	oi := c.Committed("old")["t"][1]
	if oi.Offset != 77 || oi.Metadata != "meta" || oi.LeaderEpoch != -1 || !oi.CommitTime.Equal(t0) {
		t.Fatalf("v0 offset %+v", oi)
	}
}

// History keeps superseded commits for HistoryRetention after they were
// superseded, and CommittedAt answers where the group stood at a time.
func TestHistory(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HistoryRetention = time.Hour; c.OffsetsRetentionCheck = time.Minute })
	commitAt := func(off int64) {
		allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: off}})), 0)
	}
	commitAt(1) // t0
	h.advance(10 * time.Minute)
	commitAt(2) // t0+10m
	h.advance(10 * time.Minute)
	commitAt(3) // t0+20m
	allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"u": {0: 100}})), 0)

	hist := h.c.History("g")
	if len(hist) != 4 {
		t.Fatalf("history %+v", hist)
	}
	if hist[0].Offset != 1 || !hist[0].CommitTime.Equal(t0) || !hist[0].SupersededAt.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("first commit %+v", hist[0])
	}
	if hist[2].Offset != 3 || !hist[2].SupersededAt.IsZero() {
		t.Fatalf("current commit %+v", hist[2])
	}
	at := func(d time.Duration) int64 {
		m := h.c.CommittedAt("g", t0.Add(d))
		if oi, ok := m["t"][0]; ok {
			return oi.Offset
		}
		return -1
	}
	for d, want := range map[time.Duration]int64{-time.Second: -1, 0: 1, 5 * time.Minute: 1, 10 * time.Minute: 2, 15 * time.Minute: 2, 25 * time.Minute: 3} {
		if got := at(d); got != want {
			t.Errorf("CommittedAt(t0+%v) = %d, want %d", d, got, want)
		}
	}
	if h.c.CommittedAt("nope", t0) != nil {
		t.Fatal("CommittedAt of an unknown group")
	}

	// An hour after the first commit was superseded it is pruned; the
	// second (superseded at t0+20m) is kept until t0+80m.
	h.advance(51 * time.Minute) // t0+71m
	hist = h.c.History("g")
	if len(hist) != 3 || hist[0].Offset != 2 {
		t.Fatalf("history after pruning %+v", hist)
	}
	h.advance(10 * time.Minute)
	if hist = h.c.History("g"); len(hist) != 2 {
		t.Fatalf("history after pruning %+v", hist)
	}

	// Deleted offsets stay in the history as superseded at deletion.
	r := kmsg.NewPtrOffsetDeleteRequest()
	r.Group = "g"
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = "u"
	rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	r.Topics = append(r.Topics, rt)
	h.c.OffsetDelete(context.Background(), r)
	hist = h.c.History("g")
	if len(hist) != 2 || hist[1].Topic != "u" || hist[1].SupersededAt.IsZero() {
		t.Fatalf("history after delete %+v", hist)
	}
}

// Re-committing an unchanged position (an idle consumer's auto-commit)
// adds no history entry; it moves LastCommitTime.
func TestHistoryCollapsesRecommits(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 5; i++ {
		allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: 7}})), 0)
		h.advance(5 * time.Second)
	}
	hist := h.c.History("g")
	if len(hist) != 1 || !hist[0].CommitTime.Equal(t0) || !hist[0].LastCommitTime.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("history %+v", hist)
	}
	if oi := h.c.Committed("g")["t"][0]; !oi.CommitTime.Equal(t0.Add(20 * time.Second)) {
		t.Fatalf("committed %+v: CommitTime is the latest commit", oi)
	}
	if got := h.c.CommittedAt("g", t0.Add(time.Second))["t"][0].Offset; got != 7 {
		t.Fatalf("CommittedAt %d", got)
	}
	// Replay collapses the same way.
	n := h.restart()
	if got := n.c.History("g"); !reflect.DeepEqual(got, hist) {
		t.Fatalf("history after replay %+v, want %+v", got, hist)
	}
}

// Beyond HistoryMaxPerPartition the older half is thinned; a lookup there
// returns a position committed at or before the time asked.
func TestHistoryThinning(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HistoryMaxPerPartition = 8 })
	for i := int64(0); i < 100; i++ {
		allCodes(t, h.commit(commitReq(8, "g", "", -1, offs{"t": {0: i}})), 0)
		h.advance(time.Second)
	}
	hist := h.c.History("g")
	if len(hist) > 9 {
		t.Fatalf("%d entries kept, cap 8 (+ current)", len(hist))
	}
	for i := int64(0); i < 100; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		oi, ok := h.c.CommittedAt("g", at)["t"][0]
		if !ok {
			continue // older than what is kept
		}
		if oi.Offset > i {
			t.Fatalf("CommittedAt(t0+%ds) = %d: later than the true position %d", i, oi.Offset, i)
		}
	}
	if got := h.c.CommittedAt("g", t0.Add(99*time.Second))["t"][0].Offset; got != 99 {
		t.Fatalf("latest position %d", got)
	}
	if got := h.c.CommittedAt("g", t0.Add(97*time.Second))["t"][0].Offset; got != 97 {
		t.Fatalf("recent history must be exact, got %d", got)
	}
}
