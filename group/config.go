package group

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Config holds the coordinator's settings. Field comments give the Apache
// Kafka broker setting each one mirrors; DefaultConfig returns Kafka's
// defaults.
type Config struct {
	InitialRebalanceDelay  time.Duration // group.initial.rebalance.delay.ms, default 3s
	MinSessionTimeout      time.Duration // group.min.session.timeout.ms, default 6s
	MaxSessionTimeout      time.Duration // group.max.session.timeout.ms, default 30m
	MaxGroupSize           int           // group.max.size, default unlimited (0)
	OffsetsRetention       time.Duration // offsets.retention.minutes, default 7 days (KIP-211)
	OffsetsRetentionCheck  time.Duration // offsets.retention.check.interval.ms, default 10m
	OffsetMetadataMaxBytes int           // offset.metadata.max.bytes, default 4096
	OffsetsTopicPartitions int32         // offsets.topic.num.partitions, default 50
	// HistoryRetention (--offsets-history-retention, default 7 days) is how
	// long a superseded commit stays visible through History and CommittedAt
	// after the commit that replaced it.
	HistoryRetention time.Duration
	// HistoryMaxPerPartition caps the superseded commits kept per group
	// and partition (default 2048). Beyond it the oldest half of the
	// history is thinned by dropping every other entry, so older times
	// are answered at a coarser resolution, always with a position the
	// group had committed at or before the time asked (rewinding there
	// re-reads rather than skips records).
	HistoryMaxPerPartition int
	// NewMemberJoinTimeout bounds how long a member that joined for the
	// first time may wait in a rebalance before it is dropped (Kafka's
	// GroupCoordinator.NewMemberJoinTimeoutMs, 5 minutes, not configurable
	// there).
	NewMemberJoinTimeout time.Duration
	// Now is the clock; every timer (session, rebalance, initial delay,
	// offset expiry) is measured against it. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// TopicPartitionExists reports whether topic/partition exists
	// (OffsetCommit and OffsetDelete answer UNKNOWN_TOPIC_OR_PARTITION
	// otherwise, as Kafka does). nil = everything exists.
	TopicPartitionExists func(topic string, partition int32) bool
	// Observers are told of every change the coordinator applies, as typed
	// events, on the applying goroutine with the group's lock held: they
	// must be quick and must not call the Coordinator (events.go).
	Observers []Observer
	// Modern, if set, is asked whether a group id belongs to a
	// consumer-protocol group (KIP-848) and validates the member id and
	// epoch of that group's OffsetCommit and OffsetFetch (modern.go).
	Modern ModernGroups
}

// DefaultConfig returns Apache Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		InitialRebalanceDelay:  3 * time.Second,
		MinSessionTimeout:      6 * time.Second,
		MaxSessionTimeout:      30 * time.Minute,
		MaxGroupSize:           0,
		OffsetsRetention:       7 * 24 * time.Hour,
		OffsetsRetentionCheck:  10 * time.Minute,
		OffsetMetadataMaxBytes: 4096,
		OffsetsTopicPartitions: 50,
		HistoryRetention:       7 * 24 * time.Hour,
		HistoryMaxPerPartition: 2048,
		NewMemberJoinTimeout:   5 * time.Minute,
		Now:                    time.Now,
	}
}

// withDefaults fills zero fields that have no meaningful zero value.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OffsetsTopicPartitions <= 0 {
		c.OffsetsTopicPartitions = d.OffsetsTopicPartitions
	}
	if c.OffsetsRetentionCheck <= 0 {
		c.OffsetsRetentionCheck = d.OffsetsRetentionCheck
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = d.OffsetsRetention
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = d.MaxSessionTimeout
	}
	if c.NewMemberJoinTimeout <= 0 {
		c.NewMemberJoinTimeout = d.NewMemberJoinTimeout
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.HistoryMaxPerPartition <= 0 {
		c.HistoryMaxPerPartition = d.HistoryMaxPerPartition
	}
	if c.OffsetMetadataMaxBytes <= 0 {
		c.OffsetMetadataMaxBytes = d.OffsetMetadataMaxBytes
	}
	return c
}

// Record is one record of the internal __consumer_offsets topic. Key and
// Value are in Apache Kafka's formats (kmsg.OffsetCommitKey/Value,
// kmsg.GroupMetadataKey/Value); a nil Value is a tombstone. Timestamp is in
// milliseconds since the epoch.
type Record struct {
	Key, Value []byte
	Timestamp  int64
}

// ErrStoreFull, wrapped in an error of Store.Append or Pending.Wait, says
// the records were not written for want of space (a full disk). It wraps
// kerr.KafkaStorageError, what Kafka's log append fails with on a full
// disk, so requests answer it as Kafka 4.x does: NOT_COORDINATOR
// (offsetsfmt.AppendError). Clients retry that through FindCoordinator,
// and the broker's read-only mode ends by itself once space returns, so a
// commit retried within the client's timeout lands.
var ErrStoreFull = fmt.Errorf("group: offsets store full: %w", kerr.KafkaStorageError)

