package offsetsfmt

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The expected partitions were printed by Java 21 (String.hashCode, and
// Kafka's Utils.abs: n == Integer.MIN_VALUE ? 0 : Math.abs(n)) for 50
// partitions, Kafka's default offsets.topic.num.partitions. The hash is in
// the comment so a failure can be told apart from a modulo slip.
func TestPartitionForMatchesJava(t *testing.T) {
	for _, c := range []struct {
		group string
		want  int32
	}{
		{"billing", 9},             // -109829509
		{"orders-service", 17},     // 23943117
		{"console-test", 48},       // 636895048
		{"my-group", 12},           // -1906497762
		{"connect-sink", 22},       // 1867811222
		{"consumer-group-1", 20},   // 147483020
		{"groupé", 6},              // -1237460406: one UTF-16 unit above ASCII
		{"😀group", 32},             // -1231696132: a surrogate pair
		{"\uffff\uffff", 20},       // 2097120: the largest BMP unit
		{"", 0},                    // 0
		{"polygenelubricants", 0},  // Integer.MIN_VALUE: Utils.abs gives 0, not a negative partition
		{"polygenelubricantt", 47}, // MIN_VALUE+1: abs is MaxInt32
		{"polygenelubricantr", 47}, // MaxInt32: overflowed past MIN_VALUE
	} {
		if got := PartitionFor(c.group, 50); got != c.want {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", c.group, got, c.want)
		}
	}
	for _, n := range []int32{1, 0, -3} {
		if got := PartitionFor("billing", n); got != 0 {
			t.Errorf("PartitionFor(billing, %d) = %d, want 0", n, got)
		}
	}
}

func TestDecodeOffsetCommitRoundTrip(t *testing.T) {
	for kv := int16(0); kv <= 1; kv++ {
		key := kmsg.NewOffsetCommitKey()
		key.Version, key.Group, key.Topic, key.Partition = kv, "g1", "orders", 7
		kb := key.AppendTo(nil)
		for vv := int16(0); vv <= 4; vv++ {
			v := kmsg.NewOffsetCommitValue()
			v.Version, v.Offset, v.Metadata, v.CommitTimestamp = vv, 42, "meta", 1700000000123
			if vv >= 3 {
				v.LeaderEpoch = 5
			}
			if vv == 1 {
				v.ExpireTimestamp = 1700000999000
			}
			r, err := Decode(kb, v.AppendTo(nil))
			if err != nil {
				t.Fatalf("key v%d value v%d: %v", kv, vv, err)
			}
			wantKey := Key{Kind: OffsetCommit, Version: kv, Group: "g1", Topic: "orders", Partition: 7}
			if r.Key != wantKey || r.Metadata != nil || r.Tombstone() {
				t.Fatalf("key v%d value v%d: %+v", kv, vv, r)
			}
			if !reflect.DeepEqual(*r.Commit, v) {
				t.Errorf("key v%d value v%d: decoded %+v, encoded %+v", kv, vv, *r.Commit, v)
			}
			// Re-encoding what was read gives the same bytes: nothing is lost.
			if !bytes.Equal(r.Commit.AppendTo(nil), v.AppendTo(nil)) {
				t.Errorf("value v%d does not re-encode to the same bytes", vv)
			}
		}
		r, err := Decode(kb, nil)
		if err != nil || !r.Tombstone() || r.Group != "g1" || r.Topic != "orders" || r.Partition != 7 {
			t.Errorf("key v%d tombstone: %+v, %v", kv, r, err)
		}
	}
}

func TestDecodeGroupMetadataRoundTrip(t *testing.T) {
	key := kmsg.NewGroupMetadataKey()
	key.Version, key.Group = 2, "g2"
	kb := key.AppendTo(nil)
	for vv := int16(0); vv <= 4; vv++ {
		v := kmsg.NewGroupMetadataValue()
		v.Version, v.ProtocolType, v.Generation = vv, "consumer", 3
		proto, leader := "range", "m-1"
		v.Protocol, v.Leader = &proto, &leader
		if vv >= 2 {
			v.CurrentStateTimestamp = 1700000000456
		}
		m := kmsg.NewGroupMetadataValueMember()
		m.MemberID, m.ClientID, m.ClientHost = "m-1", "client", "/127.0.0.1"
		m.SessionTimeoutMillis, m.Subscription, m.Assignment = 45000, []byte{0, 1}, []byte{2, 3}
		if vv >= 1 {
			m.RebalanceTimeoutMillis = 60000
		}
		if vv >= 3 {
			inst := "static-1"
			m.InstanceID = &inst
		}
		v.Members = []kmsg.GroupMetadataValueMember{m}
		r, err := Decode(kb, v.AppendTo(nil))
		if err != nil {
			t.Fatalf("value v%d: %v", vv, err)
		}
		if r.Key != (Key{Kind: GroupMetadata, Version: 2, Group: "g2"}) || r.Commit != nil || r.Tombstone() {
			t.Fatalf("value v%d: %+v", vv, r)
		}
		if !reflect.DeepEqual(*r.Metadata, v) {
			t.Errorf("value v%d: decoded %+v, encoded %+v", vv, *r.Metadata, v)
		}
		if !bytes.Equal(r.Metadata.AppendTo(nil), v.AppendTo(nil)) {
			t.Errorf("value v%d does not re-encode to the same bytes", vv)
		}
	}
	r, err := Decode(kb, nil)
	if err != nil || !r.Tombstone() || r.Kind != GroupMetadata || r.Group != "g2" {
		t.Errorf("tombstone: %+v, %v", r, err)
	}
}

// Unknown key versions are skipped without error; short or truncated keys
// and values are errors that name what failed, which the coordinator's
// replay puts in its messages.
func TestDecodeErrorsAndUnknown(t *testing.T) {
	r, err := Decode([]byte{0, 9, 1, 2}, []byte{1, 2, 3})
	if err != nil || r.Kind != Unknown || r.Version != 9 || r.Tombstone() || r.Commit != nil || r.Metadata != nil {
		t.Errorf("unknown key version: %+v, %v", r, err)
	}
	ok := kmsg.NewOffsetCommitKey()
	ok.Version, ok.Group, ok.Topic = 1, "g", "t"
	okb := ok.AppendTo(nil)
	gk := kmsg.NewGroupMetadataKey()
	gk.Version, gk.Group = 2, "g"
	gkb := gk.AppendTo(nil)
	for _, c := range []struct {
		name       string
		key, value []byte
		want       string
	}{
		{"empty key", nil, nil, "key too short (0 bytes)"},
		{"one-byte key", []byte{0}, nil, "key too short (1 bytes)"},
		{"truncated offset key", okb[:len(okb)-1], nil, "offset commit key: "},
		{"truncated group key", gkb[:len(gkb)-1], nil, "group metadata key: "},
		{"truncated offset value", okb, []byte{0, 3, 0, 0}, "offset commit value: "},
		{"truncated group value", gkb, []byte{0, 3, 0}, "group metadata value: "},
	} {
		r, err := Decode(c.key, c.value)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: err %v, want prefix %q", c.name, err, c.want)
		}
		if strings.Contains(c.name, "value") && r.Group != "g" {
			t.Errorf("%s: the decoded key is lost: %+v", c.name, r)
		}
	}
}
