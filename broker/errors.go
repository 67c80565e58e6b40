package broker

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
)

// catalogErrorCode maps a catalog error to the Kafka error code and message
// a real broker would send.
func catalogErrorCode(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	if errors.Is(err, errMutationQuota) {
		return kerr.ThrottlingQuotaExceeded.Code, nil // Kafka's answer has no message
	}
	msg := err.Error()
	switch {
	case errors.Is(err, catalog.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code, &msg
	case errors.Is(err, catalog.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code, &msg
	case errors.Is(err, catalog.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code, &msg
	case errors.Is(err, catalog.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code, &msg
	case errors.Is(err, catalog.ErrInvalidConfig):
		return kerr.InvalidConfig.Code, &msg
	case errors.Is(err, errPartitionLimit):
		return kerr.PolicyViolation.Code, &msg // why this code: partitions.go
	case isNoSpace(err), errors.Is(err, storage.ErrStorage), errors.As(err, new(*fs.PathError)), errors.As(err, new(syscall.Errno)):
		// A partition log or the catalog could not be written (ENOSPC,
		// EMFILE, EIO ...); the change was undone.
		return kerr.KafkaStorageError.Code, &msg
	default:
		return kerr.UnknownServerError.Code, &msg
	}
}

func strp(s string) *string { return &s }
