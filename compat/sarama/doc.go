// Package sarama holds Rewind's tests that drive IBM/sarama beyond the
// compatibility matrix: consumer-group behaviour as a Go team sees it
// against Apache Kafka, the produce/consume round trip, every compression
// codec, a user's test built on rewindtest, and the CLI's replay story
// with an unmodified Sarama consumer group. It holds no library code.
//
// The tests live here, in the compat module, and not next to the packages
// they exercise, so that a module importing rewindtest or broker never
// downloads Sarama. `go test work` from the repository root runs them with
// every other test (go.work lists this module).
package sarama
