package offsetsfmt

import "fmt"

//go:generate go run ./internal/gen -in schema -out consumergroup_gen.go -pkg offsetsfmt

// The record kinds of Kafka 4.x's consumer groups (KIP-848), record types
// 3 to 8 and 16 of group-coordinator's message definitions. Their codecs
// are generated from those definitions (schema/, consumergroup_gen.go).
const (
	ConsumerGroupMetadata                 Kind = iota + 3 // type 3: group epoch
	ConsumerGroupPartitionMetadata                        // type 4: subscribed topics (replaced by the metadata hash in 4.1)
	ConsumerGroupMemberMetadata                           // type 5: a member's subscription and client
	ConsumerGroupTargetAssignmentMetadata                 // type 6: target assignment epoch
	ConsumerGroupTargetAssignmentMember                   // type 7: a member's target partitions
	ConsumerGroupCurrentMemberAssignment                  // type 8: a member's epoch, owned and revoking partitions
	ConsumerGroupRegularExpression                        // type 16: a resolved subscription regex
)

// IsConsumerGroup reports whether k is one of the consumer-group kinds.
func (k Kind) IsConsumerGroup() bool {
	return k >= ConsumerGroupMetadata && k <= ConsumerGroupRegularExpression
}

var kindOfRecordType = map[int16]Kind{
	RecordTypeConsumerGroupMetadata:                 ConsumerGroupMetadata,
	RecordTypeConsumerGroupPartitionMetadata:        ConsumerGroupPartitionMetadata,
	RecordTypeConsumerGroupMemberMetadata:           ConsumerGroupMemberMetadata,
	RecordTypeConsumerGroupTargetAssignmentMetadata: ConsumerGroupTargetAssignmentMetadata,
	RecordTypeConsumerGroupTargetAssignmentMember:   ConsumerGroupTargetAssignmentMember,
	RecordTypeConsumerGroupCurrentMemberAssignment:  ConsumerGroupCurrentMemberAssignment,
	RecordTypeConsumerGroupRegularExpression:        ConsumerGroupRegularExpression,
}

// CoordinatorRecord is a generated key or value: it encodes itself,
// prefix included (AppendTo), and decodes exactly one encoded record
// (ReadFrom).
type CoordinatorRecord interface {
	AppendTo(dst []byte) []byte
	ReadFrom(src []byte) error
}

// decodeConsumerGroupKey decodes a key of a consumer-group record type;
// ok is false for other record types.
func decodeConsumerGroupKey(recordType int16, key []byte) (k Key, ok bool, err error) {
	kind, ok := kindOfRecordType[recordType]
	if !ok {
		return Key{}, false, nil
	}
	k = Key{Kind: kind, Version: recordType}
	rec := newGeneratedKey(recordType)
	if err := rec.ReadFrom(key); err != nil {
		return Key{Version: recordType}, true, err
	}
	switch rk := rec.(type) {
	case *ConsumerGroupMetadataKey:
		k.Group = rk.GroupId
	case *ConsumerGroupPartitionMetadataKey:
		k.Group = rk.GroupId
	case *ConsumerGroupMemberMetadataKey:
		k.Group, k.Member = rk.GroupId, rk.MemberId
	case *ConsumerGroupTargetAssignmentMetadataKey:
		k.Group = rk.GroupId
	case *ConsumerGroupTargetAssignmentMemberKey:
		k.Group, k.Member = rk.GroupId, rk.MemberId
	case *ConsumerGroupCurrentMemberAssignmentKey:
		k.Group, k.Member = rk.GroupId, rk.MemberId
	case *ConsumerGroupRegularExpressionKey:
		k.Group, k.Regex = rk.GroupId, rk.RegularExpression
	default:
		return Key{Version: recordType}, true, fmt.Errorf("record type %d has no key mapping", recordType)
	}
	return k, true, nil
}

// DecodeConsumerGroupValue decodes the value (not a tombstone) of a
// consumer-group record of the given record type (Key.Version): a
// *ConsumerGroupMetadataValue for type 3, and so on.
func DecodeConsumerGroupValue(recordType int16, value []byte) (CoordinatorRecord, error) {
	if _, ok := kindOfRecordType[recordType]; !ok {
		return nil, fmt.Errorf("record type %d is no consumer-group record", recordType)
	}
	v := newGeneratedValue(recordType)
	if err := v.ReadFrom(value); err != nil {
		return nil, err
	}
	return v, nil
}

// ConsumerGroupKey encodes the key of a consumer-group record of kind k:
// group for every kind, member for the member kinds (5, 7, 8), regex for
// kind 16; the other argument is ignored.
func ConsumerGroupKey(k Kind, group, member, regex string) []byte {
	var rec CoordinatorRecord
	switch k {
	case ConsumerGroupMetadata:
		rec = &ConsumerGroupMetadataKey{GroupId: group}
	case ConsumerGroupPartitionMetadata:
		rec = &ConsumerGroupPartitionMetadataKey{GroupId: group}
	case ConsumerGroupMemberMetadata:
		rec = &ConsumerGroupMemberMetadataKey{GroupId: group, MemberId: member}
	case ConsumerGroupTargetAssignmentMetadata:
		rec = &ConsumerGroupTargetAssignmentMetadataKey{GroupId: group}
	case ConsumerGroupTargetAssignmentMember:
		rec = &ConsumerGroupTargetAssignmentMemberKey{GroupId: group, MemberId: member}
	case ConsumerGroupCurrentMemberAssignment:
		rec = &ConsumerGroupCurrentMemberAssignmentKey{GroupId: group, MemberId: member}
	case ConsumerGroupRegularExpression:
		rec = &ConsumerGroupRegularExpressionKey{GroupId: group, RegularExpression: regex}
	default:
		panic(fmt.Sprintf("offsetsfmt: ConsumerGroupKey of kind %d", k))
	}
	return rec.AppendTo(nil)
}
