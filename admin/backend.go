package admin

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/storage"
)

// Broker is everything the admin listener needs of the broker it serves.
// monitor.Monitor implements it for a remote cluster (`rewind monitor`);
// inside `rewind serve` it is reached in process: *broker.AdminAPI (Broker.AdminAPI) implements it by
// calling the broker's own operations, the ones its Kafka API handlers
// call, so the console is refused what a Kafka client is refused, with the
// same Kafka error (a *broker.KafkaError). Nothing here goes through a
// Kafka connection, and no call holds a lock shared with other admin
// requests: they do not wait for one another.
//
// Maps and slices returned are the caller's.
type Broker interface {
	// Addr is the Kafka listener's address, Advertised what Metadata gives.
	Addr() string
	Advertised() string
	// Ready says why the broker cannot serve (nil: it can); ReadOnly why
	// it refuses writes (a full disk; nil: it takes them).
	Ready() error
	ReadOnly() error
	Metrics() prometheus.Gatherer

	// Topics lists every topic, internal ones included, sorted by name.
	Topics() []broker.TopicInfo
	Topic(name string) (broker.TopicInfo, bool)
	TopicConfigs(name string) ([]broker.TopicConfig, error)
	CreateTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]string, validateOnly bool) (broker.TopicInfo, error)
	DeleteTopic(ctx context.Context, name string) error
	AddPartitions(ctx context.Context, name string, total int32, validateOnly bool) error
	AlterTopicConfigs(ctx context.Context, name string, set map[string]string, del []string, validateOnly bool) error

	// Produce appends records as one batch and returns once it is durable.
	Produce(ctx context.Context, topic string, partition int32, recs []storage.Record) (broker.Produced, error)
	ReadRecords(topic string, partition int32, offset int64, max int, lim storage.PreviewLimits) ([]storage.RecordPreview, error)
	OffsetForTime(topic string, partition int32, t time.Time) (int64, error)
	LogEndAt(topic string, partition int32, t time.Time) int64
	// FetchedBy tells the end of the records fetched by client id client
	// at host of topic/partition between since and at (a Rewind broker
	// sees every Fetch; a monitor of Kafka cannot, and says so).
	FetchedBy(client, host, topic string, partition int32, since, at time.Time) broker.FetchedEnd
	RecordTime(topic string, partition int32, offset int64) (time.Time, bool)
	RepairPartition(topic string, partition int32, dryRun bool) (broker.RepairResult, error)

	// Groups summarizes every group. Committed, CommittedAt and History
	// are nil for a group that does not exist.
	Groups() []group.Summary
	// ConsumerGroupNames lists the consumer-protocol (KIP-848) groups;
	// DescribeGroup describes them too.
	ConsumerGroupNames() []string
	DescribeGroup(ctx context.Context, name string) (broker.GroupDescription, error)
	Committed(group string) map[string]map[int32]group.OffsetInfo
	CommittedAt(group string, t time.Time) map[string]map[int32]group.OffsetInfo
	History(group string) []group.Commit
	// CommitOffsets commits from outside group management; the
	// coordinator refuses it while the group has members.
	CommitOffsets(ctx context.Context, group string, offsets map[string]map[int32]int64) error
	DeleteGroup(ctx context.Context, group string) error
	DeleteOffsets(ctx context.Context, group string, partitions map[string][]int32) error
	// OpenTransactions lists the transactions open on any partition.
	OpenTransactions() []broker.OpenTxn
	LagStatus(group string) lageval.GroupStatus
	LagWindows(group string) map[lageval.TopicPartition][]lageval.Commit
}

var _ Broker = (*broker.AdminAPI)(nil)
