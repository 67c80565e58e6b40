package differential

import (
	"strings"
	"time"

	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func cmAlterReq(name string, ops ...any) *kmsg.IncrementalAlterConfigsRequest {
	req := incAlterReq(false, name, ops...)
	req.Resources[0].ResourceType = kmsg.ConfigResourceTypeClientMetrics
	return req
}

func cmDescribeReq(names ...string) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	for _, n := range names {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeClientMetrics, n
		req.Resources = append(req.Resources, rr)
	}
	return req
}

// onlyThisRun keeps the client metrics subscriptions this run made (the
// Kafka may hold others) and the broker, in both answers.
func onlyThisRun(k, r kmsg.Response) {
	for _, resp := range []kmsg.Response{k, r} {
		l := resp.(*kmsg.ListConfigResourcesResponse)
		kept := l.ConfigResources[:0]
		for _, c := range l.ConfigResources {
			if strings.HasSuffix(c.Name, suffix) || kmsg.ConfigResourceType(c.Type) == kmsg.ConfigResourceTypeBroker {
				kept = append(kept, c)
			}
		}
		l.ConfigResources = kept
	}
}

// TestClientMetricsConfigs: CLIENT_METRICS config resources (the client
// telemetry subscriptions of KIP-714, as kafka-client-metrics.sh sets
// them) through IncrementalAlterConfigs, AlterConfigs, DescribeConfigs
// and ListConfigResources: valid and invalid intervals and match
// patterns, unknown configs, an empty name, APPEND, deleting every
// config, and what describing and listing says after each.
func TestClientMetricsConfigs(t *testing.T) {
	p := newPairNode(t, true) // ListConfigResources names the broker
	sub, other := name("cm"), name("cm2")
	set, del, app := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete, kmsg.IncrementalAlterConfigOpAppend
	describe := func(scenario string) {
		p.settled("ClientMetrics/"+scenario+"/describe", cmDescribeReq(sub))
	}
	steps := []struct {
		scenario string
		name     string
		ops      []any
	}{
		{"SET all three", sub, []any{"metrics", set, "org.apache.kafka.consumer.", "interval.ms", set, "1000", "match", set, "client_software_name=apache-kafka-java, client_id=app-.*"}},
		{"SET interval below 100", sub, []any{"interval.ms", set, "50"}},
		{"SET interval above an hour", sub, []any{"interval.ms", set, "3600001"}},
		{"SET interval not a number", sub, []any{"interval.ms", set, "abc"}},
		{"SET unknown config", sub, []any{"foo", set, "bar"}},
		{"SET match on an unknown attribute", sub, []any{"match", set, "foo=bar"}},
		{"SET match without a value", sub, []any{"match", set, "client_id"}},
		{"SET match with a bad regex", sub, []any{"match", set, "client_id=["}},
		{"SET empty name", "", []any{"interval.ms", set, "1000"}},
		{"APPEND to metrics", sub, []any{"metrics", app, "org.apache.kafka.producer."}},
		{"SET metrics star", sub, []any{"metrics", set, "*"}},
		{"DELETE interval", sub, []any{"interval.ms", del, nil}},
		{"SET a second subscription", other, []any{"metrics", set, "org.apache.kafka.producer."}},
	}
	for _, s := range steps {
		p.compare("ClientMetrics/"+s.scenario, cmAlterReq(s.name, s.ops...), -1, nil)
		describe(s.scenario)
	}
	p.settled("ClientMetrics/unknown subscription/describe", cmDescribeReq(name("nope")))
	p.compare("ClientMetrics/empty name/describe", cmDescribeReq(""), -1, docSet)

	listed := func(scenario string, v int16, types ...int8) {
		req := kmsg.NewPtrListConfigResourcesRequest()
		req.ResourceTypes = types
		// Kafka lists a change once its broker has read it from the
		// metadata log: retried for up to 5 s until the two agree.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			k, r, kerr, rerr := p.both(req, v)
			if kerr == nil && rerr == nil {
				normalize(k, p.kafkaNode)
				normalize(r, p.rewindNode)
				onlyThisRun(k, r)
				if len(diff(k, r)) == 0 {
					break
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		p.compare("ClientMetrics/"+scenario, req, v, onlyThisRun)
	}
	listed("list v0", 0)
	listed("list client metrics", 1, int8(kmsg.ConfigResourceTypeClientMetrics))
	listed("list brokers", 1, int8(kmsg.ConfigResourceTypeBroker))
	listed("list an unsupported type", 1, 1)

	// Deleting every config removes the subscription.
	p.compare("ClientMetrics/DELETE every config", cmAlterReq(other, "metrics", del, nil), -1, nil)
	listed("list after deleting every config", 1, int8(kmsg.ConfigResourceTypeClientMetrics))

	legacy := kmsg.NewPtrAlterConfigsRequest()
	lr := kmsg.NewAlterConfigsRequestResource()
	lr.ResourceType, lr.ResourceName = kmsg.ConfigResourceTypeClientMetrics, sub
	c := kmsg.NewAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "interval.ms", kmsg.StringPtr("2000")
	lr.Configs = append(lr.Configs, c)
	legacy.Resources = append(legacy.Resources, lr)
	p.compare("ClientMetrics/legacy AlterConfigs replaces", legacy, -1, nil)
	describe("legacy AlterConfigs replaces")
}
