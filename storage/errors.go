package storage

import (
	"errors"
	"fmt"
)

// Errors returned by the package. Test with errors.Is: returned errors wrap
// one of these together with details (and, for I/O failures, the cause).
// The broker maps them to Kafka error codes as noted.
var (
	// ErrCorruptMessage: CORRUPT_MESSAGE. A produced batch has a bad
	// length, a CRC-32C mismatch, or a record count that does not match
	// its records.
	ErrCorruptMessage = errors.New("storage: corrupt message")
	// ErrMessageTooLarge: MESSAGE_TOO_LARGE. A batch is larger than
	// Config.MaxMessageBytes.
	ErrMessageTooLarge = errors.New("storage: message too large")
	// ErrInvalidRecord: INVALID_RECORD. A batch is well formed but not
	// acceptable (control batch from a producer, a transactional batch without a
	// producer id, unknown compression codec, bad producer fields, bad offset deltas).
	ErrInvalidRecord = errors.New("storage: invalid record")
	// ErrUnsupportedVersion: magic != 2 (Append: magic 0 or 1). The
	// broker answers a produced batch with it INVALID_RECORD, as Kafka
	// answers Produce v3+ carrying an old-format batch.
	ErrUnsupportedVersion = errors.New("storage: unsupported message format version")
	// ErrOutOfOrderSequence: OUT_OF_ORDER_SEQUENCE_NUMBER.
	ErrOutOfOrderSequence = errors.New("storage: out of order sequence number")
	// ErrInvalidProducerEpoch: INVALID_PRODUCER_EPOCH (a batch from an
	// older epoch than the one the log has seen).
	ErrInvalidProducerEpoch = errors.New("storage: invalid producer epoch")
	// ErrInvalidTxnState: INVALID_TXN_STATE (a non-transactional batch
	// from a producer with an open transaction).
	ErrInvalidTxnState = errors.New("storage: invalid transaction state")
	// ErrTransactionCoordinatorFenced: TRANSACTION_COORDINATOR_FENCED (a
	// marker from an older coordinator epoch than the producer's last).
	ErrTransactionCoordinatorFenced = errors.New("storage: transaction coordinator fenced")
	// ErrUnknownProducerID: UNKNOWN_PRODUCER_ID. Not returned today: as
	// in Kafka since KIP-360, a producer id the log has no state for is
	// accepted at any sequence. Kept so the broker can map it.
	ErrUnknownProducerID = errors.New("storage: unknown producer id")
	// ErrInvalidTimestamp: INVALID_TIMESTAMP. A record of a CreateTime
	// batch has a timestamp outside Config.TimestampBeforeMaxMs /
	// TimestampAfterMaxMs of the log's clock; the error is a
	// *TimestampError that names every such record.
	ErrInvalidTimestamp = errors.New("storage: invalid timestamp")
	// ErrOffsetOutOfRange: OFFSET_OUT_OF_RANGE.
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrStorage: KAFKA_STORAGE_ERROR. An I/O error, a fenced log, or
	// corruption found on disk. The cause is wrapped too.
	ErrStorage = errors.New("storage: storage error")
	// ErrCorruption marks errors about corrupt files on disk; such errors
	// also match ErrStorage when returned from a Log method.
	ErrCorruption = errors.New("storage: corruption")
	// ErrClosed is returned by methods called after Close or Delete.
	ErrClosed = errors.New("storage: log closed")
)

// wrapErr joins a sentinel with a formatted message (which may itself wrap
// a cause with %w).
func wrapErr(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %w", sentinel, fmt.Errorf(format, args...))
}

// ioErr wraps an I/O failure so it matches ErrStorage and its cause.
func ioErr(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrStorage, op, err)
}

// corruptErr reports corruption found on disk: it matches both ErrStorage
// and ErrCorruption.
func corruptErr(file string, pos int64, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s at byte %d: %s", ErrStorage, ErrCorruption, file, pos, fmt.Sprintf(format, args...))
}

// TimestampError refuses a batch for the timestamps of its records, as
// Kafka's LogValidator does: Records are the indexes in the batch of the
// first MaxTimestampErrors records outside [Lo, Hi], Count how many there
// are. (Kafka names every one; a batch of a million tiny records would
// then make a response many times the request's size.)
type TimestampError struct {
	Records []int32
	Count   int
	Lo, Hi  int64
}

// KeyError is a batch refused because records without a key were
// produced to a log with RequireKeys (a compacted topic): INVALID_RECORD,
// as Kafka's LogValidator.validateKey. Records lists the indexes in the
// batch of the first MaxTimestampErrors of them; Count is how many.
type KeyError struct {
	Records []int32
	Count   int
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("%v: %d record(s) without a key in a compacted topic", ErrInvalidRecord, e.Count)
}

func (e *KeyError) Unwrap() error { return ErrInvalidRecord }

// MaxTimestampErrors bounds TimestampError.Records (and KeyError.Records).
const MaxTimestampErrors = 100

func (e *TimestampError) Error() string {
	return fmt.Sprintf("%v: %d record(s) with a timestamp outside [%d, %d]", ErrInvalidTimestamp, e.Count, e.Lo, e.Hi)
}

func (e *TimestampError) Unwrap() error { return ErrInvalidTimestamp }
