package broker

import (
	"github.com/rewindhq/rewind/internal/series"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Prometheus figures. Each Broker has its own registry (nothing global), so
// several brokers in one process, as in tests, never clash. Two kinds:
//
//   - counters and histograms updated on the request path: bytes and records
//     in, bytes out, request latency per API, fsync latency;
//   - everything else computed when scraped, from the catalog, the logs and
//     the group coordinator (collector below): partitions, log sizes,
//     connections, and the consumer-group series under kafka_exporter's
//     names and labels, so dashboards built for it work unchanged, plus
//     Burrow's verdicts under burrow_exporter's names.
//
// Nothing polls: a scrape costs a walk over partitions and groups and, for
// each lagging partition, one small read to date its first unconsumed record.

// BurrowCluster is the value of the cluster label of the kafka_burrow_*
// series.
const BurrowCluster = "rewind"

type metrics struct {
	reg       *prometheus.Registry
	bytesIn   *prometheus.CounterVec
	recordsIn *prometheus.CounterVec
	bytesOut  *prometheus.CounterVec
	requests  *prometheus.HistogramVec
	fsync     prometheus.Histogram

	// apiTimers: each served API's series of requests, resolved once at
	// start (WithLabelValues hashes the label and locks the vector each
	// call).
	apiTimers map[int16]prometheus.Observer
}

var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newMetrics(b *Broker) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_bytes_in_total", Help: "Record batch bytes appended by Produce, per topic.",
		}, []string{"topic"}),
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_records_in_total", Help: "Records appended by Produce, per topic (idempotent retries not counted twice).",
		}, []string{"topic"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_bytes_out_total", Help: "Record batch bytes sent in Fetch responses, per topic.",
		}, []string{"topic"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rewind_request_duration_seconds", Help: "Time from reading a request to its response being ready, per API (long polls and rebalances included).",
			Buckets: latencyBuckets,
		}, []string{"api"}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rewind_storage_fsync_duration_seconds", Help: "Duration of each fsync (segments, indexes, directories).",
			Buckets: latencyBuckets,
		}),
		apiTimers: make(map[int16]prometheus.Observer, len(apis)),
	}
	for key := range apis {
		m.apiTimers[key] = m.requests.WithLabelValues(kmsg.NameForKey(key))
	}
	m.reg.MustRegister(m.bytesIn, m.recordsIn, m.bytesOut, m.requests, m.fsync,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{b: b, times: map[recordKey]int64{}})
	m.reg.MustRegister(partitionMetrics(b)...)
	return m
}

// Metrics returns the broker's Prometheus registry, for an HTTP handler.
func (b *Broker) Metrics() prometheus.Gatherer { return b.met.reg }

// request starts timing one request of a served API (a key of apis); the
// returned function records it.
func (m *metrics) request(key int16) func() {
	start := time.Now()
	o := m.apiTimers[key]
	return func() { o.Observe(time.Since(start).Seconds()) }
}

func (m *metrics) produced(topic string, bytes int, res storage.AppendResult) {
	if res.Duplicate {
		return
	}
	m.bytesIn.WithLabelValues(topic).Add(float64(bytes))
	m.recordsIn.WithLabelValues(topic).Add(float64(res.LastOffset - res.BaseOffset + 1))
}

// countFetch wraps a deferred fetch to count the bytes of the response it
// finally sends.
func (m *metrics) countFetch(f func() (kmsg.Response, error)) func() (kmsg.Response, error) {
	return func() (kmsg.Response, error) {
		resp, err := f()
		if err == nil {
			fetchedBytes(resp, func(topic string, n int64) {
				if n > 0 {
					m.bytesOut.WithLabelValues(topic).Add(float64(n))
				}
			})
		}
		return resp, err
	}
}

// timedFS times every fsync of the file system it wraps.
type timedFS struct {
	vfs.FS
	h prometheus.Histogram
}

func (fs timedFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := fs.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return timedFile{f, fs.h}, nil
}

func (fs timedFS) SyncDir(name string) error {
	start := time.Now()
	err := fs.FS.SyncDir(name)
	fs.h.Observe(time.Since(start).Seconds())
	return err
}

type timedFile struct {
	vfs.File
	h prometheus.Histogram
}

