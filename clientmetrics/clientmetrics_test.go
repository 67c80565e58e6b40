package clientmetrics

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestParseAsKafka: the codes and messages Kafka 4.4 answered to the same
// IncrementalAlterConfigs of CLIENT_METRICS resources (probed on a real
// broker; test/differential compares them live).
func TestParseAsKafka(t *testing.T) {
	for _, c := range []struct {
		name string
		cfgs map[string]string
		err  *kerr.Error
		msg  string
	}{
		{"s", map[string]string{"metrics": "org.apache.kafka.consumer.", "interval.ms": "1000", "match": "client_software_name=apache-kafka-java"}, nil, ""},
		{"s", map[string]string{"interval.ms": "50"}, kerr.InvalidRequest, "Invalid value 50 for interval.ms, interval must be between 100 and 3600000 (1 hour)"},
		{"s", map[string]string{"interval.ms": "abc"}, kerr.InvalidConfig, "Invalid value abc for configuration interval.ms: Not a number of type INT"},
		{"s", map[string]string{"foo": "bar"}, kerr.InvalidRequest, "Unknown client metrics configuration: foo"},
		{"s", map[string]string{"match": "foo=bar"}, kerr.InvalidConfig, "Illegal client matching pattern: foo=bar"},
		{"s", map[string]string{"match": "client_id"}, kerr.InvalidConfig, "Illegal client matching pattern: client_id"},
		{"s", map[string]string{"match": "client_id=["}, kerr.InvalidConfig, "Illegal client matching pattern: client_id=["},
		{"s", map[string]string{"match": "client_id=a=b"}, kerr.InvalidConfig, "Illegal client matching pattern: client_id=a=b"},
		{"", map[string]string{"interval.ms": "1000"}, kerr.InvalidRequest, "Subscription name can't be empty"},
		{"s", map[string]string{"interval.ms": "3600001"}, kerr.InvalidRequest, "Invalid value 3600001 for interval.ms, interval must be between 100 and 3600000 (1 hour)"},
	} {
		_, err := Parse(c.name, c.cfgs)
		switch {
		case c.err == nil && err != nil:
			t.Errorf("%v: %v", c.cfgs, err)
		case c.err != nil && (err == nil || err.Err != c.err || err.Msg != c.msg):
			t.Errorf("%v: got %v, want %v %q", c.cfgs, err, c.err, c.msg)
		}
	}
}

func payload(t *testing.T, points map[string]float64, attrs map[string]string) []byte {
	t.Helper()
	var ps []Point
	for name, v := range points {
		ps = append(ps, Point{Name: name, Value: v, Attrs: attrs, Time: time.Now()})
	}
	b, err := Encode(ps)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSubscribeAndPush: a client matching a subscription is told its
// metrics and interval, pushes zstd OTLP, and its series are kept; a
// second Get within the interval is throttled; a push with a stale
// subscription id after a change is UNKNOWN_SUBSCRIPTION_ID; a client
// not matching is told to push nothing.
func TestSubscribeAndPush(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1000, 0)
	m.now = func() time.Time { return clock }
	if err := m.Set("java", map[string]string{"metrics": "org.apache.kafka.consumer.", "interval.ms": "1000", "match": "client_software_name=apache-kafka-java, client_id=app-.*"}, false); err != nil {
		t.Fatal(err)
	}
	java := ClientInfo{ClientID: "app-1", SoftwareName: "apache-kafka-java", SoftwareVersion: "4.4.0", Address: "127.0.0.1", Port: 5000}
	sub, serr := m.GetSubscriptions([16]byte{}, java)
	if serr != nil || sub.IntervalMs != 1000 || len(sub.Metrics) != 1 || sub.Metrics[0] != "org.apache.kafka.consumer." || sub.InstanceID == ([16]byte{}) {
		t.Fatalf("java client: %+v %v", sub, serr)
	}
	other, serr := m.GetSubscriptions([16]byte{}, ClientInfo{ClientID: "app-2", SoftwareName: "franz-go"})
	if serr != nil || len(other.Metrics) != 0 || other.IntervalMs != DefaultIntervalMs {
		t.Fatalf("unmatched client: %+v %v", other, serr)
	}
	if _, serr := m.GetSubscriptions(sub.InstanceID, java); serr == nil || serr.Err != kerr.ThrottlingQuotaExceeded {
		t.Fatalf("second get within the interval: %v", serr)
	}
	p := payload(t, map[string]float64{"org.apache.kafka.consumer.fetch.manager.fetch.latency.avg": 12.5}, map[string]string{"topic": "orders"})
	if perr := m.Push(sub.InstanceID, java, sub.SubscriptionID, false, 4, p); perr != nil {
		t.Fatal(perr)
	}
	if perr := m.Push(sub.InstanceID, java, sub.SubscriptionID, false, 4, p); perr == nil || perr.Err != kerr.ThrottlingQuotaExceeded {
		t.Fatalf("second push within the interval: %v", perr)
	}
	clock = clock.Add(1100 * time.Millisecond)
	if perr := m.Push(sub.InstanceID, java, sub.SubscriptionID, false, 9, p); perr == nil || perr.Err != kerr.UnsupportedCompressionType {
		t.Fatalf("codec 9: %v", perr)
	}
	cs := m.Clients()
	var got *Client
	for i := range cs {
		if cs[i].ClientID == "app-1" {
			got = &cs[i]
		}
	}
	if got == nil || got.Pushes != 1 || len(got.Series) != 1 || got.Series[0].Value != 12.5 || got.Series[0].Attrs["topic"] != "orders" {
		t.Fatalf("clients: %+v", cs)
	}
	// A change of subscriptions re-evaluates the instance: the old id is stale.
	if err := m.Set("java", map[string]string{"metrics": "*", "interval.ms": "2000"}, false); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2100 * time.Millisecond)
	if perr := m.Push(sub.InstanceID, java, sub.SubscriptionID, false, 4, p); perr == nil || perr.Err != kerr.UnknownSubscriptionID {
		t.Fatalf("push with the old subscription id: %v", perr)
	}
	// As Kafka: that push counted for the re-evaluated instance, so a Get
	// waits for the interval.
	if _, serr := m.GetSubscriptions(sub.InstanceID, java); serr == nil || serr.Err != kerr.ThrottlingQuotaExceeded {
		t.Fatalf("get right after the refused push: %v", serr)
	}
	clock = clock.Add(2 * time.Second)
	sub2, serr := m.GetSubscriptions(sub.InstanceID, java)
	if serr != nil || sub2.SubscriptionID == sub.SubscriptionID || len(sub2.Metrics) != 1 || sub2.Metrics[0] != "*" {
		t.Fatalf("after the change: %+v %v", sub2, serr)
	}
	if perr := m.Push(sub.InstanceID, java, sub2.SubscriptionID, true, 4, []byte("not zstd")); perr == nil || perr.Err != kerr.InvalidRecord {
		t.Fatalf("garbage payload: %v", perr)
	}
	if perr := m.Push(sub.InstanceID, java, sub2.SubscriptionID, false, 4, p); perr == nil || perr.Err != kerr.InvalidRequest {
		t.Fatalf("push after a terminating one: %v", perr)
	}
	if perr := m.Push([16]byte{}, java, 0, false, 0, nil); perr == nil || perr.Err != kerr.InvalidRequest {
		t.Fatalf("zero instance id: %v", perr)
	}

	// The subscriptions survive a restart; deleting every config removes one.
	m2, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c := m2.Configs("java"); c["metrics"] != "*" || c["interval.ms"] != "2000" {
		t.Fatalf("after reopen: %v", c)
	}
	if err := m2.Set("java", map[string]string{}, false); err != nil {
		t.Fatal(err)
	}
	m3, _ := Open(dir, 0)
	if n := m3.Names(); len(n) != 0 {
		t.Fatalf("after deleting every config: %v", n)
	}
}

