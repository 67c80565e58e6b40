// Package consumer is the core of Kafka 4's consumer group protocol
// (KIP-848, group.protocol=consumer): the ConsumerGroupHeartbeat state
// machine of Kafka 4.4's GroupMetadataManager and CurrentAssignmentBuilder,
// as pure code. Time comes in as an argument, results go out as a
// response and the __consumer_offsets records to write (Kafka 4.x's own
// consumer-group record types, encoded by offsetsfmt); it has no
// goroutines, locks, sockets or files, so the broker decides where to
// lock, append and wait, and golden scripts can drive it step by step.
//
// # Using it
//
//	c := consumer.NewCoordinator(consumer.Config{SessionTimeout: 45 * time.Second})
//	resp, records := c.Heartbeat(now, consumer.Client{ID: clientID, Host: "/" + ip}, req, topics)
//	// append records, wait for them to be durable, then send resp
//	...
//	fenced, records := c.Tick(now) // at c.NextDeadline(): session and rebalance timeouts
//
// At start, every record of __consumer_offsets goes to c.Replay(key,
// value) in log order (other record types are ignored), then c.Loaded(now)
// starts the members' session timers: the records a coordinator wrote
// rebuild its groups exactly, and those Kafka 4.4 writes load too.
//
// # The protocol
//
// A group has a group epoch, bumped by every change of membership,
// subscription, preferred assignor or subscribed topics' partitions, and
// a target assignment computed for an epoch by the group's assignor
// (group/assign: the assignor most members name, else the first of
// group.consumer.assignors). Each member moves towards its target on its
// own heartbeats, with its own member epoch:
//
//	          new target epoch                      owned ∩ target only
//	Stable ───────────────────▶ UnrevokedPartitions ─────────────────▶ (target epoch)
//	  ▲        must give up          (epoch held;                       │
//	  │        partitions            rebalance timeout runs)            │
//	  │                                                                 ▼
//	  └─────────────── all free ◀──────── UnreleasedPartitions ◀── some targeted
//	                                      (waits for their owner)      partitions
//	                                                                   still owned
//
// A target is computed at most once per group.consumer.assignment.interval.ms
// (Kafka 4.4: 1 s): an epoch bumped sooner is assigned by the first
// heartbeat after the interval, members reconciling to the previous
// target meanwhile (the group is Assigning); a group starts at epoch 1,
// so its first member joins at epoch 2, as on Kafka.
//
// A partition is given to its new owner only once no other member holds
// it, assigned or pending revocation: the previous owner acknowledges the
// revocation by leaving it out of its owned partitions in a heartbeat.
// A member that does not revoke within its rebalance timeout, or does not
// heartbeat within group.consumer.session.timeout.ms, is fenced: removed,
// its partitions freed, the group epoch bumped.
//
// Heartbeats are checked as Kafka checks them, with its error codes and
// messages: request validation (INVALID_REQUEST; UNSUPPORTED_ASSIGNOR),
// GROUP_ID_NOT_FOUND for a group that does not exist unless joining,
// GROUP_MAX_SIZE_REACHED (group.consumer.max.size), UNKNOWN_MEMBER_ID,
// FENCED_MEMBER_EPOCH (a member may come back with its previous epoch if
// it owns a subset of its assignment: the response that moved it on was
// lost), INVALID_REGULAR_EXPRESSION (regexes are RE2, as Kafka's RE2/J,
// matched against whole topic names). Static members (group.instance.id):
// epoch -2 leaves for a restart keeping the partitions and the instance
// id; a join with that instance id and a new member id takes the member
// over without a rebalance; while the instance is in use, another join is
// UNRELEASED_INSTANCE_ID; the old member id is FENCED_INSTANCE_ID; an
// instance that does not come back is fenced by its session timeout.
//
// # Differences from Kafka
//
// Kafka resolves regex subscriptions asynchronously and refreshes topic
// metadata on an interval; here both happen on the heartbeat that sees a
// new Topics.Version, so a new matching topic or partition is assigned one
// heartbeat sooner. With a DescribeFilter (the broker's ACLs) a regex
// resolves only to the topics the resolving heartbeat's principal may
// DESCRIBE, and an ACL change moves Topics.Version. MetadataHash is an FNV-1a over names, ids and
// partition counts (Kafka: xxhash including racks); only the group's own
// comparison uses it.
//
// # Tests
//
// test/differential's TestConsumerGroupHeartbeat sends the same heartbeats
// to Apache Kafka 4.4 and to Rewind (joins, every validation error,
// unknown groups and members, fenced epochs, static instance ids, a second
// member through revocation and release, a static leave and replacement,
// a leave, then ConsumerGroupDescribe): the answers are identical.
//
// testdata/*.txt are golden scripts (go test -run TestScripts -rewrite to
// regenerate; review the diff): reconciliation with revocation, lost
// responses, fencing, leaves, topic growth, static membership, session and
// rebalance timeouts, every validation error, regex subscriptions.
// TestNoPartitionOwnedTwice drives random churn with clients that revoke
// late and checks that no partition is ever owned by two clients and that
// the group settles on its target. After every script and every churn the
// records written are replayed into a new coordinator, which must hold
// the same groups (checkReplay); TestReplayKafkaRecords loads the records
// Kafka 4.4 wrote (offsetsfmt's golden capture).
//
// The broker serves it as ConsumerGroupHeartbeat and ConsumerGroupDescribe
// (broker/68_*.go, 69_*.go), appending every change's records to
// __consumer_offsets as one batch under its lock, undoing a change whose
// append fails (Snapshot, Restore), answering once the batch is durable,
// and replaying the log at start (broker/consumer_groups.go). The offsets of these groups are
// kept by package group's offsets store; Group.ValidateOffsetCommit and
// ValidateOffsetFetch (offsets.go) decide, by member id and member epoch,
// who may commit and fetch them.
//
// # Classic members and the migration between protocols
//
// classic.go serves a consumer group's members that still speak the
// classic protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), as
// Kafka 4's classicGroup*ToConsumerGroup: a JoinGroup is handled as a
// heartbeat of that member (its owned partitions from its subscription)
// and answered at once, with no leader; SyncGroup hands out what the
// member owns; REBALANCE_IN_PROGRESS tells it to rejoin. migrate.go is
// the online upgrade (HeartbeatFrom: the first consumer-protocol join to
// a classic group with members converts it) and downgrade (Downgrade:
// the last consumer-protocol member gone, the classic members go back to
// a classic group), under group.consumer.migration.policy. The classic
// coordinator's side is package group's migrate.go; the broker writes a
// conversion's records in one batch (broker/consumer_groups_classic.go).
package consumer