// Store persists records to the internal __consumer_offsets topic; the
// broker implements it over storage. Writing is split in two so that the
// coordinator can keep a group's records in the order its state changed
// without holding the group's lock while the disk syncs: it calls Append
// with the group's lock held, releases the lock, and only then waits.
type Store interface {
	// Append appends recs, in order, to partition p of __consumer_offsets
	// and returns without waiting for them to be durable: it must not
	// fsync or otherwise wait for the disk (a buffered write is fine), nor
	// for another Append's durability. It is safe for concurrent use.
	//
	// Order: records of Appends to the same partition are in the log in
	// the order the Append calls returned (the coordinator serializes a
	// group's Appends under its lock, so a group's records are in the
	// order its state changed). Appends to different partitions are
	// independent.
	//
	// An error means nothing of recs was appended: the records never
	// become visible or durable, Appends after it are unaffected (unless
	// the partition is unusable, when they fail as well), and there is no
	// Pending to wait for. The coordinator does not keep or modify recs
	// after Append returns. Appending no records appends nothing and
	// returns a Pending that is durable at once.
	//
	// Errors (from Append and from Wait) wrap the kerr.Error Kafka's log
	// append would fail with: MESSAGE_TOO_LARGE for a batch over the
	// partition's max.message.bytes, KAFKA_STORAGE_ERROR for an I/O
	// error, a fenced partition and, as ErrStoreFull, a full disk,
	// UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist. A
	// context error (from Wait only) means the wait was abandoned; an
	// error carrying no Kafka error is a storage error. Requests answer
	// them as Kafka 4.x's coordinator does (offsetsfmt.AppendError). On
	// a full disk an Append holding an offset commit is refused with
	// ErrStoreFull, while tombstones (and, within a share of the disk's
	// reserve, group metadata) are still taken, so that the deletions
	// that free space and rebalances go on. group/storetest checks these
	// promises against every implementation.
	Append(partition int32, recs []Record) (Pending, error)

	// AppendTxn is Append for the offsets of a transaction
	// (TxnOffsetCommit): recs go into one transactional record batch
	// carrying producerID and producerEpoch, as Kafka's coordinator
	// writes them, in the same order as Append's batches. Its errors are
	// Append's, plus those of the log's producer state: a producerEpoch
	// below the one the partition last saw for producerID wraps
	// kerr.InvalidProducerEpoch. On a full disk it is refused as an
	// Append holding a commit is.
	AppendTxn(partition int32, producerID int64, producerEpoch int16, recs []Record) (Pending, error)

	// AppendMarker appends the control record ending m.ProducerID's
	// transaction in the partition (commit or abort, Kafka's
	// EndTxnMarker), in order with the partition's other appends. Its
	// errors are AppendTxn's, and the log's checks of a marker: an
	// epoch older than the producer's last (from transaction version 2,
	// not newer) wraps kerr.InvalidProducerEpoch, an older coordinator
	// epoch kerr.TransactionCoordinatorFenced. On a full disk it is
	// taken, as a tombstone is, so that open transactions can still end.
	AppendMarker(partition int32, m Marker) (Pending, error)
}

// Pending is an appended, not yet durable, Store write.
type Pending interface {
	// Wait returns nil once the records of its Append, and those of
	// every earlier Append to the same partition, are durable (under
	// the store's fsync policy): durability is a prefix of the append
	// order, so a later Wait returning nil implies every earlier one
	// would.
	//
	// An error other than ctx's means the records are not durable and
	// never will be in this process: it is sticky for the partition, so
	// the Wait of every Append made to the same partition after the
	// failed one returns an error too (a failed fsync fences the
	// partition; it is never retried into a success). Whether the bytes
	// are found after a restart is unknown, which is why the coordinator
	// applies nothing it did not see succeed. If ctx ends first, Wait
	// returns ctx.Err() and the durability of the records is unknown.
	//
	// Wait may be called from any goroutine, outside every coordinator
	// lock, more than once (each call answers the same once known), or not
	// at all.
	Wait(ctx context.Context) error
}

// Summary describes one group for Groups.
type Summary struct {
	Name         string
	State        string // Empty, PreparingRebalance, CompletingRebalance, Stable
	ProtocolType string // "consumer" for consumer groups, "" for offset-only groups
	Protocol     string // the selected protocol (assignor), "" when none
	Generation   int32
	Members      int
}

// OffsetInfo is one committed offset.
type OffsetInfo struct {
	Offset      int64
	LeaderEpoch int32 // -1 when the commit carried none
	Metadata    string
	CommitTime  time.Time
	// ExpireTime is when the offset expires if nothing changes: an explicit
	// expiry (OffsetCommit v1-v4 retention), or OffsetsRetention after the
	// group became Empty (KIP-211), or after the commit for offset-only
	// groups. Zero when the offset does not expire while the group stays as
	// it is (an active consumer group subscribed to the topic).
	ExpireTime time.Time
}

// Commit is one position a group committed for one partition, as kept for
// History. Consecutive commits of the same position (offset, leader epoch
// and metadata: an idle consumer committing every few seconds) are one
// Commit, from CommitTime, the first of them, to LastCommitTime.
type Commit struct {
	Topic          string
	Partition      int32
	Offset         int64
	LeaderEpoch    int32
	Metadata       string
	CommitTime     time.Time
	LastCommitTime time.Time
	// SupersededAt is when a commit of another position (or a deletion)
	// replaced this one; zero for the current position.
	SupersededAt time.Time
	// Transactional: the position's last commit was a TxnOffsetCommit,
	// applied by its transaction's commit marker.
	Transactional bool
}

type clientKey struct{}

type clientInfo struct{ id, host string }

// WithClient returns ctx carrying the client id (request header) and host of
// the connection a request came in on. JoinGroup records them in the member
// (DescribeGroups shows them, GroupMetadataValue persists them) and builds
// generated member ids from the client id (KIP-394: "clientId-uuid"). Kafka
// shows the host as "/" + IP address (Java's InetAddress.toString), e.g.
// "/127.0.0.1"; callers that want identical output should pass that form.
func WithClient(ctx context.Context, clientID, host string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientInfo{clientID, host})
}

func clientFrom(ctx context.Context) clientInfo {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci
}
