package broker_test

import (
	"context"
	"github.com/rewindhq/rewind/clientmetrics"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func otlpGauge(t *testing.T, name string, v float64, attrs map[string]string) []byte {
	t.Helper()
	b, err := clientmetrics.Encode([]clientmetrics.Point{{Name: name, Value: v, Attrs: attrs}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setSubscription(t *testing.T, cl *kgo.Client, name string, kv ...string) *kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeClientMetrics, name
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = kv[i], kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(kv[i+1])
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	return &resp.Resources[0]
}

// TestClientTelemetry: a subscription set with IncrementalAlterConfigs
// (as kafka-client-metrics.sh sets it) reaches a client through
// GetTelemetrySubscriptions; the OTLP metrics it pushes show in /metrics
// under its client id; the subscription is listed by ListConfigResources
// and survives a restart; the instance is forgotten when its connection
// closes, as Kafka forgets it.
func TestClientTelemetry(t *testing.T) {
	dir := t.TempDir()
	b := startAt(t, dir)
	admin := newClient(t, b.Addr())
	if r := setSubscription(t, admin, "apps", "metrics", "org.apache.kafka.consumer.", "interval.ms", "1000", "match", "client_id=app-.*"); r.ErrorCode != 0 {
		t.Fatalf("set subscription: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := setSubscription(t, admin, "bad", "interval.ms", "10"); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("interval 10 ms: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	app, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ClientID("app-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	get := kmsg.NewPtrGetTelemetrySubscriptionsRequest()
	sub, err := get.RequestWith(testCtx(t, 10*time.Second), app)
	if err != nil || sub.ErrorCode != 0 {
		t.Fatalf("get subscriptions: %v %v", err, kerr.ErrorForCode(sub.ErrorCode))
	}
	if len(sub.RequestedMetrics) != 1 || sub.RequestedMetrics[0] != "org.apache.kafka.consumer." || sub.PushIntervalMillis != 1000 || sub.TelemetryMaxBytes != 1<<20 || sub.ClientInstanceID == ([16]byte{}) {
		t.Fatalf("subscription: %+v", sub)
	}
	push := kmsg.NewPtrPushTelemetryRequest()
	push.ClientInstanceID, push.SubscriptionID, push.CompressionType = sub.ClientInstanceID, sub.SubscriptionID, 4
	push.Metrics = otlpGauge(t, "org.apache.kafka.consumer.fetch.manager.records.lag.max", 42, map[string]string{"topic": "orders"})
	presp, err := push.RequestWith(testCtx(t, 10*time.Second), app)
	if err != nil || presp.ErrorCode != 0 {
		t.Fatalf("push: %v %v", err, kerr.ErrorForCode(presp.ErrorCode))
	}
	v, ok := burrowSeries(t, b, "rewind_client_telemetry", map[string]string{"client_id": "app-1", "metric": "org.apache.kafka.consumer.fetch.manager.records.lag.max", "attributes": "topic=orders", "client_software_name": "kgo"})
	if !ok || v != 42 {
		t.Fatalf("rewind_client_telemetry: %v %v", v, ok)
	}
	// A second push within the interval is throttled, as Kafka does.
	if presp, err := push.RequestWith(testCtx(t, 10*time.Second), app); err != nil || presp.ErrorCode != kerr.ThrottlingQuotaExceeded.Code {
		t.Fatalf("second push: %v %v", err, presp)
	}

	list := kmsg.NewPtrListConfigResourcesRequest()
	list.ResourceTypes = []int8{int8(kmsg.ConfigResourceTypeClientMetrics)}
	lresp, err := list.RequestWith(testCtx(t, 10*time.Second), admin)
	if err != nil || lresp.ErrorCode != 0 || len(lresp.ConfigResources) != 1 || lresp.ConfigResources[0].Name != "apps" {
		t.Fatalf("list config resources: %v %+v", err, lresp)
	}

	app.Close()
	waitFor(t, 10*time.Second, func() bool {
		_, ok := burrowSeries(t, b, "rewind_client_telemetry", map[string]string{"client_id": "app-1"})
		return !ok
	})

	admin.Close()
	b.Close()
	b = startAt(t, dir)
	defer b.Close()
	admin = newClient(t, b.Addr())
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeClientMetrics, "apps"
	dreq.Resources = append(dreq.Resources, dr)
	dresp, err := dreq.RequestWith(context.Background(), admin)
	if err != nil || len(dresp.Resources) != 1 {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range dresp.Resources[0].Configs {
		if c.Source == kmsg.ConfigSourceClientMetricsConfig {
			got[c.Name] = *c.Value
		}
	}
	if got["interval.ms"] != "1000" || got["match"] != "client_id=app-.*" || got["metrics"] != "org.apache.kafka.consumer." {
		t.Fatalf("after restart: %v", got)
	}
}
