package admin

import (
	"testing"

	"github.com/rewindhq/rewind/clientmetrics"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClientsView: a client subscribed by a CLIENT_METRICS resource
// pushes its own lag per partition; GET /api/v1/clients shows it under its
// client id and software with that series; a backend that receives no
// telemetry (the monitor of a remote cluster) answers 501.
func TestClientsView(t *testing.T) {
	e := newEnv(t)
	admin := e.client(t)
	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeClientMetrics, "all"
	for k, v := range map[string]string{"metrics": "*", "interval.ms": "1000"} {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = k, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(v)
		rr.Configs = append(rr.Configs, c)
	}
	alter.Resources = append(alter.Resources, rr)
	if resp, err := alter.RequestWith(ctxT(t), admin); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("subscribe: %v %+v", err, resp)
	}
	app := e.client(t, kgo.ClientID("billing-consumer"))
	sub, err := kmsg.NewPtrGetTelemetrySubscriptionsRequest().RequestWith(ctxT(t), app)
	if err != nil || sub.ErrorCode != 0 {
		t.Fatalf("get subscriptions: %v %+v", err, sub)
	}
	payload, err := clientmetrics.Encode([]clientmetrics.Point{{Name: "org.apache.kafka.consumer.fetch.manager.records.lag", Value: 17, Attrs: map[string]string{"topic": "orders", "partition": "3"}}})
	if err != nil {
		t.Fatal(err)
	}
	push := kmsg.NewPtrPushTelemetryRequest()
	push.ClientInstanceID, push.SubscriptionID, push.CompressionType, push.Metrics = sub.ClientInstanceID, sub.SubscriptionID, 4, payload
	if resp, err := push.RequestWith(ctxT(t), app); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("push: %v %+v", err, resp)
	}

	var v clientsView
	if code := e.get(t, "/api/v1/clients", &v); code != 200 {
		t.Fatalf("GET /api/v1/clients: %d", code)
	}
	var found bool
	for _, c := range v.Clients {
		if c.ClientID != "billing-consumer" {
			continue
		}
		found = true
		if c.SoftwareName != "kgo" || c.Pushes != 1 || len(c.Series) != 1 || c.Series[0].Value != 17 || c.Series[0].Attrs["partition"] != "3" {
			t.Fatalf("client: %+v", c)
		}
	}
	if !found {
		t.Fatalf("billing-consumer not listed: %+v", v.Clients)
	}

	remote := newEnvWith(t, e.b, noTelemetry{e.b.AdminAPI()})
	if code := remote.get(t, "/api/v1/clients", nil); code != 501 {
		t.Fatalf("a backend without telemetry: %d, want 501", code)
	}
}

// noTelemetry is a Broker that hides the broker's ClientTelemetry, as a
// remote backend has none.
type noTelemetry struct{ Broker }
