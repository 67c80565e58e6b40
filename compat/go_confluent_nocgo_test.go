//go:build !cgo

package compat

import (
	"context"
	"errors"
)

// Without cgo confluent-kafka-go cannot link its bundled librdkafka: the row
// is reported, never dropped.
func init() {
	register(client{
		name: "confluent-kafka-go", slug: "confluentgo", lang: "Go", order: 40,
		available: func() error {
			return errors.New("needs cgo (CGO_ENABLED=1 and a C compiler) for its bundled librdkafka")
		},
		version:   func(context.Context, *env) string { return "" },
		newDriver: func(*env) driver { return nil },
	})
}
