package catalog

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/rewindhq/rewind/storage"
)

// ConfigDef describes one topic config Rewind understands, by its Kafka name.
type ConfigDef struct {
	Name    string
	Default string
	Type    ConfigType
	Doc     string
	// Check validates a value beyond its type; nil accepts any value of the type.
	Check func(v string) error
	// Broker is the name of the broker-level config that supplies the default
	// (as Kafka's DescribeConfigs synonyms show it), empty when none.
	Broker string
	// Internal marks a config Kafka defines as internal: accepted and
	// validated like any other, but listed (DescribeConfigs, CreateTopics'
	// response) only for a topic that sets it.
	Internal bool
}

// ConfigType mirrors Kafka's DescribeConfigs config types (v3+).
type ConfigType int8

// Kafka's config type codes as sent in DescribeConfigs v3+.
const (
	TypeBoolean  ConfigType = 1
	TypeString   ConfigType = 2
	TypeInt      ConfigType = 3
	TypeShort    ConfigType = 4
	TypeLong     ConfigType = 5
	TypeDouble   ConfigType = 6
	TypeList     ConfigType = 7
	TypeClass    ConfigType = 8
	TypePassword ConfigType = 9
)

// Topic config names used by the broker and storage.
const (
	CleanupPolicy        = "cleanup.policy"
	RetentionMs          = "retention.ms"
	RetentionBytes       = "retention.bytes"
	SegmentBytes         = "segment.bytes"
	InternalSegmentBytes = "internal.segment.bytes"
	SegmentMs            = "segment.ms"
	MaxMessageBytes      = "max.message.bytes"
	MessageTimestampType = "message.timestamp.type"
	IndexIntervalBytes   = "index.interval.bytes"
	CompressionType      = "compression.type"

	// Compaction (cleanup.policy=compact).
	DeleteRetentionMs      = "delete.retention.ms"
	MinCompactionLagMs     = "min.compaction.lag.ms"
	MaxCompactionLagMs     = "max.compaction.lag.ms"
	MinCleanableDirtyRatio = "min.cleanable.dirty.ratio"
)

var defs = []ConfigDef{
	{Name: CleanupPolicy, Default: "delete", Type: TypeList, Broker: "log.cleanup.policy",
		Doc: "\"delete\" removes old segments per retention.ms and retention.bytes; \"compact\" keeps the latest record of every key (records without a key are kept, where Kafka refuses them); \"compact,delete\" does both; empty does neither (the log is kept whole).",
		Check: func(v string) error {
			// Empty is a valid list, as in Kafka 4.x: neither deleted nor
			// compacted, the log is kept whole.
			if strings.TrimSpace(v) == "" {
				return nil
			}
			for _, p := range strings.Split(v, ",") {
				switch strings.TrimSpace(p) {
				case "delete", "compact":
				default:
					return fmt.Errorf("invalid cleanup.policy %q: must be delete, compact, both or empty", p)
				}
			}
			return nil
		}},
	{Name: RetentionMs, Default: "604800000", Type: TypeLong, Broker: "log.retention.ms",
		Doc: "Time a segment is kept before it is deleted; -1 keeps data forever.", Check: minInt(-1)},
	{Name: RetentionBytes, Default: "-1", Type: TypeLong, Broker: "log.retention.bytes",
		// Any long, as Kafka: every negative value means no limit.
		Doc: "Maximum size of a partition before old segments are deleted; -1 (any negative value) means no limit."},
	{Name: SegmentBytes, Default: "1073741824", Type: TypeInt, Broker: "log.segment.bytes",
		Doc: "Size at which the active segment file is rolled.", Check: minInt(1 << 20)},
	// As Kafka 4.x: segment.bytes has a 1 MiB minimum, and tests that need
	// small segments set this internal override instead, which takes any
	// int and, when set, replaces segment.bytes.
	{Name: InternalSegmentBytes, Default: "", Type: TypeInt, Internal: true,
		Doc: "Internal: when set, the segment size used instead of segment.bytes, with no minimum (for tests)."},
	{Name: SegmentMs, Default: "604800000", Type: TypeLong, Broker: "log.roll.ms",
		Doc: "Age at which the active segment is rolled even if not full.", Check: minInt(1)},
	{Name: MaxMessageBytes, Default: "1048588", Type: TypeInt, Broker: "message.max.bytes",
		Doc: "Largest record batch size accepted.", Check: minInt(0)},
	{Name: MessageTimestampType, Default: "CreateTime", Type: TypeString, Broker: "log.message.timestamp.type",
		Doc: "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
		Check: func(v string) error {
			if v != "CreateTime" && v != "LogAppendTime" {
				return fmt.Errorf("invalid message.timestamp.type %q: must be CreateTime or LogAppendTime", v)
			}
			return nil
		}},
	{Name: IndexIntervalBytes, Default: "4096", Type: TypeInt, Broker: "log.index.interval.bytes",
		Doc: "Bytes between entries of the sparse offset index.", Check: minInt(0)},
	{Name: DeleteRetentionMs, Default: "86400000", Type: TypeLong, Broker: "log.cleaner.delete.retention.ms",
		Doc: "How long compaction keeps a tombstone (a record with a null value) that is the latest for its key.", Check: minInt(0)},
	{Name: MinCompactionLagMs, Default: "0", Type: TypeLong, Broker: "log.cleaner.min.compaction.lag.ms",
		Doc: "How long a superseded record stays before compaction may remove it.", Check: minInt(0)},
	{Name: MaxCompactionLagMs, Default: "9223372036854775807", Type: TypeLong, Broker: "log.cleaner.max.compaction.lag.ms",
		Doc: "Age of its first record at which the active segment is rolled so that compaction reaches it.", Check: minInt(1)},
	{Name: MinCleanableDirtyRatio, Default: "0.5", Type: TypeDouble, Broker: "log.cleaner.min.cleanable.ratio",
		Doc: "Share of the closed segments' bytes written since the last compaction below which compaction waits.",
		Check: func(v string) error {
			if f, err := strconv.ParseFloat(v, 64); err != nil || f < 0 || f > 1 {
				return fmt.Errorf("invalid min.cleanable.dirty.ratio %q: must be a number in [0, 1]", v)
			}
			return nil
		}},
	// Accepted for compatibility with tools that always set them; they have no
	// effect on a single node, as documented.
	{Name: "min.insync.replicas", Default: "1", Type: TypeInt, Broker: "min.insync.replicas",
		Doc: "Accepted for compatibility; a single node always has one in-sync replica.", Check: minInt(1)},
	{Name: "compression.type", Default: "producer", Type: TypeString, Broker: "compression.type",
		Doc: "producer stores batches as the producer compressed them; uncompressed, gzip, snappy, lz4 or zstd rewrites every batch in another codec into that one.",
		Check: func(v string) error {
			if !slices.Contains(storage.CompressionTypes, v) {
				return fmt.Errorf("Invalid value %s for configuration compression.type: String must be one of: %s", v, strings.Join(storage.CompressionTypes, ", "))
			}
			return nil
		}},
}

