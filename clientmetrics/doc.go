// Package clientmetrics is Rewind's receiver of client telemetry
// (KIP-714): the client metrics subscriptions operators set as
// CLIENT_METRICS config resources (kafka-client-metrics.sh,
// kafka-configs.sh --entity-type client-metrics, IncrementalAlterConfigs),
// stored durably in the data directory; the client instances that ask for
// them with GetTelemetrySubscriptions; and the OTLP metrics they push with
// PushTelemetry, decoded and kept (latest value per series, bounded) so
// that /metrics and the console can show what each client reports about
// itself: its fetch latency, its own view of its lag, its request rates.
//
// The subscription rules, the error codes and their messages follow
// Apache Kafka's ClientMetricsManager, as a Kafka broker with a client
// telemetry receiver configured behaves. Without a subscription that
// matches a client, the client is told to push nothing.
//
// Bounds: a push is at most telemetry.max.bytes compressed (1 MiB by
// default) and decompresses to at most 8 MiB; at most MaxInstances
// instances are remembered (the least recently seen is forgotten first)
// and MaxSeries series per instance (further ones are counted as dropped).
package clientmetrics
