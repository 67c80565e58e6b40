// Package catalog owns Rewind's topics: their names, ids, partition counts
// and config overrides under Kafka's config names (retention.ms,
// segment.bytes, cleanup.policy, max.message.bytes, ...), plus the
// cluster id and the producer-id reservation.
//
// Everything is kept in one small JSON file, catalog.json, in the data
// directory, rewritten atomically on every change (temp file, fsync,
// rename, fsync of the directory), so a crash leaves either the old or the
// new catalog, never a mix. The file carries a format version; version 1
// is the only one so far. Each save keeps the catalog it replaces as
// catalog.json.prev; an unusable catalog.json is recovered from it
// (reconciled with the partition directories under logs/) or, if that is
// unusable too, from the partition directories alone (names and partition
// counts; configs lost), and the recovery is logged (recover.go).
//
// The catalog validates what a real Kafka broker validates: topic names
// (1-249 characters of [a-zA-Z0-9._-], not "." or ".."), partition counts,
// and config names and values. Configs Rewind cannot honour are rejected
// with a clear message rather than silently ignored
// (remote.storage.enable=true). The configs of Kafka 4.4 that
// concern replication, tiered storage or compression levels, which a
// single node does not have or use, are accepted, validated with Kafka's bounds
// and described with Kafka's defaults, and do nothing (config_inert.go;
// README, Topic configs). cleanup.policy=compact is honoured by the broker's
// retention loop (Topic.Compaction, storage.Log.Compact), with
// delete.retention.ms, min.compaction.lag.ms, max.compaction.lag.ms and
// min.cleanable.dirty.ratio; one difference from Kafka: a record without a
// key is accepted on a compacted topic and kept.
package catalog
