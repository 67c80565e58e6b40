package offsetsfmt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func strp(s string) *string { return &s }

// sample values of every generated value type, with every optional part
// set: nullable strings, tagged fields (scalar, array, nullable struct)
// and unknown tags.
func sampleValues() []CoordinatorRecord {
	tid := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	return []CoordinatorRecord{
		&ConsumerGroupMetadataValue{Epoch: 7, MetadataHash: -12345},
		&ConsumerGroupMetadataValue{Epoch: 1, UnknownTags: []RawTag{{Tag: 3, Data: []byte{9, 9}}}},
		&ConsumerGroupPartitionMetadataValue{Topics: []ConsumerGroupPartitionMetadataValueTopicMetadata{{
			TopicId: tid, TopicName: "orders", NumPartitions: 3,
			PartitionMetadata: []ConsumerGroupPartitionMetadataValueTopicMetadataPartitionMetadata{{Partition: 0, Racks: []string{"a", "b"}}},
		}}},
		&ConsumerGroupMemberMetadataValue{InstanceId: strp("i-1"), RackId: strp("r"), ClientId: "c", ClientHost: "/h",
			SubscribedTopicNames: []string{"a", "b"}, SubscribedTopicRegex: strp("or.*"), RebalanceTimeoutMs: 300000,
			ServerAssignor: strp("uniform"),
			ClassicMemberMetadata: &ConsumerGroupMemberMetadataValueClassicMemberMetadata{SessionTimeoutMs: 45000,
				SupportedProtocols: []ConsumerGroupMemberMetadataValueClassicMemberMetadataClassicProtocol{{Name: "range", Metadata: []byte{0, 1}}}}},
		&ConsumerGroupMemberMetadataValue{ClientId: "c", ClientHost: "/h", SubscribedTopicNames: []string{}, RebalanceTimeoutMs: -1},
		&ConsumerGroupTargetAssignmentMetadataValue{AssignmentEpoch: 4, AssignmentTimestamp: 1700000000000},
		&ConsumerGroupTargetAssignmentMemberValue{TopicPartitions: []ConsumerGroupTargetAssignmentMemberValueTopicPartition{
			{TopicId: tid, Partitions: []int32{0, 2}}}},
		&ConsumerGroupCurrentMemberAssignmentValue{MemberEpoch: 5, PreviousMemberEpoch: 4, State: 2,
			AssignedPartitions: []ConsumerGroupCurrentMemberAssignmentValueTopicPartitions{
				{TopicId: tid, Partitions: []int32{1}, AssignmentEpochs: []int32{5}}},
			PartitionsPendingRevocation: []ConsumerGroupCurrentMemberAssignmentValueTopicPartitions{
				{TopicId: tid, Partitions: []int32{3}}}},
		&ConsumerGroupRegularExpressionValue{Topics: []string{"or1", "or2"}, VersionField: 99, Timestamp: 1234},
	}
}

func TestConsumerGroupValuesRoundTrip(t *testing.T) {
	for _, v := range sampleValues() {
		b := v.AppendTo(nil)
		got := reflect.New(reflect.TypeOf(v).Elem()).Interface().(CoordinatorRecord)
		if err := got.ReadFrom(b); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%T round trip:\n got %+v\nwant %+v", v, got, v)
		}
		// Every strict prefix is malformed, never a panic or a success.
		for n := 0; n < len(b); n++ {
			if err := got.ReadFrom(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%T: %d of %d bytes: err %v, want ErrMalformed", v, n, len(b), err)
			}
		}
		if err := got.ReadFrom(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%T with a trailing byte: err %v", v, err)
		}
	}
}

func TestConsumerGroupKeys(t *testing.T) {
	for _, tc := range []struct {
		kind                 Kind
		group, member, regex string
	}{
		{ConsumerGroupMetadata, "g", "", ""},
		{ConsumerGroupPartitionMetadata, "g", "", ""},
		{ConsumerGroupMemberMetadata, "g", "m1", ""},
		{ConsumerGroupTargetAssignmentMetadata, "g", "", ""},
		{ConsumerGroupTargetAssignmentMember, "g", "m2", ""},
		{ConsumerGroupCurrentMemberAssignment, "g", "m3", ""},
		{ConsumerGroupRegularExpression, "g", "", "a.*"},
	} {
		key := ConsumerGroupKey(tc.kind, tc.group, tc.member, tc.regex)
		k, err := DecodeKey(key)
		want := Key{Kind: tc.kind, Version: int16(key[0])<<8 | int16(key[1]), Group: tc.group, Member: tc.member, Regex: tc.regex}
		if err != nil || k != want || !k.Kind.IsConsumerGroup() {
			t.Errorf("kind %d: %+v, %v; want %+v", tc.kind, k, err, want)
		}
		// A known record type whose key does not decode is an error, as
		// for the classic records.
		if _, err := DecodeKey(key[:len(key)-1]); !errors.Is(err, ErrMalformed) {
			t.Errorf("kind %d truncated: err %v", tc.kind, err)
		}
	}
	// Record types of other group types (share, streams) stay Unknown.
	for _, rt := range []int16{9, 10, 15, 17, 23, 99} {
		k, err := DecodeKey([]byte{byte(rt >> 8), byte(rt), 0, 1, 'g'})
		if err != nil || k.Kind != Unknown || k.Version != rt {
			t.Errorf("record type %d: %+v, %v", rt, k, err)
		}
	}
}

