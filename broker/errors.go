package broker

import (
	"errors"

	"github.com/rewindhq/rewind/catalog"
	"github.com/twmb/franz-go/pkg/kerr"
)

// catalogErrorCode maps a catalog error to the Kafka error code and message
// a real broker would send.
func catalogErrorCode(err error) (int16, *string) {
	if err == nil {
		return 0, nil
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
	case isNoSpace(err):
		return kerr.KafkaStorageError.Code, &msg
	default:
		return kerr.UnknownServerError.Code, &msg
	}
}

func strp(s string) *string { return &s }
