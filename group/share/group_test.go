package share

import (
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type fakeTopics map[string]int32

func (f fakeTopics) Lookup(name string) (TopicID, int32, bool) {
	n, ok := f[name]
	return TopicID{byte(len(name))}, n, ok
}

func hb(c *Coordinator, now time.Time, topics Topics, member string, epoch int32, subs ...string) *kmsg.ShareGroupHeartbeatResponse {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = "g", member, epoch
	if subs != nil {
		req.SubscribedTopicNames = subs
	}
	resp, _ := c.Heartbeat(now, Client{"cl", "/127.0.0.1"}, req, topics)
	return resp
}

func parts(r *kmsg.ShareGroupHeartbeatResponse) []int32 {
	if r.Assignment == nil {
		return nil
	}
	var out []int32
	for _, t := range r.Assignment.TopicPartitions {
		out = append(out, t.Partitions...)
	}
	if out == nil {
		out = []int32{}
	}
	return out
}

// The answers of Kafka 4.4 to the same sequence (asked on loopback), but
// for its asynchronous first assignment.
func TestHeartbeatEpochsAndAssignment(t *testing.T) {
	c := NewCoordinator(Config{})
	topics := fakeTopics{"t": 2}
	for _, bad := range []struct {
		member string
		epoch  int32
		subs   []string
		msg    string
	}{
		{"", 0, []string{"t"}, ""},
		{"a", 0, nil, "SubscribedTopicNames must be set in first request."},
		{"a", -2, nil, "MemberEpoch is invalid."},
	} {
		r := hb(c, t0, topics, bad.member, bad.epoch, bad.subs...)
		if r.ErrorCode != kerr.InvalidRequest.Code || (r.ErrorMessage == nil) != (bad.msg == "") || bad.msg != "" && *r.ErrorMessage != bad.msg {
			t.Fatalf("%+v: code %d msg %v", bad, r.ErrorCode, r.ErrorMessage)
		}
	}
	a := hb(c, t0, topics, "a", 0, "t", "missing")
	if a.ErrorCode != 0 || a.MemberEpoch != 1 || !reflect.DeepEqual(parts(a), []int32{0, 1}) || a.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("a joins: %+v %v", a, parts(a))
	}
	if r := hb(c, t0, topics, "a", 1); r.ErrorCode != 0 || r.Assignment != nil || r.MemberEpoch != 1 {
		t.Fatalf("steady heartbeat: %+v", r)
	}
	if r := hb(c, t0, topics, "a", 5); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("greater epoch: %d", r.ErrorCode)
	}
	if r := hb(c, t0, topics, "c", 1); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", r.ErrorCode)
	}
	b := hb(c, t0, topics, "b", 0, "t")
	if b.MemberEpoch != 2 || !reflect.DeepEqual(parts(b), []int32{1}) {
		t.Fatalf("b joins: epoch %d %v", b.MemberEpoch, parts(b))
	}
	a = hb(c, t0, topics, "a", 1)
	if a.MemberEpoch != 2 || !reflect.DeepEqual(parts(a), []int32{0}) {
		t.Fatalf("a after b: epoch %d %v", a.MemberEpoch, parts(a))
	}
	// The previous epoch is still accepted.
	if r := hb(c, t0, topics, "a", 1); r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Fatalf("previous epoch: %+v", r)
	}
	// More members than partitions: each partition goes to two of three.
	d := hb(c, t0, topics, "d", 0, "t")
	a = hb(c, t0, topics, "a", 2)
	// b keeps partition 1: its new epoch comes without an assignment.
	if b = hb(c, t0, topics, "b", 2); b.MemberEpoch != 3 || b.Assignment != nil {
		t.Fatalf("b: %+v", b)
	}
	got := map[string][]int32{"a": parts(a), "b": c.Group("g").Member("b").Assigned["t"], "d": parts(d)}
	if want := map[string][]int32{"a": {0, 1}, "b": {1}, "d": {0}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("three members on two partitions: %v, want %v", got, want)
	}
	if r := hb(c, t0, topics, "e", -1); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown leave: %d", r.ErrorCode)
	}
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = "g", "d", -1
	r, gone := c.Heartbeat(t0, Client{}, req, topics)
	if r.ErrorCode != 0 || r.MemberEpoch != -1 || !reflect.DeepEqual(gone, []Departed{{"g", "d"}}) {
		t.Fatalf("leave: %+v %v", r, gone)
	}
	// A topic that grows bumps the epoch at the next heartbeat.
	topics["t"] = 4
	a = hb(c, t0, topics, "a", 3)
	if a.MemberEpoch != 5 || !reflect.DeepEqual(parts(a), []int32{0, 2}) {
		t.Fatalf("after growth: epoch %d %v", a.MemberEpoch, parts(a))
	}
	// b misses its session timeout.
	now := t0.Add(30 * time.Second)
	hb(c, now, topics, "a", 5)
	if gone := c.Expire(t0.Add(46*time.Second), topics); !reflect.DeepEqual(gone, []Departed{{"g", "b"}}) {
		t.Fatalf("expired %v", gone)
	}
	if a = hb(c, now, topics, "a", 5); !reflect.DeepEqual(parts(a), []int32{0, 1, 2, 3}) {
		t.Fatalf("a alone: %v", parts(a))
	}
	if err := c.Delete("g"); err != kerr.NonEmptyGroup {
		t.Fatalf("delete non-empty: %v", err)
	}
}

func TestGroupMaxSize(t *testing.T) {
	c := NewCoordinator(Config{MaxSize: 2})
	topics := fakeTopics{"t": 1}
	hb(c, t0, topics, "a", 0, "t")
	hb(c, t0, topics, "b", 0, "t")
	if r := hb(c, t0, topics, "c", 0, "t"); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("third member: %d", r.ErrorCode)
	}
	if r := hb(c, t0, topics, "a", 0, "t"); r.ErrorCode != 0 {
		t.Fatalf("a rejoining a full group: %d", r.ErrorCode)
	}
}
