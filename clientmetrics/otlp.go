package clientmetrics

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/storage"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// Point is the latest value of one series a client pushed: a metric name
// and its data point attributes (topic, partition, node id...).
type Point struct {
	Name  string            `json:"name"`
	Attrs map[string]string `json:"attributes,omitempty"`
	Kind  string            `json:"kind"` // gauge, sum, or histogram (its count and sum)
	Value float64           `json:"value"`
	// Sum and Count of a histogram; Value is then the mean.
	Sum   float64   `json:"sum,omitempty"`
	Count uint64    `json:"count,omitempty"`
	Time  time.Time `json:"time"`
}

func (p Point) key() string {
	if len(p.Attrs) == 0 {
		return p.Name
	}
	ks := make([]string, 0, len(p.Attrs))
	for k := range p.Attrs {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	b.WriteString(p.Name)
	for _, k := range ks {
		b.WriteString("\x00" + k + "=" + p.Attrs[k])
	}
	return b.String()
}

// AttrString is the attributes as k=v pairs, sorted, comma separated.
func (p Point) AttrString() string {
	ks := make([]string, 0, len(p.Attrs))
	for k := range p.Attrs {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for i, k := range ks {
		ks[i] = k + "=" + p.Attrs[k]
	}
	return strings.Join(ks, ",")
}

// maxPoints bounds the data points one push yields: more than MaxSeries
// cannot be kept anyway.
const maxPoints = 4 * MaxSeries

// decode reads a push payload: codec-compressed OTLP MetricsData
// (KIP-714), as the Java client and librdkafka send it.
func decode(codec int, payload []byte) ([]Point, error) {
	raw, err := storage.Decompress(codec, payload, maxDecoded)
	if err != nil {
		return nil, err
	}
	var md metricspb.MetricsData
	if err := proto.Unmarshal(raw, &md); err != nil {
		return nil, fmt.Errorf("not OTLP metrics: %w", err)
	}
	var out []Point
	add := func(p Point) bool {
		if len(out) >= maxPoints {
			return false
		}
		out = append(out, p)
		return true
	}
	for _, rm := range md.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if !decodeMetric(m, add) {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

func decodeMetric(m *metricspb.Metric, add func(Point) bool) bool {
	number := func(kind string, dps []*metricspb.NumberDataPoint) bool {
		for _, dp := range dps {
			v := dp.GetAsDouble()
			if _, ok := dp.Value.(*metricspb.NumberDataPoint_AsInt); ok {
				v = float64(dp.GetAsInt())
			}
			if !add(Point{Name: m.Name, Attrs: kvs(dp.Attributes), Kind: kind, Value: v, Time: nanos(dp.TimeUnixNano)}) {
				return false
			}
		}
		return true
	}
	switch d := m.Data.(type) {
	case *metricspb.Metric_Gauge:
		return number("gauge", d.Gauge.DataPoints)
	case *metricspb.Metric_Sum:
		return number("sum", d.Sum.DataPoints)
	case *metricspb.Metric_Histogram:
		for _, dp := range d.Histogram.DataPoints {
			p := Point{Name: m.Name, Attrs: kvs(dp.Attributes), Kind: "histogram", Sum: dp.GetSum(), Count: dp.Count, Time: nanos(dp.TimeUnixNano)}
			if dp.Count > 0 {
				p.Value = p.Sum / float64(dp.Count)
			}
			if !add(p) {
				return false
			}
		}
	}
	return true
}

func nanos(n uint64) time.Time {
	if n == 0 || n > math.MaxInt64 {
		return time.Time{}
	}
	return time.Unix(0, int64(n)).UTC()
}

// maxAttrLen bounds an attribute's key and value as kept.
const maxAttrLen = 256

func kvs(kv []*commonpb.KeyValue) map[string]string {
	if len(kv) == 0 {
		return nil
	}
	out := make(map[string]string, len(kv))
	for _, a := range kv {
		var v string
		switch x := a.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			v = x.StringValue
		case *commonpb.AnyValue_IntValue:
			v = strconv.FormatInt(x.IntValue, 10)
		case *commonpb.AnyValue_DoubleValue:
			v = strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
		case *commonpb.AnyValue_BoolValue:
			v = strconv.FormatBool(x.BoolValue)
		default:
			continue
		}
		out[trunc(a.Key)] = trunc(v)
	}
	return out
}

func trunc(s string) string {
	if len(s) > maxAttrLen {
		return s[:maxAttrLen]
	}
	return s
}
