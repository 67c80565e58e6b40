package consumer

import (
	"crypto/rand"
	"encoding/base64"
	"math"
	"time"

	"github.com/rewindhq/rewind/group/assign"
)

// Config holds the broker settings of consumer-protocol groups, under
// Kafka's names.
type Config struct {
	// SessionTimeout is group.consumer.session.timeout.ms (45 s): a member
	// that does not heartbeat for that long is fenced.
	SessionTimeout time.Duration
	// HeartbeatInterval is group.consumer.heartbeat.interval.ms (5 s),
	// told to members in every response.
	HeartbeatInterval time.Duration
	// MaxSize is group.consumer.max.size (Kafka: Integer.MAX_VALUE).
	MaxSize int
	// AssignmentInterval is group.consumer.assignment.interval.ms (Kafka
	// 4.4: 1 s): a group's target assignment is computed at most once per
	// interval; an epoch bumped sooner waits for the first heartbeat after
	// it, meanwhile members reconcile to the previous target (the group is
	// Assigning). Zero means Kafka's default; negative computes every
	// epoch at once (Kafka's 0).
	AssignmentInterval time.Duration
	// Assignors is group.consumer.assignors: the first is the default
	// (uniform, range).
	Assignors []assign.Assignor
	// MigrationPolicy is group.consumer.migration.policy (Kafka's default:
	// bidirectional): whether a classic group converts to a consumer group
	// when a consumer-protocol member joins it, and back when the last
	// one leaves (migrate.go).
	MigrationPolicy MigrationPolicy
	// PerGroup, when set, gives a group its own session timeout,
	// heartbeat interval and assignment interval (Kafka's GROUP configs
	// consumer.session.timeout.ms, consumer.heartbeat.interval.ms and
	// consumer.assignment.interval.ms), read at each use so that a
	// change applies to the next heartbeat. It returns the Config given
	// with those fields changed; a zero field keeps the broker's.
	PerGroup func(group string, c Config) Config
	// NewMemberID makes the member id of a version-0 join without one
	// (from version 1 the client makes it). Default: a random Kafka Uuid
	// string.
	NewMemberID func() string
}

func (c Config) withDefaults() Config {
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.AssignmentInterval == 0 {
		c.AssignmentInterval = time.Second
	}
	if c.MaxSize <= 0 {
		c.MaxSize = math.MaxInt32
	}
	if len(c.Assignors) == 0 {
		c.Assignors = []assign.Assignor{assign.Uniform{}, assign.Range{}}
	}
	if c.MigrationPolicy == "" {
		c.MigrationPolicy = Bidirectional
	}
	if c.NewMemberID == nil {
		c.NewMemberID = func() string {
			var b [16]byte
			rand.Read(b[:])
			return base64.RawURLEncoding.EncodeToString(b[:])
		}
	}
	return c
}

func (c Config) assignor(name string) (assign.Assignor, bool) {
	for _, a := range c.Assignors {
		if a.Name() == name {
			return a, true
		}
	}
	return nil, false
}

// Topics is what the group needs of the cluster's topics.
type Topics interface {
	// Lookup returns a topic's id and partition count.
	Lookup(name string) (id assign.TopicID, partitions int32, ok bool)
	// Names lists every topic, for regex subscriptions.
	Names() []string
	// Version changes whenever a topic is created, deleted or grows, so
	// that regex subscriptions are resolved again (and, with a
	// DescribeFilter, whenever the ACLs change).
	Version() int64
}

// DescribeFilter, implemented by a Topics, limits what a regex
// subscription resolves to: the topics the principal of the heartbeat
// that resolves it may DESCRIBE, as Kafka's
// filterTopicDescribeAuthorizedTopics. As in Kafka, the group's resolution
// of a regex is shared by its members, so it is that heartbeat's
// principal's view.
type DescribeFilter interface {
	Describable(topic string) bool
}
