package catalog

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Topic configs of Kafka 4.4 that Rewind accepts, validates and describes
// with Kafka's types, defaults, bounds and synonyms, so that tools which
// copy a topic's configs from Kafka (or set them from a template) work
// unchanged, but that Rewind does not act on: they concern replication,
// tiered storage, share groups, Kafka's own file layout or recompression,
// none of which a single Rewind node has. Each Doc says so, and the README
// config table lists them. The bounds are Kafka's LogConfig definitions
// (checked against Kafka 4.4 by test/differential).
//
// message.timestamp.before.max.ms and message.timestamp.after.max.ms are
// the exception, listed here as Kafka 4.4 added them beside the others:
// the produce path enforces them (storage.Config.CheckTimestamps).
var inertDefs = []ConfigDef{
	{Name: "compression.gzip.level", Default: "-1", Type: TypeInt, Broker: "compression.gzip.level",
		Doc:   "Kafka's gzip level when the broker recompresses. Not used by Rewind: a batch recompressed for compression.type gets the codec's default level.",
		Check: oneOf(between(1, 9), -1)},
	{Name: "compression.lz4.level", Default: "9", Type: TypeInt, Broker: "compression.lz4.level",
		Doc:   "Kafka's lz4 level when the broker recompresses. Not used by Rewind: a batch recompressed for compression.type gets the codec's default level.",
		Check: between(1, 17)},
	{Name: "compression.zstd.level", Default: "3", Type: TypeInt, Broker: "compression.zstd.level",
		Doc:   "Kafka's zstd level when the broker recompresses. Not used by Rewind: a batch recompressed for compression.type gets the codec's default level.",
		Check: between(-131072, 22)},
	{Name: "errors.deadletterqueue.group.enable", Default: "false", Type: TypeBoolean,
		Doc: "Whether share groups may use the topic as a dead-letter queue. Accepted for compatibility; Rewind has no share groups."},
	{Name: "file.delete.delay.ms", Default: "60000", Type: TypeLong, Broker: "log.segment.delete.delay.ms",
		Doc: "How long Kafka keeps a deleted segment's files. Accepted for compatibility; Rewind removes a segment's files when retention deletes it.", Check: minInt(0)},
	{Name: "flush.messages", Default: strconv.FormatInt(math.MaxInt64, 10), Type: TypeLong, Broker: "log.flush.interval.messages",
		Doc: "Messages between forced fsyncs in Kafka. Accepted for compatibility; Rewind's fsync policy is the broker's --fsync (default: before every acknowledgement).", Check: minInt(1)},
	{Name: "flush.ms", Default: strconv.FormatInt(math.MaxInt64, 10), Type: TypeLong, Broker: "log.flush.interval.ms",
		Doc: "Time between forced fsyncs in Kafka. Accepted for compatibility; Rewind's fsync policy is the broker's --fsync.", Check: minInt(0)},
	{Name: "follower.replication.throttled.replicas", Default: "", Type: TypeList,
		Doc: "Replicas throttled on the follower side ([partitionId]:[brokerId],... or *). Accepted for compatibility; a single node does not replicate.", Check: throttledReplicas},
	{Name: "leader.replication.throttled.replicas", Default: "", Type: TypeList,
		Doc: "Replicas throttled on the leader side ([partitionId]:[brokerId],... or *). Accepted for compatibility; a single node does not replicate.", Check: throttledReplicas},
	{Name: "local.retention.bytes", Default: "-2", Type: TypeLong, Broker: "log.local.retention.bytes",
		Doc: "Local size kept with tiered storage (-2: retention.bytes). Accepted for compatibility; Rewind has no tiered storage (remote.storage.enable=false).", Check: minInt(-2)},
	{Name: "local.retention.ms", Default: "-2", Type: TypeLong, Broker: "log.local.retention.ms",
		Doc: "Local time kept with tiered storage (-2: retention.ms). Accepted for compatibility; Rewind has no tiered storage.", Check: minInt(-2)},
	{Name: "max.decompressed.message.bytes", Default: "2147483639", Type: TypeInt, Broker: "max.decompressed.message.bytes",
		Doc:   "Kafka's bound on a batch's decompressed size. Accepted for compatibility; Rewind bounds decompression at 64 x max.message.bytes instead.",
		Check: between(1, 2147483639)},
	{Name: MessageTimestampBeforeMaxMs, Default: strconv.FormatInt(math.MaxInt64, 10), Type: TypeLong, Broker: "log.message.timestamp.before.max.ms",
		Doc: "How far before the broker's clock a CreateTime record's timestamp may be; a batch holding an older record is refused with INVALID_TIMESTAMP.", Check: minInt(0)},
	{Name: MessageTimestampAfterMaxMs, Default: "3600000", Type: TypeLong, Broker: "log.message.timestamp.after.max.ms",
		Doc: "How far after the broker's clock a CreateTime record's timestamp may be; a batch holding a later record is refused with INVALID_TIMESTAMP.", Check: minInt(0)},
	{Name: "preallocate", Default: "false", Type: TypeBoolean, Broker: "log.preallocate",
		Doc: "Whether Kafka preallocates segment files. Accepted for compatibility; Rewind's segments grow as written."},
	{Name: "remote.copy.lag.bytes", Default: "-1", Type: TypeLong, Broker: "log.remote.copy.lag.bytes",
		Doc: "Tiered storage copy lag. Accepted for compatibility; Rewind has no tiered storage.", Check: minInt(-1)},
	{Name: "remote.copy.lag.ms", Default: "0", Type: TypeLong, Broker: "log.remote.copy.lag.ms",
		Doc: "Tiered storage copy lag. Accepted for compatibility; Rewind has no tiered storage.", Check: minInt(-1)},
	{Name: "remote.log.copy.disable", Default: "false", Type: TypeBoolean,
		Doc: "Tiered storage read-only switch. Accepted for compatibility; Rewind has no tiered storage."},
	{Name: "remote.log.delete.on.disable", Default: "false", Type: TypeBoolean,
		Doc: "Whether disabling tiered storage deletes the remote data. Accepted for compatibility; Rewind has no tiered storage."},
	{Name: "remote.storage.enable", Default: "false", Type: TypeBoolean,
		Doc: "Tiered storage for the topic. Only false: Rewind has no tiered storage, and true is refused as Kafka refuses it with tiered storage disabled in the broker.",
		Check: func(v string) error {
			if strings.EqualFold(v, "true") {
				return fmt.Errorf("tiered storage functionality is disabled in the broker; a topic cannot be configured with remote log storage")
			}
			return nil
		}},
	{Name: "segment.index.bytes", Default: "10485760", Type: TypeInt, Broker: "log.index.size.max.bytes",
		Doc: "Size of Kafka's preallocated offset index. Accepted for compatibility; Rewind's sparse index grows with the segment (index.interval.bytes).", Check: minInt(4)},
	{Name: "segment.jitter.ms", Default: "0", Type: TypeLong, Broker: "log.roll.jitter.ms",
		Doc: "Random jitter subtracted from segment.ms in Kafka. Accepted for compatibility; Rewind rolls segments at segment.ms exactly.", Check: minInt(0)},
	{Name: "unclean.leader.election.enable", Default: "false", Type: TypeBoolean, Broker: "unclean.leader.election.enable",
		Doc: "Whether an out-of-sync replica may become leader. Accepted for compatibility; a single node is always the leader of its data."},
}

// Names of the record timestamp bounds (Topic.StorageConfig).
const (
	MessageTimestampBeforeMaxMs = "message.timestamp.before.max.ms"
	MessageTimestampAfterMaxMs  = "message.timestamp.after.max.ms"
)

func between(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("value %d is not in [%d, %d]", n, lo, hi)
		}
		return nil
	}
}

// oneOf accepts what check accepts and the listed values besides.
func oneOf(check func(string) error, also ...int64) func(string) error {
	return func(v string) error {
		for _, a := range also {
			if v == strconv.FormatInt(a, 10) {
				return nil
			}
		}
		return check(v)
	}
}

var replicaEntry = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)

// throttledReplicas is Kafka's ThrottledReplicaListValidator: "*" alone,
// or a list of partitionId:brokerId (empty entries allowed).
func throttledReplicas(v string) error {
	parts := strings.Split(v, ",")
	all, joined := true, ""
	for _, p := range parts {
		p = strings.TrimSpace(p)
		joined += p
		all = all && replicaEntry.MatchString(p)
	}
	if all || joined == "*" {
		return nil
	}
	return fmt.Errorf("must be the literal '*' or a list of replicas in the form [partitionId]:[brokerId],[partitionId]:[brokerId],...")
}
