package broker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewindhq/rewind/clientmetrics"
)

// maxClientSeriesExposed bounds the client telemetry samples one scrape
// carries: clients choose their metric names and attributes, and a
// scrape must stay small whatever they push. The rest are counted in
// rewind_client_telemetry_series_not_exposed.
const maxClientSeriesExposed = 20000

var (
	clientTelemetryDesc = prometheus.NewDesc("rewind_client_telemetry",
		"The latest value of a metric a client pushed (KIP-714 client telemetry; a histogram's mean), by the metric's OTLP name and data point attributes.",
		[]string{"client_id", "client_instance_id", "client_software_name", "metric", "attributes"}, nil)
	clientPushesDesc = prometheus.NewDesc("rewind_client_telemetry_pushes_total",
		"PushTelemetry requests accepted from a client instance.",
		[]string{"client_id", "client_instance_id", "client_software_name"}, nil)
	clientNotExposedDesc = prometheus.NewDesc("rewind_client_telemetry_series_not_exposed",
		"Client telemetry series left out of this scrape (more than 20000), or not kept (more than 2000 for one client).", nil, nil)
)

// clientMetricsCollector exposes what clients push (package clientmetrics).
type clientMetricsCollector struct{ cm *clientmetrics.Manager }

func (c clientMetricsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clientTelemetryDesc
	ch <- clientPushesDesc
	ch <- clientNotExposedDesc
}

func (c clientMetricsCollector) Collect(ch chan<- prometheus.Metric) {
	exposed, left := 0, int64(0)
	// A label value that is not UTF-8 is refused by NewConstMetric (the
	// sample is left out); two series whose labels print alike (attributes
	// holding ',' or '=') would fail the whole scrape, so only the first
	// is exposed.
	type seriesKey struct{ instance, metric, attrs string }
	seen := map[seriesKey]bool{}
	for _, cl := range c.cm.Clients() {
		if m, err := prometheus.NewConstMetric(clientPushesDesc, prometheus.CounterValue, float64(cl.Pushes), cl.ClientID, cl.InstanceID, cl.SoftwareName); err == nil {
			ch <- m
		}
		left += cl.DroppedSeries
		for _, p := range cl.Series {
			k := seriesKey{cl.InstanceID, p.Name, p.AttrString()}
			if exposed >= maxClientSeriesExposed || seen[k] {
				left++
				continue
			}
			m, err := prometheus.NewConstMetric(clientTelemetryDesc, prometheus.GaugeValue, p.Value, cl.ClientID, cl.InstanceID, cl.SoftwareName, k.metric, k.attrs)
			if err != nil {
				left++
				continue
			}
			seen[k] = true
			exposed++
			ch <- m
		}
	}
	ch <- prometheus.MustNewConstMetric(clientNotExposedDesc, prometheus.GaugeValue, float64(left))
}
