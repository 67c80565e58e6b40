package consumer

import (
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/offsetsfmt"
)

// dump renders everything a group's records must carry over a restart.
func dump(c *Coordinator) string {
	var b strings.Builder
	for _, id := range c.GroupIDs() {
		g := c.groups[id]
		fmt.Fprintf(&b, "group %s epoch=%d assignment=%d@%d hash=%d static=%v\n", id, g.Epoch, g.AssignmentEpoch,
			g.AssignmentTime.UnixMilli(), g.MetadataHash, g.static)
		for _, re := range slices.Sorted(maps.Keys(g.regexes)) {
			fmt.Fprintf(&b, "  regex %q: %v @%d\n", re, g.regexes[re].topics, g.regexes[re].version)
		}
		for _, mid := range slices.Sorted(maps.Keys(g.target)) {
			fmt.Fprintf(&b, "  target %s: %v\n", mid, g.target[mid])
		}
		for _, mid := range g.MemberIDs() {
			m := *g.members[mid]
			m.sessionDeadline, m.rebalanceDeadline, m.rebalanceEpoch = time.Time{}, time.Time{}, 0
			m.joinDeadline, m.syncDeadline = time.Time{}, time.Time{}
			classic := m.Classic
			m.Classic = nil
			if classic != nil {
				fmt.Fprintf(&b, "  classic %s: %+v\n", mid, *classic)
			}
			if len(m.SubscribedTopicNames) == 0 {
				m.SubscribedTopicNames = nil
			}
			fmt.Fprintf(&b, "  member %+v\n", m)
		}
		owners := slices.SortedFunc(maps.Keys(g.owners), func(a, b tp) int {
			if c := a.topic.Compare(b.topic); c != 0 {
				return c
			}
			return int(a.part - b.part)
		})
		for _, o := range owners {
			fmt.Fprintf(&b, "  owner %x/%d=%s\n", o.topic[:2], o.part, g.owners[o])
		}
	}
	return b.String()
}

// replayed rebuilds a coordinator from recs.
func replayed(t *testing.T, cfg Config, recs []Record) *Coordinator {
	t.Helper()
	c := NewCoordinator(cfg)
	for i, r := range recs {
		if err := c.Replay(r.Key, r.Value); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	c.Loaded(time.Unix(1_800_000_000, 0))
	return c
}

// checkReplay checks that recs, the records written, rebuild live exactly.
// So must the same records compacted, as __consumer_offsets is: only the
// latest record of each key kept, in log order, and then also without
// the tombstones (once delete.retention.ms has passed).
func checkReplay(t *testing.T, live *Coordinator, cfg Config, recs []Record) {
	t.Helper()
	want := dump(live)
	for _, c := range []struct {
		name string
		recs []Record
	}{
		{"replayed", recs},
		{"replayed after compaction", compacted(recs, false)},
		{"replayed after compaction, tombstones removed", compacted(recs, true)},
	} {
		if got := dump(replayed(t, cfg, c.recs)); got != want {
			t.Fatalf("%s: the state differs from the live one\n--- %s\n%s--- live\n%s", c.name, c.name, got, want)
		}
	}
}

// compacted is what log compaction leaves of recs: the latest record of
// each key, in their order, and without tombstones if dropTombstones.
func compacted(recs []Record, dropTombstones bool) []Record {
	last := map[string]int{}
	for i, r := range recs {
		last[string(r.Key)] = i
	}
	var out []Record
	for i, r := range recs {
		if last[string(r.Key)] == i && (r.Value != nil || !dropTombstones) {
			out = append(out, r)
		}
	}
	return out
}

func TestReplayIgnoresOtherRecords(t *testing.T) {
	c := NewCoordinator(Config{})
	// An offset commit key (version 1) and an unknown record type.
	for _, key := range [][]byte{{0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 0}, {0, 99, 1}} {
		if err := c.Replay(key, []byte{1}); err != nil {
			t.Fatalf("%x: %v", key, err)
		}
	}
	if len(c.GroupIDs()) != 0 {
		t.Fatal("a group from records of other types")
	}
	if err := c.Replay([]byte{0, 3, 0, 9}, []byte{0, 0}); err == nil {
		t.Fatal("a truncated consumer-group key replayed")
	}
	if !reflect.DeepEqual(c.GroupIDs(), []string(nil)) && len(c.GroupIDs()) != 0 {
		t.Fatal("groups after failed replays")
	}
}

// TestReplayKafkaRecords loads what Apache Kafka 4.4 wrote for KIP-848
// groups (offsetsfmt's golden capture): every record replays, each group
// comes back at the last epoch Kafka wrote for it, with the members Kafka
// did not delete and the target assignment epoch it recorded.
func TestReplayKafkaRecords(t *testing.T) {
	b, err := os.ReadFile("../../offsetsfmt/testdata/kafka-4.4.0-consumer-groups.txt")
	if err != nil {
		t.Fatal(err)
	}
	c := NewCoordinator(Config{})
	epochs, targets := map[string]int32{}, map[string]int32{}
	members := map[string]map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		key, _ := hex.DecodeString(f[2])
		var value []byte
		if f[3] != "-" {
			value, _ = hex.DecodeString(f[3])
		}
		if err := c.Replay(key, value); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		r, _ := offsetsfmt.Decode(key, value)
		if members[r.Group] == nil {
			members[r.Group] = map[string]bool{}
		}
		switch v := r.Consumer.(type) {
		case *offsetsfmt.ConsumerGroupMetadataValue:
			epochs[r.Group] = v.Epoch
		case *offsetsfmt.ConsumerGroupTargetAssignmentMetadataValue:
			targets[r.Group] = v.AssignmentEpoch
		case *offsetsfmt.ConsumerGroupMemberMetadataValue:
			members[r.Group][r.Member] = true
		case nil:
			if r.Kind == offsetsfmt.ConsumerGroupMemberMetadata {
				delete(members[r.Group], r.Member)
			}
		}
	}
	if len(epochs) < 2 {
		t.Fatalf("the capture has %d consumer groups", len(epochs))
	}
	for id, e := range epochs {
		g := c.Group(id)
		if g == nil || g.Epoch != e || g.AssignmentEpoch != targets[id] {
			t.Fatalf("group %s: %+v, want epoch %d, assignment epoch %d", id, g, e, targets[id])
		}
		if got := g.MemberIDs(); len(got) != len(members[id]) {
			t.Fatalf("group %s: members %v, Kafka's log keeps %v", id, got, members[id])
		}
	}
}

// TestSubscribedTo: a group is subscribed to the topics its members name
// and those their regexes resolved to (offset expiry keeps their offsets).
func TestSubscribedTo(t *testing.T) {
	c := NewCoordinator(Config{})
	topics := &fakeTopics{parts: map[string]int32{"a": 1, "b1": 1, "c": 1}}
	join := func(member string, names []string, regex *string) {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID = 1, "g", member
		req.RebalanceTimeoutMillis = 30000
		req.SubscribedTopicNames, req.SubscribedTopicRegex = names, regex
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if resp, _ := c.Heartbeat(time.Unix(1_700_000_000, 0), Client{ID: member}, req, topics); resp.ErrorCode != 0 {
			t.Fatalf("join %s: %d", member, resp.ErrorCode)
		}
	}
	join("m1", []string{"a"}, nil)
	join("m2", nil, kmsg.StringPtr("b.*"))
	g := c.Group("g")
	for topic, want := range map[string]bool{"a": true, "b1": true, "c": false, "b": false} {
		if got := g.SubscribedTo(topic); got != want {
			t.Errorf("SubscribedTo(%q) = %v, want %v", topic, got, want)
		}
	}
}
