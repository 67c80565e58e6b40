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
//	nil value:       tombstone (offset deleted or expired; group deleted)
//
// Other key versions (newer coordinators' record types) decode as Unknown
// without error, so readers skip them as Kafka does. Encoding is kmsg's
// AppendTo on the same types; this package adds no codec of its own.
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
