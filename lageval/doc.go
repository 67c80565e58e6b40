// Package lageval judges consumer groups the way Burrow does: not by a lag
// threshold, but by how each partition's committed offset and lag moved over
// a sliding window of the group's last commits.
//
// # The window
//
// For every group and partition the window holds the last Config.Intervals
// commits (Burrow's storage "intervals", 10 by default), oldest first. Each
// Commit is the committed offset, the time of the commit and the lag at that
// moment (the partition's log end minus the offset, never negative, or
// unknown). A commit arriving less than Config.MinDistance after the previous
// one replaces it and keeps the earlier time (Burrow's "min-distance", 1 s), so
// a consumer committing many times a second does not flush its window. Append
// applies these rules; Recorder keeps the windows of every group for a broker.
//
// # The rules
//
// EvaluatePartition applies Burrow's evaluator (core/internal/evaluator) to one
// window, given the partition's current lag and its recent log-end offsets:
//
//   - no current lag: OK, whatever the window says;
//   - NEW (Rewind's, not Burrow's): a window of one commit, which spans no
//     time, is not judged: Burrow would call a group seeded by a reset
//     STALL at once and STOP a millisecond later;
//   - STOP: the time since the last commit is longer than the window spans
//     (first to last commit), unless a recent log-end offset shows the
//     consumer was caught up (the consumer stopped committing);
//   - if the lag was zero at any commit of the window: OK;
//   - REWIND: the committed offset went backwards inside the window;
//   - STALL: every commit of the window has the same offset (the consumer
//     commits but does not move);
//   - WARN: the lag never decreased from one commit to the next (the
//     consumer moves but falls behind);
//   - otherwise OK.
//
// A group's status is the worst of its partitions', with STOP, STALL and
// REWIND reported as ERR at group level, as Burrow reports them; NEW ranks
// below OK, and a group is NEW only when all its partitions are. Statuses
// carry Burrow's names (OK, WARN, ERR, STOP, STALL, REWIND, NOTFOUND) and,
// for Prometheus, burrow_exporter's numeric codes (Status.Code; NEW is OK's).
//
// # Lag, lag in time, and one way to judge
//
// Lag, FirstUnconsumed and LagTime are the only definitions of lag and lag
// in time: `rewind group describe` and `rewind lag`, the console and
// /metrics all compute them here. PartitionFrom turns a window and the log
// end now into EvaluatePartition's input, for the broker's Recorder and for
// the CLI, which rebuilds the window from __consumer_offsets. HumanDuration
// is the one printer of durations for people (LAG-TIME, the reasons).
//
// # Loss before it happens
//
// TimeToLoss forecasts when retention deletes the first record a group has
// not read, at the pace of the group (CommitRate over its window) and of
// the producers of its backlog: the first unread record's age against
// retention.ms, the unread bytes against retention.bytes; Lost is the loss
// that already happened (the committed offset below the log start).
// `rewind group describe`, `rewind lag`, the console and
// rewind_consumergroup_time_to_loss_seconds all forecast here.
//
// Everything here is a pure function of its arguments (the time of the
// evaluation included), except Recorder, a concurrency-safe map of windows.
package lageval
