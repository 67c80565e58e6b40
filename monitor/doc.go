// Package monitor is `rewind monitor`: the console, /api/v1 and /metrics of
// `rewind serve --http` for any Kafka cluster, reached only through the
// wire protocol (franz-go). A Monitor implements admin.Broker, so package
// admin serves it with the same handlers as a broker's own listener.
//
// What it reads, and how:
//
//   - __consumer_offsets, as a consumer from its start (as Burrow does),
//     read_committed, decoded with package offsetsfmt: every commit moves
//     a group's position on a partition (the previous one goes to the
//     history) and feeds its Burrow window (lageval.Recorder); tombstones
//     delete positions. Classic and consumer (KIP-848) groups alike.
//   - every poll (Config.Poll, 10 s by default): Metadata, the log start
//     and end offsets of every partition (ListOffsets), ListGroups and
//     DescribeGroups / ConsumerGroupDescribe. A poll builds a new view of
//     the cluster and swaps it in whole.
//   - lag in time: the age of the first record a group has not read,
//     dated by one small Fetch per lagging position (cached while the
//     group stays there); the lag of commits replayed from the past comes
//     from ListOffsets by time (the log end at the commit's time).
//
// A commit read as it happens is judged against the log end of the last
// poll, as Burrow judges against its broker offsets; one replayed after a
// restart of the monitor gets its lag from the time index.
//
// The state file (Config.StatePath) keeps each group partition's
// history and window beyond what compaction leaves in
// __consumer_offsets: it is read at start, then __consumer_offsets is
// replayed over it (records older than what the file holds change
// nothing), and it is saved atomically every StateEvery and at Close.
//
// Broker restarts, leadership and coordinator moves are kgo's to survive:
// the consumer and every request find the new leader; a poll that fails
// keeps the last view and makes Ready (and /readyz) say why.
package monitor
