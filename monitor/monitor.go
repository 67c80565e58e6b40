package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is what a Monitor watches and how.
type Config struct {
	// Brokers are the seed brokers of the cluster (host:port).
	Brokers []string
	// Opts are appended to every kgo client the monitor builds: TLS, SASL,
	// the CLI's client options.
	Opts []kgo.Opt
	// StatePath is the local state file (empty: none): commit history and
	// Burrow windows, saved atomically every StateEvery and at Close, read
	// at start, so history outlives __consumer_offsets' compaction.
	StatePath  string
	StateEvery time.Duration
	// Poll is how often metadata, log bounds and groups are read (default
	// 10 s).
	Poll time.Duration
	// Lag configures the Burrow evaluation (lageval defaults when zero).
	Lag lageval.Config
	// HistoryPerPartition caps the superseded positions kept per group and
	// partition (default 32); HistoryRetention drops those superseded
	// longer ago (default 7 days, as the broker's
	// --offsets-history-retention).
	HistoryPerPartition int
	HistoryRetention    time.Duration
	Logger              *slog.Logger
}

func (c *Config) normalize() {
	if c.Poll <= 0 {
		c.Poll = 10 * time.Second
	}
	if c.StateEvery <= 0 {
		c.StateEvery = 30 * time.Second
	}
	if c.HistoryPerPartition <= 0 {
		c.HistoryPerPartition = 32
	}
	if c.HistoryRetention <= 0 {
		c.HistoryRetention = 7 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Monitor watches one Kafka cluster through the wire protocol and serves
// what package admin asks of a broker (it implements admin.Broker).
type Monitor struct {
	cfg  Config
	log  *slog.Logger
	cl   *kgo.Client // requests: metadata, offsets, groups, fetches of one record
	adm  *kadm.Client
	cons *kgo.Client // reads __consumer_offsets from its start
	prod *kgo.Client // the console's produce, to the partition it names
	rec  *lageval.Recorder
	reg  *prometheus.Registry

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	groups map[string]*gstate
	names  map[string]string // interned group and topic names
	view   *clusterView      // the last poll; replaced whole, never changed
	// times caches the timestamp of a partition's record at an offset
	// (the first record a group has not read), kept while some group
	// still sits there.
	times map[timeKey]int64
	// replay: the end of each __consumer_offsets partition when the
	// monitor started; until the consumer reaches them all, Ready says
	// it is still reading history.
	replayEnds map[int32]int64
	consumed   map[int32]int64
	caughtUp   bool
	pollErr    error
	dirty      bool // state changed since the last save
	// unknownLag: some window holds commits whose lag is not known yet
	// (replayed, or read from the state file): the next poll estimates
	// them.
	unknownLag bool
}

// New connects to the cluster, loads the state file and starts reading
// __consumer_offsets and polling. It fails if no broker answers within
// ctx.
func New(ctx context.Context, cfg Config) (*Monitor, error) {
	cfg.normalize()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("monitor: no broker address given")
	}
	base := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("rewind-monitor"),
		kgo.DialTimeout(5 * time.Second),
		kgo.MetadataMinAge(time.Second),
		kgo.RetryTimeout(15 * time.Second),
	}, cfg.Opts...)
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("monitor: no broker reachable at %s: %w", strings.Join(cfg.Brokers, ","), err)
	}
	m := &Monitor{cfg: cfg, log: cfg.Logger, cl: cl, adm: kadm.NewClient(cl), rec: lageval.NewRecorder(cfg.Lag),
		groups: map[string]*gstate{}, names: map[string]string{}, times: map[timeKey]int64{}, view: &clusterView{}}
	if cfg.StatePath != "" {
		if err := m.loadState(cfg.StatePath); err != nil {
			cl.Close()
			return nil, err
		}
	}
	m.reg = prometheus.NewRegistry()
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &collector{m: m})

	// The ends of __consumer_offsets now: reading up to them is replaying
	// history, after them commits are seen as they happen.
	ends, err := m.adm.ListEndOffsets(ctx, offsetsfmt.Topic)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("monitor: list the ends of %s: %w", offsetsfmt.Topic, err)
	}
	m.replayEnds, m.consumed = map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			m.replayEnds[o.Partition] = o.Offset
		}
	})
	m.caughtUp = len(m.replayEnds) == 0
	cons, err := kgo.NewClient(append(append([]kgo.Opt{}, base...),
		kgo.ConsumeTopics(offsetsfmt.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Offsets committed in a transaction count only once it commits
		// (the coordinator applies them at the marker); aborted ones are
		// skipped by the read_committed fetch.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(16<<20),
		// Control records are kept (and skipped when applied) so that the
		// position reaches a partition's end when its last records are
		// transaction markers: that is how replaying is known to be over.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("monitor: %w", err)
	}
	m.cons = cons
	if m.prod, err = kgo.NewClient(append(append([]kgo.Opt{}, base...), kgo.RecordPartitioner(kgo.ManualPartitioner()))...); err != nil {
		cons.Close()
		cl.Close()
		return nil, fmt.Errorf("monitor: %w", err)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if err := m.poll(ctx); err != nil {
		m.log.Warn("first poll failed; retrying", "err", err)
	}
	m.wg.Add(3)
	go m.consume()
	go m.pollLoop()
	go m.saveLoop()
	return m, nil
}

// Close stops reading, saves the state file and closes the clients.
func (m *Monitor) Close() error {
	m.cancel()
	m.cons.Close() // unblocks PollFetches
	m.wg.Wait()
	var err error
	if m.cfg.StatePath != "" {
		err = m.saveState(m.cfg.StatePath)
	}
	m.prod.Close()
	m.cl.Close()
	return err
}

func (m *Monitor) pollLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(m.ctx, 2*m.cfg.Poll+30*time.Second)
		err := m.poll(ctx)
		cancel()
		if err != nil && m.ctx.Err() == nil {
			m.log.Warn("poll failed", "err", err)
		}
	}
}

func (m *Monitor) saveLoop() {
	defer m.wg.Done()
	if m.cfg.StatePath == "" {
		return
	}
	t := time.NewTicker(m.cfg.StateEvery)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		if err := m.saveState(m.cfg.StatePath); err != nil {
			m.log.Warn("saving the state file failed", "path", m.cfg.StatePath, "err", err)
		}
	}
}

// consume reads __consumer_offsets and applies every record.
func (m *Monitor) consume() {
	defer m.wg.Done()
	for {
		fs := m.cons.PollFetches(m.ctx)
		if m.ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				m.log.Debug("reading __consumer_offsets", "partition", p, "err", err)
			}
		})
		m.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			m.applyLocked(r)
			m.consumed[r.Partition] = r.Offset + 1
		})
		if !m.caughtUp {
			m.caughtUp = true
			for p, end := range m.replayEnds {
				if m.consumed[p] < end {
					m.caughtUp = false
				}
			}
		}
		m.mu.Unlock()
	}
}

// intern returns one shared copy of s: every commit record decodes its
// group and topic afresh, and 100,000 partitions of 10,000 groups would
// otherwise keep as many copies.
func (m *Monitor) intern(s string) string {
	if v, ok := m.names[s]; ok {
		return v
	}
	m.names[s] = s
	return s
}
