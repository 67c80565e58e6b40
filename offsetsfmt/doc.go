// Package offsetsfmt owns the format of Kafka's __consumer_offsets topic as
// Rewind reads it: which partition holds a group's records, and the record
// keys and values decoded into kmsg's generated types.
//
// It is the one place that knows the format, so that the group coordinator
// (which writes and replays the log), the broker (which feeds the lag
// recorder from it) and the client-side offsettool (which reads it from any
// Kafka) agree byte for byte. It depends only on kmsg, so offsettool can
// import it without importing broker or group internals.
//
// # Placement
//
// PartitionFor is Kafka's GroupCoordinator.partitionFor:
// Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions, with Java's
// String.hashCode over UTF-16 code units and Utils.abs mapping
// Integer.MIN_VALUE to 0. Tools that read the topic find a group's records
// where Kafka would have put them.
//
// # Records
//
// Every key starts with a big-endian int16 version that says which schema
// the key and value have (Kafka's GroupMetadataManager):
//
//	key version 0/1: OffsetCommitKey   {group, topic, partition}
//	                 value: OffsetCommitValue v0..v4 (v1 carries an expire timestamp)
//	key version 2:   GroupMetadataKey  {group}
//	                 value: GroupMetadataValue v0..v4
//	key version 3:   ConsumerGroupMetadata{Key,Value}           group epoch, metadata hash (tag 0)
//	key version 4:   ConsumerGroupPartitionMetadata{Key,Value}  subscribed topics (not written since 4.1)
//	key version 5:   ConsumerGroupMemberMetadata{Key,Value}     a member's client, subscription, assignor,
//	                                                            classic-protocol metadata (tag 0)
//	key version 6:   ConsumerGroupTargetAssignmentMetadata…     target assignment epoch, timestamp (tag 0)
//	key version 7:   ConsumerGroupTargetAssignmentMember…       a member's target partitions
//	key version 8:   ConsumerGroupCurrentMemberAssignment…      member epoch, state, owned partitions with
//	                                                            their assignment epochs (tag 0), revoking
//	key version 16:  ConsumerGroupRegularExpression{Key,Value}  a subscription regex resolved to topics
//	nil value:       tombstone (offset deleted or expired; group or member deleted)
//
// For key versions 3 and up the int16 is Kafka 4.x's record type (the
// definitions' apiKey), the key's fields follow at version 0 (classic,
// non-flexible encoding), and the value starts with its own int16 version
// and is flexible (compact strings and arrays, tagged fields). Other key
// versions (share and streams groups, types 9-15 and 17+) decode as
// Unknown without error, so readers skip them as Kafka's older
// coordinators do.
//
// The classic records' codecs are kmsg's (OffsetCommitKey, …). kmsg has
// none for the consumer-group records, so theirs are generated
// (consumergroup_gen.go) by internal/gen from Kafka 4.4.0's own message
// definitions, kept unchanged in schema/ (Apache-2.0, see
// schema/README.md): `go generate ./offsetsfmt` rewrites the file and
// TestGeneratedUpToDate fails when it is stale. The generator implements
// the part of Kafka's message generator these records use, including its
// tagged-field rules (a tagged field is written only when it differs from
// its default; a nullable struct in a tag is written even when null, as a
// 0 presence marker, and left out only when it equals an empty struct).
// Unknown tags are kept and written back, so a record re-encodes to the
// bytes it was read from. testdata/kafka-4.4.0-consumer-groups.txt holds
// records Apache Kafka 4.4.0 wrote for KIP-848 groups, and
// TestKafkaConsumerGroupRecords proves every one decodes and re-encodes
// byte for byte (-capture-kafka rewrites it from a real Kafka).
// Decoding is bounded: an array length larger than the bytes left is
// ErrMalformed before anything is allocated.
//
// # Write errors
//
// AppendError says what a group request answers when its write to
// __consumer_offsets fails, as Kafka 4.x's group coordinator does. The
// classification is over Kafka errors (kerr), in two steps as in Kafka:
//
//	storage error --broker--> produce-level Kafka error --AppendError--> group API error
//	  ErrMessageTooLarge        MESSAGE_TOO_LARGE                          UNKNOWN_SERVER_ERROR
//	  I/O error, fenced log,    KAFKA_STORAGE_ERROR                        NOT_COORDINATOR
//	  full disk
//
// The broker's store (group.Store) translates storage's errors with the
// same table it answers Produce with, and wraps the result, so that
// errors.As finds the kerr value here; the group coordinator calls
// AppendError. This keeps imports one way: broker imports storage and
// group (it needs only kerr to wrap), group imports this package, and this
// package imports only kerr, kmsg and the standard library, never storage,
// so offsettool can import it without pulling in the broker's internals.
package offsetsfmt
