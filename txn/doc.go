// Package txn is Rewind's transaction coordinator: the transactional id →
// producer id/epoch map, the state of each id's transaction, and the
// durable record of both in __transaction_state, after Apache Kafka 4.x's
// TransactionCoordinator and TransactionStateManager. It knows nothing of
// sockets or logs: the broker decodes a request, calls the method of the
// same API, and encodes the answer; the coordinator reaches the disk only
// through Store and the data partitions only through MarkerWriter.
//
// # Using it
//
//	c := txn.New(cfg, store, markers)  // store: __transaction_state; markers: the broker
//	for each record of __transaction_state, every partition, in offset order:
//	    c.Replay(partition, key, value)
//	    (a partition that cannot be read back: c.FencePartition(p, err))
//	c.Start()                          // resumes ends cut by a crash; starts the timers
//	pid, epoch, err := c.InitProducerID(ctx, id, timeoutMs, expected)
//	err = c.AddPartitions(ctx, id, pid, epoch, parts, tv)
//	pid, epoch, err = c.EndTxn(ctx, id, pid, epoch, commit, tv)
//	...
//	c.Close()
//
// Every call that changes state blocks until its record is durable (Store
// returns only then) and returns Kafka's error code as a *kerr.Error.
//
// # The state machine
//
//	          InitProducerId (bump epoch)
//	        +---------+
//	        v         |        AddPartitions / AddOffsets / TV2 produce
//	     +-------+ ---+--------------------------------+
//	     | Empty |                                     v
//	     +-------+                               +---------+ <-- more partitions
//	        ^                                    | Ongoing |
//	        | InitProducerId                     +---------+
//	        |                       EndTxn(commit) |   |  EndTxn(abort), timeout,
//	+----------------+  +---------------+          |   |  InitProducerId (epoch fence:
//	| CompleteCommit |<-| PrepareCommit |<---------+   |  PrepareEpochFence, bumped epoch)
//	+----------------+  +---------------+              v
//	        markers written             +--------------+   +---------------+
//	                                    | PrepareAbort |-->| CompleteAbort |
//	                                    +--------------+   +---------------+
//	Empty / Complete*: an id unused for transactional.id.expiration.ms is
//	Dead: a tombstone is written and the id forgotten.
//
// A transition is prepared under the coordinator's lock (the id is then
// "pending": any other request for it gets CONCURRENT_TRANSACTIONS), its
// record written outside the lock, and applied once durable; a failed
// write drops it and is answered NOT_COORDINATOR (the client finds the
// coordinator again and retries), as Kafka does. EndTxn is answered once
// PrepareCommit/PrepareAbort is durable; the markers are then written by
// MarkerWriter into every partition of the transaction (data partitions
// and the __consumer_offsets partition of each group added with
// AddOffsetsToTxn), retried until they succeed, and the Complete record
// follows. A coordinator stopped in between finds the Prepare record at
// the next start and writes the markers again (a marker written twice is
// harmless).
//
// # Rules (Kafka 4.4's, checked against it)
//
//   - transaction.timeout.ms must be in (0, transaction.max.timeout.ms]:
//     else INVALID_TRANSACTION_TIMEOUT. An empty id is INVALID_REQUEST.
//   - InitProducerId bumps the epoch, which fences older producers of the
//     id (PRODUCER_FENCED for them); once the epoch reaches 32766 a new
//     producer id is given. KIP-360: a producer naming its id and epoch
//     gets a bump; naming the epoch before the last bump is a retry and
//     gets the same answer. During a transaction the transaction is
//     aborted first with a bumped epoch (PrepareEpochFence) and the answer
//     is CONCURRENT_TRANSACTIONS; the retry gets the epoch after it.
//   - A transaction open longer than its timeout is aborted the same way
//     by a timer (every transaction.abort.timed.out.transaction.cleanup.interval.ms).
//   - Transaction version 2 (KIP-890 part 2, the finalized
//     transaction.version): a client's EndTxn v5 bumps the epoch at every
//     end and returns it; a retried end naming the epoch before the bump is
//     answered as the end it repeats; a TV2 client may abort a transaction
//     to which nothing was added (the epoch is bumped), but gets
//     INVALID_TXN_STATE committing one. Clients below EndTxn v5 keep one
//     epoch for the producer's life (TV1).
//   - A wrong producer id (or an unknown transactional id) is
//     INVALID_PRODUCER_ID_MAPPING, a stale epoch PRODUCER_FENCED, an end
//     that does not match the state INVALID_TXN_STATE, and a request during
//     a pending change or a Prepare state CONCURRENT_TRANSACTIONS.
//   - Verify (a transactional produce, KIP-890 part 1) answers
//     TRANSACTION_ABORTABLE for a partition that is not in the ongoing
//     transaction.
//
// # Format
//
// __transaction_state is Kafka's: see records.go for the key and value
// layout (kmsg.TxnMetadataKey, kmsg.TxnMetadataValue). The topic is
// compacted, so only each id's last record matters, and Start needs only
// the records in offset order.
package txn
