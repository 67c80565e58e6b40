// Package group is Rewind's consumer-group coordinator and committed-offset
// store. It implements Apache Kafka's classic group protocol (the one every
// Kafka client speaks: JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and the
// offset APIs (OffsetCommit, TxnOffsetCommit, OffsetFetch, OffsetDelete)
// plus the group admin APIs (DescribeGroups, ListGroups, DeleteGroups),
// and knows nothing of
// sockets: the broker decodes a request with kmsg, calls the Coordinator
// method of the same name, and encodes the returned response.
//
// # Using it
//
//	c := group.New(cfg, store)          // store: the broker's __consumer_offsets writer
//	for each record of __consumer_offsets, every partition, in offset order:
//	    c.Replay(partition, offset, key, value, timestamp)
//	    (a partition that cannot be read back: c.FencePartition(p, err))
//	c.Start()
//	...
//	c.LoadPartition(p, read)            // after a repair: serve it again
//	...
//	ctx = group.WithClient(ctx, clientID, "/"+ip) // who is asking (JoinGroup records it)
//	resp := c.JoinGroup(ctx, req)       // blocks until the rebalance completes
//	...
//	c.Close()
//
// Every handler takes a decoded request with Version set and returns the
// response for that version (the versions handled are listed at the top of
// join.go, membership.go, offsets.go and admin.go). JoinGroup and SyncGroup block (a member waits
// for the others) and return early when ctx is done, which the broker
// arranges when the client's connection closes. The group for a request is
// found by name; PartitionFor says which __consumer_offsets partition holds
// its records (FindCoordinator is the broker's business: one node).
//
// # The state machine
//
// Groups move through Kafka's states:
//
//	                a member joins
//	+-------+  ---------------------->  +--------------------+
//	| Empty |                           | PreparingRebalance | <------------+
//	+-------+  <----------------------  +--------------------+              |
//	    |       join phase ends with         | join phase ends:             |
//	    |       no members left              | every member rejoined, or    |
//	    |                                    | the rebalance timeout passed | a member joins,
//	    |                                    v                              | leaves, changes
//	    |                           +---------------------+                 | its metadata or
//	    |                           | CompletingRebalance | ----------------+ times out; the
//	    |                           +---------------------+                 | leader rejoins
//	    |                                    | leader's SyncGroup stored    |
//	    |                                    v                              |
//	    |                               +--------+                          |
//	    |                               | Stable | -------------------------+
//	    v                               +--------+
//	  Dead: deleted (DeleteGroups), or offsets expired; removed once the
//	  tombstones are durable
//
// Groups of Kafka 4's consumer protocol (KIP-848) are held by package
// group/consumer; this coordinator keeps their offsets, as an offsets-only
// group of the same id, and asks Config.Modern (modern.go) whether a
// member id and epoch may commit or fetch them, and about such groups in
// ListGroups, DescribeGroups and DeleteGroups.
//
// The rules, error codes and timers follow
// Kafka's GroupCoordinator (the pre-KIP-848 "classic" coordinator) closely;
// comments name the Kafka function a piece mirrors. In short:
//
//   - A group moving from Empty waits group.initial.rebalance.delay.ms
//     (Config.InitialRebalanceDelay, default 3 s; the broker's
//     --group-initial-rebalance-delay) for more members, extended by the
//     same delay while new members keep arriving, up to the rebalance
//     timeout. Later rebalances complete as soon as every known member has
//     rejoined, or after the largest member rebalance timeout, when dynamic
//     members that did not rejoin are dropped.
//   - The selected protocol is one every member supports, chosen by the
//     members' first preferences (INCONSISTENT_GROUP_PROTOCOL when a
//     joining member shares none with the group). The leader's JoinGroup
//     answer carries every member's metadata; the leader's SyncGroup carries
//     the assignments, which are persisted before anyone gets theirs.
//   - KIP-394: a dynamic member joining with JoinGroup v4+ and no member id
//     gets MEMBER_ID_REQUIRED and an id "clientId-uuid"; it is pending until
//     it joins again with that id, or its session timeout passes.
//   - KIP-345 static members (group instance id): a known instance joining
//     with no member id replaces its old id; in a Stable group whose
//     selected protocol does not change it gets its assignment back without
//     a rebalance. Requests naming the instance with the old id get
//     FENCED_INSTANCE_ID. Static members that miss a rebalance stay in the
//     group until their session expires.
//   - Liveness: Heartbeat, SyncGroup and OffsetCommit restart a member's
//     session timer; members waiting in a rebalance are bounded by the
//     rebalance timeout instead, and members that got their JoinGroup answer
//     must send SyncGroup within it.
//
// # Offsets and __consumer_offsets
//
// Commits, group metadata and deletions are written through Store.Append to
// the internal __consumer_offsets topic in Kafka's own record formats, so
// that tools reading the topic directly (Burrow does) work unchanged:
//
//	key                                       value
//	OffsetCommitKey v1  {group,topic,part}    OffsetCommitValue v3 {offset, leader epoch, metadata, commit ts}
//	                                          (v1 {.., commit ts, expire ts} when the commit set a retention)
//	GroupMetadataKey v2 {group}               GroupMetadataValue v3 {protocol type, generation, protocol,
//	                                          leader, state ts, members{id, instance, client, host,
//	                                          timeouts, subscription, assignment}}
//	either key                                nil: tombstone
//
// Transactional offset commits (TxnOffsetCommit, txn.go) are written at
// once with Store.AppendTxn, as OffsetCommit records in a transactional
// batch carrying the producer id and epoch, exactly as Kafka's
// coordinator writes them, and stay pending per (group, producer id)
// until the transaction's marker, a control record the coordinator
// appends itself (CompleteTxn, Store.AppendMarker) in order with the
// group's other writes:
//
//	offset N    OffsetCommit g/t/0=10   batch: producer 7, epoch 0, transactional
//	offset N+1  OffsetCommit g/t/0=12   plain batch (a commit outside the transaction)
//	offset N+2  COMMIT marker           control batch: producer 7, epoch 0
//
// Once the marker is durable a commit applies the offsets, an abort drops
// them; an offset is applied only where no later record (N+1 above) has
// replaced it, as Kafka compares record offsets. Until then OffsetFetch
// does not answer them, RequireStable fetches answer UNSTABLE_OFFSET_COMMIT
// for their partitions, those partitions do not expire and the group is
// not removed; OffsetDelete, DeleteGroups and a deleted topic tombstone
// them as committed ones (Kafka's OffsetMetadataManager). Replay
// (ReplayBatch, given each record's batch) treats the log as Kafka's
// loader does: offsets of a transaction whose marker is not in the log (open
// at a crash) come back pending, and the marker written after the restart
// applies them.
//
// Package offsetsfmt owns this format for readers: Replay decodes through
// it, as offsettool does against any cluster, and PartitionFor is its hash.
//
// # Events
//
// What the coordinator applies reaches Config.Observers as typed events
// (events.go): CommitApplied (Transactional for an offset a commit marker
// applied), OffsetsDeleted (OffsetDelete, DeleteGroups, expiry, a deleted
// topic), StateChanged, MemberJoined, MemberLeft, TxnOffsetPending (a
// transactional offset written, pending) and TxnEnded (its marker). The
// broker's lag recorder and /metrics are fed by them instead of decoding
// the records the coordinator has just encoded. They are delivered
// synchronously after the in-memory apply, with the group's lock held: in
// order per group, seen before the request that caused them is answered,
// and observers must be quick. Replay publishes every commit and offset
// tombstone it reads (Replayed set), so a lag window rebuilt at start-up is
// the one a broker that never stopped would hold; membership and state are
// read from the coordinator after Start, not replayed as events.
//
// A commit is acknowledged only once its write is durable. Records are
// appended (Store.Append) under the group's lock, so a group's records
// reach the log in the order its state changed, and waited for
// (Pending.Wait) after the lock is released: heartbeats, joins and other
// commits of the group are served while the disk syncs, and commits in
// flight share one fsync. What a write changes is applied when it is
// durable, in append order (write.go): a commit is pending until then, as
// in Kafka, and OffsetFetch does not see it before (RequireStable waits
// for it); a failed write is answered with its error and not applied; the
// leader's assignment reaches the members once durable. Group metadata
// is written when a rebalance completes (the leader's assignment), when the
// group becomes Empty, and when a static member replaces its id, exactly as
// Kafka writes it. Replay at start-up rebuilds committed offsets, generations
// and protocols, and (as Kafka does after a coordinator move) the members
// of the last stored generation with their assignments: they carry on if
// they heartbeat within their session timeout, and are dropped otherwise.
// This holds for static members as well, so a restarted broker gives a
// static member that comes back in time its old assignment.
//
// Store's promises (append order, durability as a prefix of it, the errors
// of an oversized batch, a full disk, a fenced partition, I/O errors and
// abandoned waits) are one contract suite, group/storetest, run against the
// fake of this package's tests and against the broker's store, so that the
// fake cannot promise what the broker does not do.
//
// A fenced partition (FencePartition: its records could not be read back)
// holds no group: requests for a group hashed to it answer NOT_COORDINATOR,
// as Kafka's coordinator does for a partition whose load failed, while
// every other partition is served (fence.go).
//
// Offsets expire (KIP-211) offsets.retention.minutes after the group became
// Empty, or after their last commit for offset-only groups (no protocol
// type; for a consumer-protocol group's offsets, only the topics none of
// its members subscribes to, asked through Config.Modern's ModernExpiry)
// and for topics a Stable consumer group no longer subscribes to;
// commits made with an explicit retention (OffsetCommit v1-v4) expire when
// it says. Expiry runs every offsets.retention.check.interval.ms and writes
// tombstones; an Empty group left without offsets is removed. Every
// deletion (OffsetDelete, DeleteGroups, expiry) applies in memory once its
// tombstones are durable, and not if their write fails (write.go), as
// Kafka 4.x's coordinator applies a write's records to what readers see
// when the write commits and reverts them when it fails.
//
// # History
//
// Every commit keeps its timestamp. A position replaced by a later commit
// (or deleted) stays in memory for Config.HistoryRetention after it was
// replaced, so History lists where the group's positions moved and
// CommittedAt answers "where did this group stand at time T". Re-commits
// of an unchanged position (idle consumers auto-commit every few seconds)
// extend one entry instead of adding one, and Config.HistoryMaxPerPartition
// bounds the memory by thinning the oldest entries, conservatively: a
// thinned answer is a position the group held at or before the time asked.
// History survives restarts as far as __consumer_offsets still holds the
// superseded records: the broker's compaction keeps each one while it, or
// the record that replaced it, is younger than the same HistoryRetention
// (storage.CompactPolicy), which is at least as long.
//
// # Where Rewind differs from Kafka, on purpose
//
//   - A JoinGroup v0-v3 with no member id whose client disconnects while
//     it waits is dropped at once: it can never learn its generated id.
//     Kafka cannot see the disconnect and keeps it for up to 5 minutes.
//   - A second JoinGroup or SyncGroup for a member that already waits
//     answers the first with REBALANCE_IN_PROGRESS (Kafka drops the first
//     callback), so the first connection is not stuck.
//   - An Empty group with a KIP-394 pending member is not removed by the
//     expiry pass until that member joins or expires.
//   - Protocol-vote ties go to the longest-standing member's preference
//     (Kafka leaves them to hash order).
//
// # Concurrency and time
//
// Each group has its own mutex; the coordinator's map lock is held only to
// find a group, never while waiting for one. Blocking handlers wait on a
// channel outside any lock. Every timer runs on an internal scheduler that
// measures deadlines with Config.Now, so tests drive session and rebalance
// timeouts with a fake clock instead of sleeping.
package group
