package broker_test

import (
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// What Apache Kafka 4.4 answers, found by test/differential: a SET without
// a value is INVALID_REQUEST, a DescribeConfigs of an invalid topic name
// INVALID_TOPIC_EXCEPTION, and retention.ms and segment.ms have no
// broker synonym (log.retention.ms and log.roll.ms have no default in
// Kafka, and it lists only synonyms with a value).
func TestConfigsAsKafka(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "cfgk", 1)

	inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "cfgk"
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op = "retention.ms", kmsg.IncrementalAlterConfigOpSet
	rr.Configs = append(rr.Configs, c)
	inc.Resources = append(inc.Resources, rr)
	iresp, err := inc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if got := iresp.Resources[0].ErrorCode; got != kerr.InvalidRequest.Code {
		t.Fatalf("SET with a null value: error %d, want INVALID_REQUEST (%d)", got, kerr.InvalidRequest.Code)
	}

	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.IncludeSynonyms = true
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, "cfgk"
	dr.ConfigNames = []string{"retention.ms", "segment.ms", "cleanup.policy"}
	dc.Resources = append(dc.Resources, dr)
	dresp, err := dc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	bad := kmsg.NewPtrDescribeConfigsRequest()
	br := kmsg.NewDescribeConfigsRequestResource()
	br.ResourceType, br.ResourceName = kmsg.ConfigResourceTypeTopic, "bad topic!"
	bad.Resources = append(bad.Resources, br)
	bresp, err := bad.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if got := bresp.Resources[0].ErrorCode; got != kerr.InvalidTopicException.Code {
		t.Fatalf("DescribeConfigs of an invalid topic name: error %d, want INVALID_TOPIC_EXCEPTION", got)
	}

	syn := map[string][]string{}
	for _, cfg := range dresp.Resources[0].Configs {
		for _, s := range cfg.ConfigSynonyms {
			syn[cfg.Name] = append(syn[cfg.Name], s.Name)
		}
	}
	if len(syn["retention.ms"]) != 0 || len(syn["segment.ms"]) != 0 {
		t.Fatalf("synonyms %v: retention.ms and segment.ms have none in Kafka", syn)
	}
	if got := syn["cleanup.policy"]; len(got) != 1 || got[0] != "log.cleanup.policy" {
		t.Fatalf("cleanup.policy synonyms %v, want [log.cleanup.policy]", got)
	}
}
