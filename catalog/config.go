package catalog

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
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
	SegmentMs            = "segment.ms"
	MaxMessageBytes      = "max.message.bytes"
	MessageTimestampType = "message.timestamp.type"
	IndexIntervalBytes   = "index.interval.bytes"
)

var defs = []ConfigDef{
	{Name: CleanupPolicy, Default: "delete", Type: TypeList, Broker: "log.cleanup.policy",
		Doc: "Retention policy for old log segments. Only \"delete\" is supported; \"compact\" is rejected until log compaction exists.",
		Check: func(v string) error {
			for _, p := range strings.Split(v, ",") {
				switch strings.TrimSpace(p) {
				case "delete":
				case "compact":
					return fmt.Errorf("cleanup.policy=compact is not supported by Rewind yet; use delete")
				default:
					return fmt.Errorf("invalid cleanup.policy %q: must be delete", p)
				}
			}
			return nil
		}},
	{Name: RetentionMs, Default: "604800000", Type: TypeLong, Broker: "log.retention.ms",
		Doc: "Time a segment is kept before it is deleted; -1 keeps data forever.", Check: minInt(-1)},
	{Name: RetentionBytes, Default: "-1", Type: TypeLong, Broker: "log.retention.bytes",
		Doc: "Maximum size of a partition before old segments are deleted; -1 means no limit.", Check: minInt(-1)},
	{Name: SegmentBytes, Default: "1073741824", Type: TypeInt, Broker: "log.segment.bytes",
		Doc: "Size at which the active segment file is rolled.", Check: minInt(14)},
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
	// Accepted for compatibility with tools that always set them; they have no
	// effect on a single node, as documented.
	{Name: "min.insync.replicas", Default: "1", Type: TypeInt, Broker: "min.insync.replicas",
		Doc: "Accepted for compatibility; a single node always has one in-sync replica.", Check: minInt(1)},
	{Name: "compression.type", Default: "producer", Type: TypeString, Broker: "compression.type",
		Doc: "Only \"producer\" is supported: batches are stored as the producer compressed them.",
		Check: func(v string) error {
			if v != "producer" {
				return fmt.Errorf("compression.type=%s is not supported: Rewind stores batches as produced (producer)", v)
			}
			return nil
		}},
}

var defByName = func() map[string]*ConfigDef {
	m := make(map[string]*ConfigDef, len(defs))
	for i := range defs {
		m[defs[i].Name] = &defs[i]
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
	out := append([]ConfigDef(nil), defs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
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
	case TypeInt, TypeLong:
		if _, err := strconv.ParseInt(value, 10, 64); err != nil {
			return fmt.Errorf("invalid value %q for %s: not an integer", value, name)
		}
	case TypeBoolean:
		if _, err := strconv.ParseBool(value); err != nil {
			return fmt.Errorf("invalid value %q for %s: not a boolean", value, name)
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
