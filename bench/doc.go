// Package bench is `rewind bench`: a load generator and scenario runner
// that measures Rewind against franz-go's in-memory kfake cluster and
// Apache Kafka in the same run, next to the limits of the machine it runs
// on.
//
// The machines Rewind is developed on are small (two cores), shared and
// noisy, so no figure is meaningful alone. Every figure is measured on
// Rewind and on kfake alternately (A B A B, Config.Rounds times, each on a
// freshly started broker and data directory) and reported as medians with
// their ratio. Next to them:
//
//   - the machine's limits, measured in the same run, at its start and
//     end: one loopback TCP connection (the bound of a one-connection
//     consumer) and sequential writes with one fdatasync at the end, as
//     `dd conv=fdatasync` does, in the data directory (the bound of
//     produce with --fsync=always);
//   - the client ceiling: the same load against a kfake that does no work
//     (BlackholeProduce answers produce requests without storing,
//     SyntheticFetch answers fetches from one canned batch). Client and
//     broker share the two cores, so this is the most any broker could
//     reach with these franz-go clients here;
//   - the share of the CPU used outside the bench process while measuring
//     (a neighbour's job, kernel page writeback).
//
// Load: franz-go kgo clients, values of random bytes (incompressible),
// compression off unless asked (kgo compresses with snappy by default),
// acks=all. Record values are slices of one random buffer and kgo.Records
// are pooled, so the generator itself allocates nothing per record.
//
// Scenarios (Config.Scenarios):
//
//	limits   loopback TCP and fdatasync write bandwidth
//	produce  1 KiB and 100 B records, 1 and 8 partitions, fsync always and never
//	consume  cold: everything from the log start after a broker restart
//	         (data on disk, in the page cache); tailing: consumers keeping up
//	         with producers
//	tls      produce and cold consume on one Rewind over PLAINTEXT and over
//	         an SSL listener (TLS), alternating, fsync=never (tls.go)
//	latency  end to end (due time to poll) at a fixed rate, p50/p99/p999,
//	         counting from when each record was due, not sent
//	groups   time from the last member's start to a settled assignment, for
//	         each group size, initial rebalance delay 0; then one more
//	         member joining a settled group of --rejoin-size, with the
//	         classic and the consumer protocol, and the records polled
//	         again across that join (rejoin.go: why the consumer
//	         protocol's figure is one heartbeat interval at least, and the
//	         interval every broker of the run gets, 100 ms by default)
//	commits  simple offset commits per second and their p99 latency, from 4
//	         and from 64 clients each committing to its own group, fsync
//	         always; the machine's fsync latency (512 B append + fdatasync,
//	         median and mean) and the fdatasync rate of 64 files in parallel
//	         are measured in the same run: 4 committers aim at 80% of 4 ÷ the
//	         median, 64 at kfake's rate; beside them, the bound 4 committers
//	         can reach on the machine, 4 ÷ (the fsync + kfake's time per
//	         commit), since each waits for its own commit's round trip too;
//	         and for each broker the machine's CPU per commit (clients,
//	         broker and kernel together, since Rewind runs in this process)
//	         and its cores busy, which show whether a run was bound by CPU
//	txn      transactions per second (10 records of 100 B over 4
//	         partitions each, committed, fsync always) with their p99, and
//	         read_committed consume of data written in transactions of 100
//	         records, one in ten aborted (see txn.go)
//	startup  start-to-ready with many partitions on disk after a clean
//	         shutdown: broker.New to the first Metadata answer listing them
//	         (Rewind in this process; kfake with its DataDir persistence,
//	         from kfake.NewCluster inside its process to that answer)
//	rss      the broker's resident memory, in a child process (rewind
//	         serve; kfakepeer), idle and at its peak while consumers read
//	         all stored data back; kfake holds every byte in memory, so it
//	         is measured up to 1 GiB
//	follow   the broker's CPU while one consumer follows many quiet
//	         partitions (follow.go)
//	recompress  1 KiB text records in lz4 batches to a topic stored as
//	         sent (compression.type=producer) and to one the broker
//	         recompresses (zstd): throughput and broker CPU per MB, Rewind
//	         (rewind serve) and Kafka only (recompress.go)
//
// Rewind runs in this process unless Config.Brokers names a running
// cluster; then the scenarios that start and stop brokers are skipped.
//
// # kfake runs in a program of its own
//
// The rewind binary does not link kfake (`go list -deps ./cmd/rewind`
// names no kfake package). kfake runs in child processes of the kfakepeer
// program, bench/kfakepeer, a Go module of its own, one process per
// measurement (a fresh cluster each time, as Rewind gets a fresh broker).
// Config.Kfake (--kfake) names the program; when it is empty the bench
// looks for rewind-kfakepeer next to the rewind binary and on PATH, then,
// when the current directory is inside a Rewind source tree and the go
// command is installed (as with `go run ./cmd/rewind bench`), builds
// bench/kfakepeer once per run into its temporary directory. With none of
// these (a rewind binary on a machine without Go) or with --kfake off, the
// run measures Rewind alone: the kfake, ratio and client-ceiling columns
// stay empty, and the report's first lines and its JSON field "kfake" say
// why. Build the peer by hand with
//
//	cd bench/kfakepeer && go build -o rewind-kfakepeer .
//
// and put it next to rewind, or pass --kfake PATH.
//
// # Apache Kafka
//
// Config.Kafka (--kafka auto|off|PATH) starts one single-node KRaft Kafka
// with .ci/kafka.sh (of the source tree, or the script PATH names) for the
// whole run, warms its JVM up, and measures it in every scenario with the
// same load: columns "Kafka" and "x Kafka" (Rewind ÷ Kafka). Where
// durability matters (fsync=always produce, latency, commits) it is
// measured a second time like for like, log.flush.interval.messages=1
// (set as a dynamic cluster default, which also covers __consumer_offsets):
// columns "Kafka flush=1" and "x Kafka flush=1". Each measurement uses its
// own topics and groups, deleted afterwards; cold consume reads Kafka's
// data without a restart (it is in the page cache, as it is for Rewind
// after its restart). Start-to-ready restarts the JVM on its data, timed
// from the exec; RSS is the JVM's, from /proc. Config.KafkaBootstrap
// (--kafka-bootstrap) measures a running Kafka as it is configured, with
// neither the like-for-like runs nor start-to-ready and RSS. When the
// script reports a missing prerequisite (no Java 17, no Maven) the Kafka
// columns stay empty and Report.Kafka says why. See kafka.go.
package bench
