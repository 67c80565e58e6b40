package offsetsfmt

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The table is Kafka 4.x's normalisation of append errors for the group
// coordinator (CoordinatorOperationExceptionHelper.handleOperationException
// and GroupMetadataManager.appendGroupMetadataErrorToResponseError, which
// agree), read at apache/kafka 1eb7644349c.
func TestAppendErrorMatchesKafka(t *testing.T) {
	full := errors.New("store full")
	for _, c := range []struct {
		name string
		err  error
		want *kerr.Error
	}{
		{"nil", nil, nil},
		{"unknown partition", kerr.UnknownTopicOrPartition, kerr.CoordinatorNotAvailable},
		{"not enough replicas", kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable},
		{"timed out", kerr.RequestTimedOut, kerr.CoordinatorNotAvailable},
		{"not leader", kerr.NotLeaderForPartition, kerr.NotCoordinator},
		{"storage error", kerr.KafkaStorageError, kerr.NotCoordinator},
		{"message too large", kerr.MessageTooLarge, kerr.UnknownServerError},
		{"record list too large", kerr.RecordListTooLarge, kerr.UnknownServerError},
		{"invalid fetch size", kerr.InvalidFetchSize, kerr.UnknownServerError},
		// Not in Kafka's table: passed through as they are.
		{"not enough replicas after append", kerr.NotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
		{"invalid producer epoch", kerr.InvalidProducerEpoch, kerr.InvalidProducerEpoch},
		// Wrapped the way the broker's store wraps them.
		{"wrapped too large", fmt.Errorf("append: %w: storage: message too large", kerr.MessageTooLarge), kerr.UnknownServerError},
		{"full disk", fmt.Errorf("%w: %w", fmt.Errorf("%w: %w", full, kerr.KafkaStorageError), syscall.ENOSPC), kerr.NotCoordinator},
		// No Kafka error in it: a storage error.
		{"plain I/O error", fmt.Errorf("write: %w", syscall.EIO), kerr.NotCoordinator},
		{"deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), kerr.CoordinatorNotAvailable},
		{"canceled", context.Canceled, kerr.NotCoordinator},
	} {
		got := AppendError(c.err)
		if got != c.want {
			t.Errorf("%s: AppendError(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
		wantCode := int16(0)
		if c.want != nil {
			wantCode = c.want.Code
		}
		if code := AppendErrorCode(c.err); code != wantCode {
			t.Errorf("%s: AppendErrorCode = %d, want %d", c.name, code, wantCode)
		}
	}
}

// A write that can never fit must not be answered with a code clients
// retry (kgo retried NOT_COORDINATOR for 30 s); the storage and
// availability answers must be retriable.
func TestAppendErrorRetriable(t *testing.T) {
	for _, c := range []struct {
		err       error
		retriable bool
	}{
		{kerr.MessageTooLarge, false},
		{kerr.RecordListTooLarge, false},
		{kerr.KafkaStorageError, true},
		{kerr.NotEnoughReplicas, true},
		{context.Canceled, true},
	} {
		if got := AppendError(c.err).Retriable; got != c.retriable {
			t.Errorf("AppendError(%v) = %v, retriable %v, want %v", c.err, AppendError(c.err), got, c.retriable)
		}
	}
}