// TestDecodeConsumerGroupTombstone: a nil value of a consumer-group key is
// a tombstone with its key.
func TestDecodeConsumerGroupTombstone(t *testing.T) {
	r, err := Decode(ConsumerGroupKey(ConsumerGroupCurrentMemberAssignment, "g", "m", ""), nil)
	if err != nil || !r.Tombstone() || r.Member != "m" || r.Consumer != nil {
		t.Fatalf("%+v, %v", r, err)
	}
	r, err = Decode(ConsumerGroupKey(ConsumerGroupMetadata, "g", "", ""), (&ConsumerGroupMetadataValue{Epoch: 3}).AppendTo(nil))
	if err != nil || r.Tombstone() {
		t.Fatalf("%+v, %v", r, err)
	}
	if v, ok := r.Consumer.(*ConsumerGroupMetadataValue); !ok || v.Epoch != 3 {
		t.Fatalf("value %#v", r.Consumer)
	}
	// An unknown value version is an error, not a silent misread.
	if _, err := Decode(ConsumerGroupKey(ConsumerGroupMetadata, "g", "", ""), []byte{0, 1, 0, 0, 0, 3, 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("value version 1: err %v", err)
	}
}

// TestArrayLengthBounded: a lying array length is refused before any
// allocation of its size.
func TestArrayLengthBounded(t *testing.T) {
	// Version 0, then a compact array length of 2^31-2 elements.
	b := []byte{0, 0, 0xfe, 0xff, 0xff, 0xff, 0x07}
	var v ConsumerGroupTargetAssignmentMemberValue
	allocs := testing.AllocsPerRun(10, func() {
		if err := v.ReadFrom(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("err %v", err)
		}
	})
	if allocs > 10 {
		t.Fatalf("%v allocations", allocs)
	}
}

// TestGeneratedUpToDate: consumergroup_gen.go is what the generator makes
// of schema/ today, so nobody edits the generated file by hand or forgets
// to regenerate it.
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the generator")
	}
	out := filepath.Join(t.TempDir(), "gen.go")
	cmd := exec.Command("go", "run", "./internal/gen", "-in", "schema", "-out", out, "-pkg", "offsetsfmt")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(out)
	got, err := os.ReadFile("consumergroup_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("consumergroup_gen.go is stale: run go generate ./offsetsfmt")
	}
}

// FuzzConsumerGroupValue: no input panics a decoder, and what decodes
// re-encodes to something that decodes to the same record.
func FuzzConsumerGroupValue(f *testing.F) {
	for _, v := range sampleValues() {
		b := v.AppendTo(nil)
		f.Add(int16(recordTypeOf(v)), b)
	}
	// And every value Apache Kafka 4.4 wrote in the golden capture.
	if data, err := os.ReadFile("testdata/kafka-4.4.0-consumer-groups.txt"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			fl := strings.Fields(line)
			if len(fl) != 4 || strings.HasPrefix(fl[0], "#") || fl[3] == "-" {
				continue
			}
			key, err1 := hex.DecodeString(fl[2])
			value, err2 := hex.DecodeString(fl[3])
			if err1 == nil && err2 == nil && len(key) >= 2 {
				f.Add(int16(key[0])<<8|int16(key[1]), value)
			}
		}
	}
	f.Fuzz(func(t *testing.T, rt int16, b []byte) {
		v, err := DecodeConsumerGroupValue(rt, b)
		if err != nil {
			return
		}
		again, err := DecodeConsumerGroupValue(rt, v.AppendTo(nil))
		if err != nil {
			t.Fatalf("re-encoded %T does not decode: %v", v, err)
		}
		if !bytes.Equal(again.AppendTo(nil), v.AppendTo(nil)) {
			t.Fatalf("%T is not stable across a round trip", v)
		}
	})
}

func recordTypeOf(v CoordinatorRecord) int16 {
	for rt := range kindOfRecordType {
		if reflect.TypeOf(newGeneratedValue(rt)) == reflect.TypeOf(v) {
			return rt
		}
	}
	return -1
}
