package broker

import (
	"strconv"

	"github.com/rewindhq/rewind/groupconfig"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// GROUP config resources: a group's own configs (package groupconfig),
// through DescribeConfigs, AlterConfigs, IncrementalAlterConfigs and
// ListConfigResources as Kafka 4.4 serves them (kafka-configs
// --entity-type groups). Any group name describes, whether the group
// exists or not, with every config's value in effect: the group's
// (source GROUP_CONFIG) or the broker's (DEFAULT_CONFIG, or
// STATIC_BROKER_CONFIG when a flag changed it); an empty name is
// INVALID_REQUEST. A change is validated as a whole and stored before it
// is answered; deleting every config of a group removes it from the
// list. Share groups take share.auto.offset.reset,
// share.record.lock.duration.ms, share.delivery.count.limit,
// share.partition.max.record.locks and share.isolation.level
// (share_groups.go), share and consumer groups their session timeouts
// and heartbeat intervals (and consumer groups their assignment
// interval) at each heartbeat; the other configs are stored and
// described.

// groupBounds are the broker's bounds and values for group configs: the
// consumer groups' from the flags, the rest Kafka's defaults.
func groupBounds(cfg Config) groupconfig.Bounds {
	b := groupconfig.DefaultBounds()
	ms := func(d interface{ Milliseconds() int64 }) int64 { return d.Milliseconds() }
	if cfg.ConsumerGroupMinSessionTimeout > 0 && cfg.ConsumerGroupMaxSessionTimeout > 0 {
		b.Ranges["consumer.session.timeout.ms"] = groupconfig.Range{Min: ms(cfg.ConsumerGroupMinSessionTimeout), Max: ms(cfg.ConsumerGroupMaxSessionTimeout)}
	}
	if cfg.ConsumerGroupMinHeartbeatInterval > 0 && cfg.ConsumerGroupMaxHeartbeatInterval > 0 {
		b.Ranges["consumer.heartbeat.interval.ms"] = groupconfig.Range{Min: ms(cfg.ConsumerGroupMinHeartbeatInterval), Max: ms(cfg.ConsumerGroupMaxHeartbeatInterval)}
	}
	if cfg.ConsumerGroupSessionTimeout > 0 {
		b.Broker["consumer.session.timeout.ms"] = strconv.FormatInt(ms(cfg.ConsumerGroupSessionTimeout), 10)
	}
	if cfg.ConsumerGroupHeartbeatInterval > 0 {
		b.Broker["consumer.heartbeat.interval.ms"] = strconv.FormatInt(ms(cfg.ConsumerGroupHeartbeatInterval), 10)
	}
	return b
}

func describeGroupConfigs(b *Broker, res *kmsg.DescribeConfigsResponseResource, want func(string) bool, synonyms, docs bool) {
	if res.ResourceName == "" {
		res.ErrorCode = kerr.InvalidRequest.Code
		res.ErrorMessage = strp("Group name must not be empty")
		return
	}
	set := b.gcfg.Configs(res.ResourceName)
	bounds := b.gcfg.Bounds()
	for i := range groupconfig.Defs {
		d := &groupconfig.Defs[i]
		if d.Internal || !want(d.Name) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = d.Name
		c.ConfigType = kmsg.ConfigType(d.Type)
		if docs {
			c.Documentation = strp(d.Doc)
		}
		bv := bounds.BrokerValue(d)
		bsrc := kmsg.ConfigSourceDefaultConfig
		if bv != d.Default {
			bsrc = kmsg.ConfigSourceStaticBrokerConfig
		}
		if v, ok := set[d.Name]; ok {
			c.Value, c.Source = strp(v), kmsg.ConfigSourceGroupConfig
			if synonyms {
				c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(d.Name, v, kmsg.ConfigSourceGroupConfig))
			}
		} else {
			c.Value, c.Source = strp(bv), bsrc
		}
		if synonyms {
			c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(d.Broker, bv, bsrc))
		}
		res.Configs = append(res.Configs, c)
	}
}

func groupConfigError(e *groupconfig.Error) (int16, *string) {
	if e == nil {
		return 0, nil
	}
	return e.Err.Code, strp(e.Msg)
}

// alterGroupConfigs replaces a group's configs (legacy AlterConfigs).
func alterGroupConfigs(b *Broker, name string, cfgs map[string]string, validateOnly bool) (int16, *string) {
	return groupConfigError(b.gcfg.Set(name, cfgs, validateOnly))
}

// incrementalAlterGroupConfigs applies SET and DELETE to a group's
// configs; APPEND and SUBTRACT work on its one list config.
func incrementalAlterGroupConfigs(b *Broker, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, *string) {
	if rr.ResourceName == "" {
		return kerr.InvalidRequest.Code, strp("Default group resources are not allowed.")
	}
	cfgs := b.gcfg.Configs(rr.ResourceName)
	if cfgs == nil {
		cfgs = map[string]string{}
	}
	seen := map[string]bool{}
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return kerr.InvalidRequest.Code, strp("config " + c.Name + " is changed twice in one request")
		}
		seen[c.Name] = true
		d, known := groupconfig.Lookup(c.Name)
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return kerr.InvalidRequest.Code, strp("Null value not supported for : " + c.Name)
			}
			cfgs[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cfgs, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if !known {
				return kerr.InvalidConfig.Code, strp("Unknown group config name: " + c.Name)
			}
			if d.Type != groupconfig.List {
				return kerr.InvalidConfig.Code, strp("Can't " + c.Op.String() + " to key " + c.Name + " because its type is not LIST.")
			}
			cur, ok := cfgs[c.Name]
			if !ok {
				cur = b.gcfg.Bounds().BrokerValue(d)
			}
			val := ""
			if c.Value != nil {
				val = *c.Value
			}
			cfgs[c.Name] = applyListOp(cur, val, c.Op)
		default:
			return kerr.InvalidRequest.Code, strp("unknown config operation")
		}
	}
	return groupConfigError(b.gcfg.Set(rr.ResourceName, cfgs, validateOnly))
}
