package clientmetrics

import (
	"bytes"

	"github.com/klauspost/compress/zstd"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// Encode makes a PushTelemetry payload of points as gauges: OTLP
// MetricsData compressed with zstd (CompressionType 4), as a client
// sends it. Tests and load generators use it to push like a client.
func Encode(points []Point) ([]byte, error) {
	ms := make([]*metricspb.Metric, 0, len(points))
	for _, p := range points {
		var kv []*commonpb.KeyValue
		for k, v := range p.Attrs {
			kv = append(kv, &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}})
		}
		dp := &metricspb.NumberDataPoint{Attributes: kv, Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: p.Value}}
		if !p.Time.IsZero() {
			dp.TimeUnixNano = uint64(p.Time.UnixNano())
		}
		ms = append(ms, &metricspb.Metric{Name: p.Name, Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{dp}}}})
	}
	raw, err := proto.Marshal(&metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: ms}}}}})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		return nil, err
	}
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