// defs holds the configs Rewind acts on; inertDefs (config_inert.go) the
// ones it accepts, validates and describes as Kafka 4.4 does without
// acting on them.
var allDefs = append(append([]ConfigDef(nil), defs...), inertDefs...)

var defByName = func() map[string]*ConfigDef {
	m := make(map[string]*ConfigDef, len(allDefs))
	for i := range allDefs {
		m[allDefs[i].Name] = &allDefs[i]
	}
	return m
}()

func minInt(lo int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		if n < lo {
			return fmt.Errorf("value %d is below the minimum %d", n, lo)
		}
		return nil
	}
}

// Defs lists every topic config Rewind knows, sorted by name.
func Defs() []ConfigDef {
	out := append([]ConfigDef(nil), allDefs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Listed says whether a topic's config listing includes d: every config,
// except an internal one the topic does not set (as Kafka lists them).
func (t Topic) Listed(d ConfigDef) bool {
	if !d.Internal {
		return true
	}
	_, set := t.Configs[d.Name]
	return set
}

// Def returns the definition of a topic config.
func Def(name string) (ConfigDef, bool) {
	d, ok := defByName[name]
	if !ok {
		return ConfigDef{}, false
	}
	return *d, true
}

// ValidateConfig checks one topic config value.
func ValidateConfig(name, value string) error {
	d, ok := defByName[name]
	if !ok {
		return fmt.Errorf("unknown topic config name: %s", name)
	}
	switch d.Type {
	case TypeInt:
		// Kafka's INT is a Java int.
		if _, err := strconv.ParseInt(value, 10, 32); err != nil {
			return fmt.Errorf("invalid value %q for %s: not a 32-bit integer", value, name)
		}
	case TypeLong:
		if _, err := strconv.ParseInt(value, 10, 64); err != nil {
			return fmt.Errorf("invalid value %q for %s: not an integer", value, name)
		}
	case TypeBoolean:
		// As Kafka's ConfigDef: true or false in any case, nothing else
		// (strconv.ParseBool would also take 1, t, F...).
		if !strings.EqualFold(value, "true") && !strings.EqualFold(value, "false") {
			return fmt.Errorf("invalid value %q for %s: expected value to be either true or false", value, name)
		}
	case TypeDouble:
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			return fmt.Errorf("invalid value %q for %s: not a number", value, name)
		}
	}
	if d.Check != nil {
		if err := d.Check(value); err != nil {
			return fmt.Errorf("invalid value for %s: %w", name, err)
		}
	}
	return nil
}

// ValidateConfigs checks every entry of a topic config map.
func ValidateConfigs(cfgs map[string]string) error {
	names := make([]string, 0, len(cfgs))
	for k := range cfgs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := ValidateConfig(k, cfgs[k]); err != nil {
			return err
		}
	}
	return nil
}
