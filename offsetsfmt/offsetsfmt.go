package offsetsfmt

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic is the name of the log of committed offsets and group metadata.
const Topic = "__consumer_offsets"

// PartitionFor returns the partition among partitions that holds group's
// records: abs(Java String.hashCode(group)) % partitions, exactly as Kafka
// computes it (see the package doc). It returns 0 when partitions <= 0.
func PartitionFor(group string, partitions int32) int32 {
	if partitions <= 0 {
		return 0
	}
	var h int32
	for _, r := range group {
		// Java hashes UTF-16 code units: a rune outside the BMP counts as
		// its surrogate pair.
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	// Kafka's Utils.abs maps MinInt32 to 0 (Java's Math.abs would keep it
	// negative).
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// Kind is the record type a key's version selects.
type Kind uint8

const (
	// Unknown is a key version this package does not know (newer
	// coordinators' record types); readers skip such records.
	Unknown Kind = iota
	// OffsetCommit is an offset commit (key version 0 or 1).
	OffsetCommit
	// GroupMetadata is a group's metadata (key version 2).
	GroupMetadata
)

// Key is a decoded record key.
type Key struct {
	Kind    Kind
	Version int16 // the key version read
	Group   string
	// Topic and Partition are the committed partition (OffsetCommit only).
	Topic     string
	Partition int32
	// Member is the member id (consumer-group member records: kinds
	// ConsumerGroupMemberMetadata, ...TargetAssignmentMember and
	// ...CurrentMemberAssignment).
	Member string
	// Regex is the regular expression (ConsumerGroupRegularExpression).
	Regex string
}

// DecodeKey decodes a record key. A key too short to hold a version, or a
// known version that does not decode, is an error; an unknown version is
// Kind Unknown and no error.
func DecodeKey(key []byte) (Key, error) {
	if len(key) < 2 {
		return Key{}, fmt.Errorf("key too short (%d bytes)", len(key))
	}
	version := int16(binary.BigEndian.Uint16(key))
	switch version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return Key{Version: version}, fmt.Errorf("offset commit key: %w", err)
		}
		return Key{Kind: OffsetCommit, Version: version, Group: k.Group, Topic: k.Topic, Partition: k.Partition}, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return Key{Version: version}, fmt.Errorf("group metadata key: %w", err)
		}
		return Key{Kind: GroupMetadata, Version: version, Group: k.Group}, nil
	}
	if k, ok, err := decodeConsumerGroupKey(version, key); ok {
		return k, err
	}
	return Key{Version: version}, nil
}

// DecodeOffsetCommit decodes the value of an OffsetCommit record (not a
// tombstone). The value's own version field says which fields were read:
// LeaderEpoch from version 3, ExpireTimestamp in version 1 only.
func DecodeOffsetCommit(value []byte) (*kmsg.OffsetCommitValue, error) {
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("offset commit value: %w", err)
	}
	return &v, nil
}

// DecodeGroupMetadata decodes the value of a GroupMetadata record (not a
// tombstone).
func DecodeGroupMetadata(value []byte) (*kmsg.GroupMetadataValue, error) {
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("group metadata value: %w", err)
	}
	return &v, nil
}

// Record is a decoded record: its key, and its value decoded by the key's
// kind. All values are nil for a tombstone and for Unknown records.
type Record struct {
	Key
	Commit   *kmsg.OffsetCommitValue  // Kind OffsetCommit, value present
	Metadata *kmsg.GroupMetadataValue // Kind GroupMetadata, value present
	// Consumer is the value of a consumer-group kind (IsConsumerGroup),
	// value present: *ConsumerGroupMetadataValue and so on.
	Consumer CoordinatorRecord
}

// Decode decodes a record's key and, unless value is nil (a tombstone) or
// the kind is Unknown, its value. Errors are those of DecodeKey,
// DecodeOffsetCommit and DecodeGroupMetadata; on a value error the
// returned Record still carries the decoded key.
func Decode(key, value []byte) (Record, error) {
	k, err := DecodeKey(key)
	r := Record{Key: k}
	if err != nil || value == nil {
		return r, err
	}
	switch k.Kind {
	case OffsetCommit:
		r.Commit, err = DecodeOffsetCommit(value)
	case GroupMetadata:
		r.Metadata, err = DecodeGroupMetadata(value)
	default:
		if k.Kind.IsConsumerGroup() {
			r.Consumer, err = DecodeConsumerGroupValue(k.Version, value)
		}
	}
	return r, err
}

// Tombstone reports whether the record deletes its key (a nil value);
// meaningful only for a Record that Decode returned without error.
func (r Record) Tombstone() bool {
	return r.Kind != Unknown && r.Commit == nil && r.Metadata == nil && r.Consumer == nil
}