// TestPushBounds: a push over telemetry.max.bytes is TELEMETRY_TOO_LARGE;
// a payload that decompresses past the limit is INVALID_RECORD; one
// instance keeps at most MaxSeries series and counts the rest.
func TestPushBounds(t *testing.T) {
	m, _ := Open("", 1000)
	m.Set("all", map[string]string{"metrics": "*", "interval.ms": "100"}, false)
	info := ClientInfo{ClientID: "c"}
	sub, _ := m.GetSubscriptions([16]byte{}, info)
	if perr := m.Push(sub.InstanceID, info, sub.SubscriptionID, false, 0, make([]byte, 1001)); perr == nil || perr.Err != kerr.TelemetryTooLarge {
		t.Fatalf("oversized push: %v", perr)
	}

	big, _ := Open("", 4<<20)
	big.Set("all", map[string]string{"metrics": "*", "interval.ms": "100"}, false)
	clock := time.Unix(1000, 0)
	big.now = func() time.Time { return clock }
	sub, _ = big.GetSubscriptions([16]byte{}, info)
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	zw.Write(make([]byte, maxDecoded+1))
	zw.Close()
	if perr := big.Push(sub.InstanceID, info, sub.SubscriptionID, false, 4, buf.Bytes()); perr == nil || perr.Err != kerr.InvalidRecord {
		t.Fatalf("decompression bomb: %v", perr)
	}
	points := map[string]float64{}
	for i := 0; i < MaxSeries+50; i++ {
		points["m"+string(rune('a'+i%26))+time.Duration(i).String()] = float64(i)
	}
	clock = clock.Add(time.Second)
	if perr := big.Push(sub.InstanceID, info, sub.SubscriptionID, false, 4, payload(t, points, nil)); perr != nil {
		t.Fatal(perr)
	}
	cs := big.Clients()
	if len(cs) != 1 || len(cs[0].Series) != MaxSeries || cs[0].DroppedSeries != 50 {
		t.Fatalf("series kept %d, dropped %d", len(cs[0].Series), cs[0].DroppedSeries)
	}
}

func TestOpenRefusesDamagedFile(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "clientmetrics"), 0o700)
	os.WriteFile(filepath.Join(dir, FileName), []byte(`{"version":1,"subscriptions":{"s":{"interval.ms":"5"}}}`), 0o600)
	if _, err := Open(dir, 0); err == nil {
		t.Fatal("a stored subscription with an invalid interval opened")
	}
}
