package offsetsfmt

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// AppendError returns the error a group operation answers when its write to
// __consumer_offsets failed with err: Apache Kafka 4.x's normalisation of
// log append errors for the group coordinator (the coordinator runtime's
// handling of an operation's exception, and the same table for the
// group-metadata writes of JoinGroup and SyncGroup). It is the same for
// every group API that writes: OffsetCommit, TxnOffsetCommit, JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup, OffsetDelete, DeleteGroups. It returns
// nil for a nil err.
//
// err is what the store returned; the Kafka error in it is found with
// errors.As (see the package doc for who puts it there):
//
//	UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS,
//	REQUEST_TIMED_OUT (the write timed out) -> COORDINATOR_NOT_AVAILABLE
//	NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR  -> NOT_COORDINATOR
//	MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE,
//	INVALID_FETCH_SIZE (the write can never fit) -> UNKNOWN_SERVER_ERROR
//	any other Kafka error                        -> itself
//
// An error carrying no Kafka error is a storage error
// (KAFKA_STORAGE_ERROR, so NOT_COORDINATOR). A context error means the
// wait for the write was abandoned: context.DeadlineExceeded is Kafka's
// write timeout (COORDINATOR_NOT_AVAILABLE), context.Canceled the
// coordinator closing under the write, which Kafka answers
// NOT_COORDINATOR when it unloads a partition with writes pending.
//
// UNKNOWN_SERVER_ERROR and the errors passed through are not retriable, so
// clients give up at once on a write that can never succeed; the
// coordinator codes are retriable and send them to FindCoordinator and back.
func AppendError(err error) *kerr.Error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
	case errors.Is(err, context.DeadlineExceeded):
		ke = kerr.RequestTimedOut
	case errors.Is(err, context.Canceled):
		ke = kerr.NotLeaderForPartition
	default:
		ke = kerr.KafkaStorageError
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.RequestTimedOut:
		return kerr.CoordinatorNotAvailable
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
		return kerr.UnknownServerError
	}
	return ke
}

// AppendErrorCode is AppendError's code, 0 for a nil err.
func AppendErrorCode(err error) int16 {
	if ke := AppendError(err); ke != nil {
		return ke.Code
	}
	return 0
}
