// Package compat is Rewind's real-client compatibility suite. It holds no
// library code: everything lives in its tests.
//
// TestCompat builds the rewind binary once, starts one broker on
// 127.0.0.1, and drives every client named in docs/compatibility.md through
// the same scenario (create topic, metadata, produce uncompressed and with
// each codec, consume from the beginning, consume in a group and commit,
// resume after a restart). Go clients run in-process; kcat, the Python
// clients (Debian's on /usr/bin/python3, newer PyPI releases on the
// interpreter of the project-local venv .cache/venv) and KafkaJS run as
// subprocesses; Burrow runs as a subprocess next
// to a ZooKeeper the suite starts on loopback.
//
// The Java rows (java_test.go) have columns of their own: compat/java, a
// Maven project on kafka-clients and kafka-streams, runs one JVM per row
// (producer, consumer, AdminClient, Kafka Streams) that prints a verdict per
// capability, and the suite checks what the broker stored with franz-go.
// Kafka's own command-line tools (kafkatools_test.go) run as bin/kafka-*.sh
// runs them, `java -cp libs/* CLASS`, from the jars .ci/kafka.sh fetches.
//
// The security section (security_test.go) starts a second broker with SSL
// and SASL_SSL listeners and the standard authorizer, and runs Sarama,
// kcat, kafka-python, confluent-kafka-python, KafkaJS and the Java client
// through SSL with a client certificate, SASL_SSL with PLAIN, SCRAM-SHA-256
// and SCRAM-SHA-512, a wrong password and a missing ACL, one process per
// client (the Java one configured from client.properties files as users
// write them, kcat from librdkafka properties with -F).
// REWIND_COMPAT_SECURITY=1 go test -run TestCompatSecurity runs it alone.
//
// On a developer machine `go test ./compat/` runs the Go clients and skips
// each external tool that is not installed, naming it and the installer
// (.ci/compat.sh). The installer sets REWIND_COMPAT_REQUIRED=1, which turns
// a missing tool into a failure, and REWIND_COMPAT_WRITE=1, which rewrites
// docs/compatibility.md from the results.
//
// compat is a module of its own (compat/go.mod, which replaces the rewind
// module with this repository) so that the clients it drives, Sarama,
// segmentio/kafka-go and confluent-kafka-go with its cgo librdkafka, are
// never downloaded by a module that imports Rewind's packages. The
// repository's go.work lists it: `go test work` from the root runs it, and
// `go test ./compat/` works from the root as from here. Package
// compat/sarama holds the Sarama tests that go beyond the matrix.
//
// Cells that fail are failures of the test unless listed, with the reason,
// in compat/known_failures.txt; listed cells still show as failing in the
// table with the exact symptom.
package compat
