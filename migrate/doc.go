// Package migrate moves topics, their records and every consumer group's
// committed position from one Kafka cluster (typically a Rewind broker) to
// another (typically Apache Kafka), so that each group resumes on the
// target at the same record it would have read next on the source.
//
// The work happens in four steps:
//
//   - Plan reads the source: topics (partitions and dynamic configs), the
//     bounds of every partition, groups with their state and committed
//     offsets, and what already exists on the target. Nothing is written.
//   - Execute refuses while a selected group has members on the source (its
//     position could still move) or a moved partition has an open
//     transaction (read_committed stops at it), creates the topics on the
//     target, copies every partition's records in order (key, value,
//     headers, timestamp; read_committed, so aborted transactions and
//     control records are not copied), reads the groups again (one that
//     moved during the copy stops the run: ErrGroupsChanged), and commits
//     each group's offsets on the target translated record by record: a
//     committed offset c on the source becomes the target offset of the
//     first copied record at or after c. Offsets differ whenever the source
//     log does not start at 0, compaction removed records, or transactions
//     left control records. An offset in records an earlier run copied is
//     translated by reading the source again from it.
//   - The copy is resumable: a state file records, per partition, how far
//     the copy has been acknowledged by the target. After an interruption
//     the records the target holds past that point were written by the
//     interrupted run after its last save: each is compared with the
//     source's next record and skipped, not written twice. One that differs
//     (a write that failed while later ones succeeded left a gap) stops the
//     run with ErrTargetNotEmpty.
//   - Runs catch up: a run after a finished one, with the same state file,
//     copies only the records produced since (from each partition's
//     SourceNext to its new last stable offset), and commits again only
//     the groups whose source offsets moved since the run that committed
//     them, and only if their offsets on the target are still the ones
//     committed then (else the group consumes on the target already:
//     ErrGroupMovedOnTarget). Options.RecordsOnly copies and moves no
//     group, so it runs while the source is in use (groups active,
//     transactions open: it stops at the last stable offset); the last
//     run, consumers stopped, copies the rest and moves the groups.
//   - Verify reads both sides again and compares per partition the record
//     count and a SHA-256 of every record's key, value, headers and
//     timestamp, and per group that its next record is the same on both
//     sides.
//
// The target topics must be new or empty: records already there would
// make the translation ambiguous. A topic the migration creates gets the
// source's effective retention.ms and retention.bytes (a broker default
// included); one that exists keeps its own. Either way the plan says what
// the target keeps, and Execute refuses (ErrRetention) when it would
// delete copied records at once: Kafka deletes every segment whose newest
// timestamp is older than retention.ms, the active one included, and the
// copy keeps the source's timestamps (see Retention).
package migrate
