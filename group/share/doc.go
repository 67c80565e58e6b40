// Package share holds the state of share groups (KIP-932, Kafka 4.x's
// queues): how the records of a topic partition are handed to the members
// of one share group and what became of each.
//
// A Partition is one share partition. Records below its start offset are
// finished; each offset from the start to the end offset is available,
// acquired by one member under a lock that expires, acknowledged or
// archived, with the number of times it was delivered; records from the
// end offset on have never been delivered. Members acquire whole record
// batches, acknowledge them (accept, release, reject, gap, renew), and a
// record released or expired DeliveryLimit times is archived rather than
// delivered again. The in-flight window is bounded (MaxInFlight), and a
// snapshot is what __share_group_state stores, so a restart keeps every
// delivery state but the locks.
//
// Like group/consumer the package is pure and clock-driven: time comes in
// as arguments and nothing here locks, reads a log or writes a file. A
// Coordinator holds the groups' membership: member epochs, the simple
// assignor's assignment and session timeouts, answering
// ShareGroupHeartbeat. The broker serves share groups from both
// (broker/share_groups.go).
package share
