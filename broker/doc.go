// Package broker is a Rewind node: one Kafka-wire-compatible broker that
// owns a data directory, serves the Kafka protocol on a TCP listener and
// answers for every topic, partition and consumer group in it. `rewind
// serve` is a thin command around it, rewindtest starts one per test, and a
// Go program can embed one:
//
//	b, err := broker.New(broker.WithDataDir(dir), broker.WithListen("127.0.0.1:0"))
//	if err != nil { ... }
//	if err := b.Start(); err != nil { ... }
//	defer b.Close()
//	// clients connect to b.Addr()
//
// # Main types
//
//   - Broker: the node. New binds the listener first (so a start that
//     cannot listen touches nothing), takes the data directory's lock
//     (DataDirLock: one process per directory), opens the registry (the
//     catalog and every partition log, package storage) and the group
//     coordinator (package group, which replays __consumer_offsets), and
//     returns a broker whose listener queues connections until Start.
//     Close stops accepting, closes every connection, and closes every log
//     cleanly so the next start skips recovery.
//   - registry (registry.go, registry_change.go): the catalog and the open
//     partition logs with their lifecycle (create, add partitions, delete,
//     set configs, close), each change opening its logs outside any shared
//     lock, committing the catalog, then publishing; retention and
//     compaction are scheduled over its logs, per partition, by bounded
//     workers (maintenance.go). Handlers, metrics and the inspection API
//     find topics and logs through it.
//   - Config and Option: everything a Broker starts with (below).
//   - conn (conn.go): one client connection with its read loop and its
//     response writer.
//   - listeners and security (listeners.go, tlsconf.go, security.go,
//     credentials.go): Config.Listeners binds one listener per Kafka
//     security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), each
//     advertising its own address; TLS from PEM files, reloaded without
//     dropping connections; SASL PLAIN and SCRAM against the salted
//     credentials of DataDir/security/credentials.json (SetUserPassword);
//     OAUTHBEARER (oauth.go, oauth_jwks.go) with Config.OAuthBearer's
//     validator, unsecured JWTs or a JWKS. A SASL connection is served
//     nothing but the SASL sequence until it is authenticated (conn.gate);
//     a session with an end (a token's exp, Config.ConnectionsMaxReauth)
//     re-authenticates on the open connection or is closed at its next
//     request after the end (reauth.go, KIP-368). Authorization (acl.go, acl_checks*.go)
//     is on when Config.Authorizer names the standard authorizer (package
//     acl, ACLs in DataDir/security/acls.json): every request then passes
//     its API's check, the one Kafka's KafkaApis makes, before its handler
//     runs (authorizeAndServe), which answers or trims what the principal
//     may not do, so handlers never see it; the ACL and SCRAM credential
//     APIs (29-31, 50-51) manage both files.
//   - client quotas (quotas.go, quota_rate.go, quota_conn.go,
//     quota_mutation.go): the entities and keys DescribeClientQuotas and
//     AlterClientQuotas (48-49) list and change, kept in
//     DataDir/client-quotas.json, and their enforcement as Kafka's quota
//     managers: each request charged after its handler (Produce bytes,
//     Fetch record bytes, handler time, accepted connections per ip) or,
//     for the partitions CreateTopics, CreatePartitions and DeleteTopics
//     create or delete, by the handler topic by topic (refusing a topic
//     past a strict controller mutation quota), a throttled one answered
//     at once with its throttle time and its connection muted for it
//     (KIP-219).
//   - the handlers, one file per Kafka API named by its key (00_produce.go,
//     01_fetch.go, ...; the group APIs in groups.go), each registered with
//     the version range its code handles (apis.go), from which ApiVersions
//     is built: the broker never advertises a version nobody wrote.
//   - the inspection API used by the admin listener and the CLI in process
//     (inspect.go: Topics, Coordinator, ReadRecords, LagStatus, Ready),
//     Metrics (a Prometheus gatherer, metrics.go) and RepairPartition
//     (online repair of a fenced partition, repair.go; RepairOffline for a
//     stopped broker).
//
// # How a request flows
//
// The accept loop hands each connection to a conn. Its read loop waits
// for a frame within --connections-max-idle, takes an --max-in-flight
// token, reads the frame within --request-read-timeout while reserving its
// bytes (and, for large frames, what decoding them costs: decodemem.go,
// produceskim.go) in --max-request-memory, decodes it with kmsg, checks the
// API and version, and calls the handler. A handler answers at once, or
// returns a deferred reply when it must wait: a Fetch long poll, a
// JoinGroup or SyncGroup waiting for the rebalance, an OffsetCommit
// waiting until it is durable (reply.later, run on a kept worker
// goroutine: workers.go), or a Produce waiting for its fsync
// (reply.async, completed by the syncer of the last of its logs to become
// durable, storage.Log.OnDurable, so that no goroutine waits for it).
// The read loop goes on with the next request meanwhile, so effects happen
// in the order the client sent its requests while waits overlap (one
// fsync covers every produce waiting on a log). The writer goroutine
// writes responses strictly in request order, as the protocol requires,
// within --response-write-timeout; fetched record data goes to the socket
// with sendfile where it can (sendfile.go), counted in --max-fetch-memory
// until written, and a response that grows with its request reserves an
// upper bound of its size in --max-response-memory before it is built.
//
// Produce appends each partition's batches to its storage.Log (which
// validates and, for compressed batches, bounds decompression) and
// acknowledges per --fsync. Fetch and ListOffsets read the logs. Group and
// offset APIs are adapted to group.Coordinator, whose store is the
// __consumer_offsets topic in Kafka's own record format; Kafka 4's
// consumer protocol (ConsumerGroupHeartbeat, ConsumerGroupDescribe) is
// adapted to group/consumer, whose records are written to the same
// topic and replayed at start (consumer_groups.go). Topic changes
// (CreateTopics, CreatePartitions, DeleteTopics, config changes) go
// through the registry, one change of a topic at a time; a full disk makes
// the broker read-only (diskspace.go) until space returns.
//
// # Configuration
//
// New(opts ...Option) starts from DefaultConfig and applies each Option in
// order: the With* functions for the common settings (WithListen,
// WithDataDir, WithFsync, WithLogger, WithAutoCreateTopics, ...) and
// WithConfig, or an Option of your own (func(*Config)), for the rest. Each
// Config field is documented where it is declared; `rewind serve` binds
// one flag (and REWIND_* environment variable) to each, and the README's
// flag table and Durability section state the limits and what happens at
// each. Zero values of the limits mean unlimited unless the field says
// otherwise.
//
// # Concurrency
//
// Every exported method of Broker is safe for concurrent use. Each
// connection has its own read loop and writer goroutine, and deferred
// replies run in goroutines of their own; everything they share is
// guarded: the registry's topic map by its mu (read-locked on the request
// path, locked only to swap an immutable entry, never across I/O), changes
// of one topic by a per-name lock (partitions.go), each partition log by its own locks (package storage),
// each group by the coordinator's per-group lock, and the memory pools,
// rate-limited logs and metrics by their own. Background goroutines
// (accept loop, retention and compaction, the disk-space check) stop at
// Close, which waits for them and for every connection.
package broker
