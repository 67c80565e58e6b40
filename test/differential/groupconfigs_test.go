package differential

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func groupAlterReq(validate bool, name string, ops ...any) *kmsg.IncrementalAlterConfigsRequest {
	req := incAlterReq(validate, name, ops...)
	req.Resources[0].ResourceType = kmsg.ConfigResourceTypeGroupConfig
	return req
}

func groupDescribeReq(synonyms, docs bool, name string, configs ...string) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = synonyms, docs
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, name
	rr.ConfigNames = configs
	req.Resources = append(req.Resources, rr)
	return req
}

// onlyThisRunGroups keeps the groups this run configured (the Kafka may
// hold others from earlier runs) in both ListConfigResources answers.
func onlyThisRunGroups(k, r kmsg.Response) {
	for _, resp := range []kmsg.Response{k, r} {
		l := resp.(*kmsg.ListConfigResourcesResponse)
		kept := l.ConfigResources[:0]
		for _, c := range l.ConfigResources {
			if strings.HasSuffix(c.Name, suffix) {
				kept = append(kept, c)
			}
		}
		l.ConfigResources = kept
	}
}

// TestGroupConfigs: GROUP config resources (kafka-configs --entity-type
// groups: a group's own session timeouts, heartbeat intervals and share
// group settings) through IncrementalAlterConfigs, AlterConfigs,
// DescribeConfigs and ListConfigResources: every config set, values out
// of their range and out of the broker's bounds, unknown configs, an
// empty name, validate_only, DELETE, APPEND, and what describing (with
// synonyms and documentation, and named configs) and listing says after
// each.
func TestGroupConfigs(t *testing.T) {
	p := newPair(t)
	g, other := name("gc"), name("gc2")
	set, del, app := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete, kmsg.IncrementalAlterConfigOpAppend
	describe := func(scenario string) {
		p.settled("GroupConfigs/"+scenario+"/describe", groupDescribeReq(true, true, g))
	}
	describe("before any config")
	p.settled("GroupConfigs/named configs/describe", groupDescribeReq(false, false, g, "share.auto.offset.reset", "consumer.session.timeout.ms", "nope"))
	steps := []struct {
		scenario string
		validate bool
		name     string
		ops      []any
	}{
		{"SET share.auto.offset.reset earliest", false, g, []any{"share.auto.offset.reset", set, "earliest"}},
		{"SET share.auto.offset.reset by_duration", false, g, []any{"share.auto.offset.reset", set, "by_duration:PT1H"}},
		{"SET share.auto.offset.reset bad duration", false, g, []any{"share.auto.offset.reset", set, "by_duration:1h"}},
		{"SET share.auto.offset.reset unknown", false, g, []any{"share.auto.offset.reset", set, "newest"}},
		{"SET consumer.session.timeout.ms", false, g, []any{"consumer.session.timeout.ms", set, "50000"}},
		{"SET consumer.session.timeout.ms below the broker's min", false, g, []any{"consumer.session.timeout.ms", set, "1000"}},
		{"SET consumer.session.timeout.ms above the broker's max", false, g, []any{"consumer.session.timeout.ms", set, "100000"}},
		{"SET consumer.session.timeout.ms not a number", false, g, []any{"consumer.session.timeout.ms", set, "abc"}},
		{"SET consumer.heartbeat.interval.ms", false, g, []any{"consumer.heartbeat.interval.ms", set, "6000"}},
		{"SET consumer.heartbeat.interval.ms below the broker's min", false, g, []any{"consumer.heartbeat.interval.ms", set, "100"}},
		{"SET share.session.timeout.ms and share.heartbeat.interval.ms", false, g, []any{"share.session.timeout.ms", set, "46000", "share.heartbeat.interval.ms", set, "4000"}},
		{"SET share.record.lock.duration.ms", false, g, []any{"share.record.lock.duration.ms", set, "20000"}},
		{"SET share.record.lock.duration.ms too low", false, g, []any{"share.record.lock.duration.ms", set, "100"}},
		{"SET share.delivery.count.limit", false, g, []any{"share.delivery.count.limit", set, "3"}},
		{"SET share.delivery.count.limit too high", false, g, []any{"share.delivery.count.limit", set, "100"}},
		{"SET share.partition.max.record.locks", false, g, []any{"share.partition.max.record.locks", set, "500"}},
		{"SET share.isolation.level", false, g, []any{"share.isolation.level", set, "read_committed"}},
		{"SET share.isolation.level unknown", false, g, []any{"share.isolation.level", set, "committed"}},
		{"SET share.renew.acknowledge.enable", false, g, []any{"share.renew.acknowledge.enable", set, "false"}},
		{"SET streams.num.standby.replicas", false, g, []any{"streams.num.standby.replicas", set, "1"}},
		{"SET streams.session.timeout.ms", false, g, []any{"streams.session.timeout.ms", set, "47000"}},
		{"SET unknown config", false, g, []any{"foo", set, "bar"}},
		{"SET a broker config", false, g, []any{"group.consumer.session.timeout.ms", set, "50000"}},
		{"SET empty name", false, "", []any{"consumer.session.timeout.ms", set, "50000"}},
		{"SET validate only", true, other, []any{"share.auto.offset.reset", set, "earliest"}},
		{"APPEND share.auto.offset.reset", false, g, []any{"share.auto.offset.reset", app, "latest"}},
		{"DELETE share.auto.offset.reset", false, g, []any{"share.auto.offset.reset", del, nil}},
		{"DELETE a config never set", false, g, []any{"streams.heartbeat.interval.ms", del, nil}},
		{"SET null value", false, g, []any{"share.auto.offset.reset", set, nil}},
	}
	for _, s := range steps {
		p.compare("GroupConfigs/"+s.scenario, groupAlterReq(s.validate, s.name, s.ops...), -1, nil)
		describe(s.scenario)
	}
	p.settled("GroupConfigs/validate only/describe", groupDescribeReq(true, false, other))
	p.settled("GroupConfigs/empty name/describe", groupDescribeReq(false, false, ""))

	listed := func(scenario string) {
		req := kmsg.NewPtrListConfigResourcesRequest()
		req.ResourceTypes = []int8{int8(kmsg.ConfigResourceTypeGroupConfig)}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			k, r, kerr, rerr := p.both(req, 1)
			if kerr == nil && rerr == nil {
				normalize(k, p.kafkaNode)
				normalize(r, p.rewindNode)
				onlyThisRunGroups(k, r)
				if len(diff(k, r)) == 0 {
					break
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		p.compare("GroupConfigs/"+scenario, req, 1, onlyThisRunGroups)
	}
	listed("list groups")

	legacy := kmsg.NewPtrAlterConfigsRequest()
	lr := kmsg.NewAlterConfigsRequestResource()
	lr.ResourceType, lr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, g
	c := kmsg.NewAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "share.auto.offset.reset", kmsg.StringPtr("earliest")
	lr.Configs = append(lr.Configs, c)
	legacy.Resources = append(legacy.Resources, lr)
	p.compare("GroupConfigs/legacy AlterConfigs", legacy, -1, nil)
	describe("legacy AlterConfigs")

	// Deleting every config: the group is listed no more.
	var ops []any
	for _, n := range []string{"consumer.session.timeout.ms", "consumer.heartbeat.interval.ms", "share.session.timeout.ms", "share.heartbeat.interval.ms",
		"share.record.lock.duration.ms", "share.delivery.count.limit", "share.partition.max.record.locks", "share.isolation.level",
		"share.renew.acknowledge.enable", "streams.num.standby.replicas", "streams.session.timeout.ms", "share.auto.offset.reset"} {
		ops = append(ops, n, del, nil)
	}
	p.compare("GroupConfigs/DELETE every config", groupAlterReq(false, g, ops...), -1, nil)
	describe("DELETE every config")
	listed("list after deleting every config")
}
