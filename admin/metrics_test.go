package admin

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scrape GETs /metrics and parses the text format.
func (e *env) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// series returns the value of name with exactly these labels, and whether
// it exists.
func series(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		for _, l := range m.Label {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func labelNames(mf *dto.MetricFamily) string {
	if mf == nil || len(mf.Metric) == 0 {
		return ""
	}
	var names []string
	for _, l := range mf.Metric[0].Label {
		names = append(names, l.GetName())
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// TestMetricsKafkaExporterSeries scrapes /metrics over HTTP after known
// produces and commits and checks the series dashboards built for
// kafka_exporter read: names, labels and values.
func TestMetricsKafkaExporterSeries(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 3)
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	old := time.Now().Add(-90 * time.Second)
	var recs []*kgo.Record
	for p, n := range []int{10, 7, 0} {
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: "orders", Partition: int32(p), Value: []byte("v"), Timestamp: old.Add(time.Duration(i) * time.Second)})
		}
	}
	e.produce(t, cl, recs...)
	// billing: 4 of 10 on partition 0 (lag 6, the first unconsumed record
	// written ~86s ago), all 7 on partition 1, nothing on partition 2.
	e.commitNow(t, "billing", "orders", map[int32]int64{0: 4, 1: 7})
	e.member(t, "audit", "orders", "audit-consumer")

	// Fetch something so bytes out moves.
	fcl := e.client(t, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if fs := fcl.PollRecords(ctxT(t), 5); fs.NumRecords() == 0 {
		t.Fatalf("fetch: %v", fs.Errors())
	}

	mfs := e.scrape(t)
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"kafka_brokers", map[string]string{}, 1},
		{"kafka_topic_partitions", map[string]string{"topic": "orders"}, 3},
		{"kafka_topic_partition_current_offset", map[string]string{"topic": "orders", "partition": "0"}, 10},
		{"kafka_topic_partition_current_offset", map[string]string{"topic": "orders", "partition": "1"}, 7},
		{"kafka_topic_partition_current_offset", map[string]string{"topic": "orders", "partition": "2"}, 0},
		{"kafka_topic_partition_oldest_offset", map[string]string{"topic": "orders", "partition": "0"}, 0},
		{"kafka_topic_partition_replicas", map[string]string{"topic": "orders", "partition": "0"}, 1},
		{"kafka_topic_partition_under_replicated_partition", map[string]string{"topic": "orders", "partition": "0"}, 0},
		{"kafka_consumergroup_current_offset", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "0"}, 4},
		{"kafka_consumergroup_current_offset", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "1"}, 7},
		// kafka_exporter reports a consumed topic's partitions without a commit as -1.
		{"kafka_consumergroup_current_offset", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "2"}, -1},
		{"kafka_consumergroup_lag", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "0"}, 6},
		{"kafka_consumergroup_lag", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "1"}, 0},
		{"kafka_consumergroup_lag", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "2"}, -1},
		{"kafka_consumergroup_lag_sum", map[string]string{"consumergroup": "billing", "topic": "orders"}, 6},
		{"kafka_consumergroup_current_offset_sum", map[string]string{"consumergroup": "billing", "topic": "orders"}, 10},
		{"kafka_consumergroup_members", map[string]string{"consumergroup": "billing"}, 0},
		{"kafka_consumergroup_members", map[string]string{"consumergroup": "audit"}, 1},
		{"kafka_consumergroup_lag_seconds", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "1"}, 0},
		{"rewind_records_in_total", map[string]string{"topic": "orders"}, 17},
		{"kafka_burrow_total_lag", map[string]string{"cluster": "rewind", "group": "billing"}, 6},
	}
	for _, w := range want {
		got, ok := series(mfs, w.name, w.labels)
		if !ok {
			t.Errorf("%s%v missing (labels seen: %s)", w.name, w.labels, labelNames(mfs[w.name]))
			continue
		}
		if got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	// Label sets exactly as kafka_exporter's.
	for name, labels := range map[string]string{
		"kafka_consumergroup_current_offset":   "consumergroup,partition,topic",
		"kafka_consumergroup_lag":              "consumergroup,partition,topic",
		"kafka_consumergroup_lag_sum":          "consumergroup,topic",
		"kafka_consumergroup_members":          "consumergroup",
		"kafka_topic_partition_current_offset": "partition,topic",
		"kafka_topic_partition_oldest_offset":  "partition,topic",
		"kafka_consumergroup_lag_seconds":      "consumergroup,partition,topic",
	} {
		if got := labelNames(mfs[name]); got != labels {
			t.Errorf("%s labels %q, want %q", name, got, labels)
		}
		if mfs[name].GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s is %v, want a gauge", name, mfs[name].GetType())
		}
	}
	// The first unconsumed record of partition 0 is offset 4, written at old+4s.
	lagSec, ok := series(mfs, "kafka_consumergroup_lag_seconds", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "0"})
	if wantMin := time.Since(old.Add(4*time.Second)).Seconds() - 5; !ok || lagSec < wantMin || lagSec > wantMin+60 {
		t.Errorf("lag_seconds of billing orders/0 = %v (present %v), want about %v", lagSec, ok, wantMin+5)
	}
	// Burrow: billing committed once with lag on partition 0.
	if st, ok := series(mfs, "kafka_burrow_status", map[string]string{"cluster": "rewind", "group": "billing"}); !ok || st < 2 {
		t.Errorf("kafka_burrow_status of billing = %v (present %v)", st, ok)
	}
	// Broker figures.
	for _, name := range []string{"rewind_bytes_in_total", "rewind_bytes_out_total"} {
		if v, ok := series(mfs, name, map[string]string{"topic": "orders"}); !ok || v <= 0 {
			t.Errorf("%s{topic=orders} = %v (present %v)", name, v, ok)
		}
	}
	for _, api := range []string{"Produce", "Fetch", "OffsetCommit", "JoinGroup", "Metadata"} {
		if n, ok := series(mfs, "rewind_request_duration_seconds", map[string]string{"api": api}); !ok || n < 1 {
			t.Errorf("rewind_request_duration_seconds{api=%q} count = %v (present %v)", api, n, ok)
		}
	}
	if n, ok := series(mfs, "rewind_storage_fsync_duration_seconds", map[string]string{}); !ok || n < 1 {
		t.Errorf("fsync histogram count = %v (present %v)", n, ok)
	}
	if v, ok := series(mfs, "rewind_connections", map[string]string{}); !ok || v < 1 {
		t.Errorf("rewind_connections = %v (present %v)", v, ok)
	}
	// The fetch positions of the rebalance timeline, and their bound.
	if v, ok := series(mfs, "rewind_fetch_positions", map[string]string{}); !ok || v < 1 {
		t.Errorf("rewind_fetch_positions = %v (present %v)", v, ok)
	}
	if v, ok := series(mfs, "rewind_fetch_positions_max", map[string]string{}); !ok || v != 65536 {
		t.Errorf("rewind_fetch_positions_max = %v (present %v)", v, ok)
	}
	if v, ok := series(mfs, "rewind_fetch_positions_evicted_total", map[string]string{}); !ok || v != 0 {
		t.Errorf("rewind_fetch_positions_evicted_total = %v (present %v)", v, ok)
	}
	if v, ok := series(mfs, "rewind_log_size_bytes", map[string]string{"topic": "orders", "partition": "0"}); !ok || v <= 0 {
		t.Errorf("rewind_log_size_bytes orders/0 = %v (present %v)", v, ok)
	}
	if _, ok := series(mfs, "go_goroutines", map[string]string{}); !ok {
		t.Error("Go runtime collector missing")
	}
}