// Unwrap lets vfs.OSFile find the OS file, for sendfile.
func (f timedFile) Unwrap() vfs.File { return f.File }

func (f timedFile) Sync() error {
	start := time.Now()
	err := f.File.Sync()
	f.h.Observe(time.Since(start).Seconds())
	return err
}

// collector computes the scrape-time series.
type collector struct {
	b *Broker

	mu    sync.Mutex          // serializes scrapes and guards times
	times map[recordKey]int64 // timestamp of the record at an offset, cached
}

type recordKey struct {
	topic     string
	partition int32
	offset    int64
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descConnections  = desc("rewind_connections", "Open client connections.")
	descPartitions   = desc("rewind_partitions", "Partitions of all topics, internal ones included.")
	descLogSize      = desc("rewind_log_size_bytes", "Bytes on disk of a partition's segments.", "topic", "partition")
	descFetchPos     = desc("rewind_fetch_positions", "Entries (client id, client host, topic, partition) of the fetch positions the rebalance timeline reads.")
	descFetchPosMax  = desc("rewind_fetch_positions_max", "The most fetch-position entries kept; past it the least recently fetched is evicted.")
	descFetchPosEv   = desc("rewind_fetch_positions_evicted_total", "Fetch-position entries evicted at the bound.")
	descLogStorageOK = desc("rewind_log_healthy", "1 while a partition's log is usable, 0 once a storage error fenced it.", "topic", "partition")
	// kafka_exporter's and burrow_exporter's series, and the group type and
	// epoch ones, are package series's, shared with rewind monitor.
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range append([]*prometheus.Desc{descConnections, descFetchPos, descFetchPosMax, descFetchPosEv, descPartitions, descLogSize, descLogStorageOK, descCGTimeToLoss}, series.All...) {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.b
	now := time.Now()

	b.connMu.Lock()
	gauge(ch, descConnections, float64(len(b.conns)))
	b.connMu.Unlock()
	fp := b.FetchPositions()
	gauge(ch, descFetchPos, float64(fp.Entries))
	gauge(ch, descFetchPosMax, float64(fp.Max))
	ch <- prometheus.MustNewConstMetric(descFetchPosEv, prometheus.CounterValue, float64(fp.Evicted))
	gauge(ch, series.Brokers, 1)
	if b.addr != "" {
		gauge(ch, series.BrokerInfo, 1, strconv.Itoa(int(b.cfg.NodeID)), b.advertised())
	}

	topics := b.snapshotTopics()
	hw := map[lageval.TopicPartition]int64{}
	nparts := 0
	for _, t := range topics {
		gauge(ch, series.TopicPartitions, float64(len(t.parts)), t.name)
		for p, l := range t.parts {
			nparts++
			ps := strconv.Itoa(p)
			h := l.HighWatermark()
			hw[lageval.TopicPartition{Topic: t.name, Partition: int32(p)}] = h
			gauge(ch, series.TopicCurrent, float64(h), t.name, ps)
			gauge(ch, series.TopicOldest, float64(l.LogStartOffset()), t.name, ps)
			gauge(ch, series.TopicLeader, float64(b.cfg.NodeID), t.name, ps)
			gauge(ch, series.TopicReplicas, 1, t.name, ps)
			gauge(ch, series.TopicISR, 1, t.name, ps)
			gauge(ch, series.TopicPreferred, 1, t.name, ps)
			gauge(ch, series.TopicUnderRepl, 0, t.name, ps)
			gauge(ch, descLogSize, float64(l.Size()), t.name, ps)
			healthy := 1.0
			if l.Err() != nil {
				healthy = 0
			}
			gauge(ch, descLogStorageOK, healthy, t.name, ps)
		}
	}
	gauge(ch, descPartitions, float64(nparts))
	if b.grp == nil {
		return
	}

	seen := map[recordKey]bool{}
	statuses := &groupStatuses{b: b}
	kinds := b.groupKinds() // metrics_groups.go
	collectGroupKinds(ch, kinds)
	for name, k := range kinds {
		gauge(ch, series.CGMembers, float64(k.members), name)
		committed := b.grp.Committed(name)
		for topic, parts := range committed {
			t := findTopic(topics, topic)
			if t == nil {
				continue // committed to a deleted topic
			}
			var offSum, lagSum int64
			for p := range t.parts {
				ps := strconv.Itoa(p)
				o, ok := parts[int32(p)]
				if !ok {
					// kafka_exporter shows partitions of a consumed topic
					// without a commit as -1, "to be able to alert on that".
					offSum--
					gauge(ch, series.CGCurrent, -1, name, topic, ps)
					gauge(ch, series.CGLag, -1, name, topic, ps)
					continue
				}
				h := hw[lageval.TopicPartition{Topic: topic, Partition: int32(p)}]
				lag := lageval.Lag(h, o.Offset)
				offSum += o.Offset
				lagSum += lag
				gauge(ch, series.CGCurrent, float64(o.Offset), name, topic, ps)
				gauge(ch, series.CGLag, float64(lag), name, topic, ps)
				var first time.Time
				if lag > 0 {
					from := lageval.FirstUnconsumed(o.Offset, t.parts[p].LogStartOffset())
					k := recordKey{topic, int32(p), from}
					seen[k] = true
					ts, ok := c.times[k]
					if !ok {
						if rt, found := recordTime(t.parts[p], from); found {
							ts, ok = rt.UnixMilli(), true
							c.times[k] = ts
						}
					}
					if ok {
						first = time.UnixMilli(ts)
					}
				}
				d, ok := lageval.LagTime(lag, first, now)
				if !ok {
					continue // unreadable: leave the series out rather than lie
				}
				gauge(ch, series.CGLagSeconds, d.Seconds(), name, topic, ps)
				statuses.timeToLoss(ch, name, topic, p, t.parts[p], o.Offset, lag, d, now)
			}
			gauge(ch, series.CGCurrentSum, float64(offSum), name, topic)
			gauge(ch, series.CGLagSum, float64(lagSum), name, topic)
		}
	}
	for k := range c.times { // keep only what this scrape used
		if !seen[k] {
			delete(c.times, k)
		}
	}

	for _, name := range b.lag.Groups() {
		st := statuses.of(name)
		gauge(ch, series.BurrowStatus, float64(st.Status.Code()), BurrowCluster, name)
		gauge(ch, series.BurrowTotalLag, float64(st.TotalLag), BurrowCluster, name)
		for _, p := range st.Partitions {
			gauge(ch, series.BurrowPartStatus, float64(p.Status.Code()), BurrowCluster, name, p.Topic, strconv.Itoa(int(p.Partition)))
		}
	}
}

// topicLogs is a topic's name and logs at one moment.
type topicLogs struct {
	name     string
	internal bool
	parts    []*storage.Log
}

// snapshotTopics lists the published topics, sorted by name.
func (b *Broker) snapshotTopics() []topicLogs {
	ts := b.reg.all()
	out := make([]topicLogs, 0, len(ts))
	for _, t := range ts {
		out = append(out, topicLogs{t.meta.Name, t.meta.Internal, t.parts})
	}
	return out
}

func findTopic(ts []topicLogs, name string) *topicLogs {
	for i := range ts {
		if ts[i].name == name {
			return &ts[i]
		}
	}
	return nil
}

// recordTime returns the timestamp of the first record at or after offset
// below the high watermark.
func recordTime(l *storage.Log, offset int64) (time.Time, bool) {
	recs, err := readRecords(l, offset, 1, storage.PreviewLimits{MaxDecoded: storage.DecompressLimit(0)})
	if err != nil || len(recs) == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(recs[0].Timestamp), true
}

// readRecords reads up to max records from offset on, below the high
// watermark, keeping of each what lim allows (storage.PreviewRecords);
// transaction markers are not records to it.
func readRecords(l *storage.Log, offset int64, max int, lim storage.PreviewLimits) ([]storage.RecordPreview, error) {
	read := func(offset int64) ([]byte, error) {
		if offset >= l.HighWatermark() {
			return nil, nil
		}
		rr, err := l.Read(offset, 1<<20, true)
		if err != nil {
			return nil, err
		}
		defer rr.Release()
		return rr.AppendTo(nil)
	}
	// Transaction markers are passed over, as a consumer never sees them
	// (and as rewind monitor's browser does).
	return storage.PreviewRecords(storage.BatchSource{Read: read, SkipControl: true}, offset, max, lim)
}
