package broker

import (
	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/clientmetrics"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CLIENT_METRICS config resources: the client telemetry subscriptions
// (package clientmetrics), through DescribeConfigs, AlterConfigs and
// IncrementalAlterConfigs as Kafka serves them. Every name describes,
// a name without configs with the defaults (source DEFAULT_CONFIG, and
// IsDefault false, as Kafka reports them); an empty name is
// INVALID_REQUEST. A change is stored before it is answered; deleting
// every config of a subscription removes it.

func describeClientMetrics(b *Broker, res *kmsg.DescribeConfigsResponseResource, want func(string) bool, synonyms, docs bool) {
	if res.ResourceName == "" {
		res.ErrorCode = kerr.InvalidRequest.Code
		res.ErrorMessage = strp("Client metrics subscription name must not be empty")
		return
	}
	set := b.cm.Configs(res.ResourceName)
	for _, d := range clientmetrics.Defs {
		if !want(d.Name) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = d.Name
		c.ConfigType = kmsg.ConfigType(catalog.TypeInt)
		if d.List {
			c.ConfigType = kmsg.ConfigType(catalog.TypeList)
		}
		if docs {
			c.Documentation = strp(d.Doc)
		}
		if v, ok := set[d.Name]; ok {
			c.Value, c.Source = strp(v), kmsg.ConfigSourceClientMetricsConfig
			if synonyms {
				c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(d.Name, v, kmsg.ConfigSourceClientMetricsConfig))
			}
		} else {
			c.Value, c.Source = strp(d.Default), kmsg.ConfigSourceDefaultConfig
		}
		res.Configs = append(res.Configs, c)
	}
}

func cmError(e *clientmetrics.Error) (int16, *string) {
	if e == nil {
		return 0, nil
	}
	return e.Err.Code, strp(e.Msg)
}

// alterClientMetrics replaces a subscription's configs (legacy
// AlterConfigs).
func alterClientMetrics(b *Broker, name string, cfgs map[string]string, validateOnly bool) (int16, *string) {
	return cmError(b.cm.Set(name, cfgs, validateOnly))
}

// incrementalAlterClientMetrics applies SET and DELETE to a
// subscription's configs. As Kafka's controller (whose list-config
// schema knows only topic and broker configs), APPEND and SUBTRACT are
// INVALID_CONFIG for every client metrics config.
func incrementalAlterClientMetrics(b *Broker, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, *string) {
	cfgs := b.cm.Configs(rr.ResourceName)
	if cfgs == nil {
		cfgs = map[string]string{}
	}
	seen := map[string]bool{}
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return kerr.InvalidRequest.Code, strp("config " + c.Name + " is changed twice in one request")
		}
		seen[c.Name] = true
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return kerr.InvalidRequest.Code, strp("null value not supported for SET of " + c.Name)
			}
			cfgs[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cfgs, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			return kerr.InvalidConfig.Code, strp("Can't " + c.Op.String() + " to key " + c.Name + " because its type is not LIST.")
		default:
			return kerr.InvalidRequest.Code, strp("unknown config operation")
		}
	}
	return cmError(b.cm.Set(rr.ResourceName, cfgs, validateOnly))
}