// TestMetricsBurrowScenario checks the kafka_burrow_* series and the JSON
// verdicts on the 90-minute scenario: each group gets the status its commit
// history calls for.
func TestMetricsBurrowScenario(t *testing.T) {
	e := newEnv(t)
	end := e.seedScenario(t, time.Now())
	mfs := e.scrape(t)
	for group, want := range map[string]string{"billing": "ERR", "shipping": "OK", "fraud-check": "WARN", "payments-replay": "ERR"} {
		v, ok := series(mfs, "kafka_burrow_status", map[string]string{"cluster": "rewind", "group": group})
		code := map[string]float64{"OK": 2, "WARN": 3, "ERR": 4}[want]
		if !ok || v != code {
			t.Errorf("kafka_burrow_status{group=%q} = %v (present %v), want %v (%s)", group, v, ok, code, want)
		}
	}
	for p, want := range map[string]float64{"0": 5, "1": 5, "2": 5} { // STOP
		if v, _ := series(mfs, "kafka_burrow_partition_status", map[string]string{"cluster": "rewind", "group": "billing", "topic": "orders", "partition": p}); v != want {
			t.Errorf("billing orders/%s partition status %v, want %v (STOP)", p, v, want)
		}
	}
	if v, _ := series(mfs, "kafka_burrow_partition_status", map[string]string{"cluster": "rewind", "group": "payments-replay", "topic": "payments", "partition": "0"}); v != 7 {
		t.Errorf("payments-replay partition status %v, want 7 (REWIND)", v)
	}
	// billing stopped 40 minutes ago: 40 minutes of records behind, plus
	// the few it was behind then.
	lag, _ := series(mfs, "kafka_consumergroup_lag", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "0"})
	if lag < 40*12 || lag > 41*12+3 {
		t.Errorf("billing orders/0 lag %v, want about %d", lag, 40*12+3)
	}
	cur, _ := series(mfs, "kafka_topic_partition_current_offset", map[string]string{"topic": "orders", "partition": "0"})
	if cur != float64(end[0]) {
		t.Errorf("orders/0 current offset %v, want %d", cur, end[0])
	}
	secs, _ := series(mfs, "kafka_consumergroup_lag_seconds", map[string]string{"consumergroup": "billing", "topic": "orders", "partition": "0"})
	if secs < 40*60-90 || secs > 41*60+60 {
		t.Errorf("billing lag_seconds %v, want about 40 minutes", secs)
	}
}
