package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/storage/vfs"
)

// OffsetsTopic is the internal topic holding committed offsets and group
// metadata in Kafka's own record format.
const OffsetsTopic = "__consumer_offsets"

// nodeID is the id of the one broker of a Rewind cluster.
const nodeID int32 = 0

// Config holds everything a Broker is started with. Use Options to change it.
type Config struct {
	Listen            string        // address to listen on, host:port (port 0 = random)
	Advertise         string        // host:port put in Metadata; empty = the listener's address
	Listener          net.Listener  // an already bound Kafka listener; Listen is then unused
	DataDir           string        // where topics, offsets and the catalog live
	Fsync             storage.Fsync // durability policy of every append
	FsyncInterval     time.Duration // for storage.FsyncInterval
	AutoCreateTopics  bool          // create topics named in Metadata requests
	DefaultPartitions int32         // partitions of auto-created topics and CreateTopics with -1
	MaxRequestBytes   int32         // frames above this close the connection
	MaxConnections    int           // 0 = unlimited
	MaxInFlight       int           // requests per connection whose responses are not yet written
	MaxPartitions     int32         // most partitions one topic may have
	// MaxBrokerPartitions is the most partitions of all topics together,
	// internal ones included (0 = unlimited).
	MaxBrokerPartitions int
	// MaxOpenFiles bounds the segment files open at once (0 = half the
	// descriptor limit, storage.DefaultMaxOpenFiles).
	MaxOpenFiles      int
	MaxRequestMemory  int64 // bytes of request frames being handled, all connections (0 = unlimited)
	MaxFetchMemory    int64 // bytes of fetched records not yet written, all connections (0 = unlimited)
	MaxResponseMemory int64 // bytes of responses being built or not yet written, all connections (0 = unlimited)

	RequestReadTimeout   time.Duration // a frame must arrive within this of its first byte (0 = no limit)
	ResponseWriteTimeout time.Duration // a response must be taken by the socket within this (0 = no limit)
	ConnectionsMaxIdle   time.Duration // connections.max.idle.ms (0 = never closed)

	GroupInitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	GroupMinSessionTimeout     time.Duration // group.min.session.timeout.ms
	GroupMaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	OffsetsRetention           time.Duration // offsets.retention.minutes
	OffsetsHistoryRetention    time.Duration // superseded commits kept this long
	OffsetsTopicPartitions     int32         // offsets.topic.num.partitions

	RetentionCheckInterval time.Duration // log.retention.check.interval.ms
	// LogCleanerDedupeBufferSize (log.cleaner.dedupe.buffer.size) bounds
	// the offset map compaction holds keys in, for user topics and
	// __consumer_offsets alike; keys beyond it are cleaned in more passes.
	LogCleanerDedupeBufferSize int64

	DiskReserve       int64         // bytes kept in reserve for a full disk (diskspace.go); 0 = off
	DiskCheckInterval time.Duration // how often the free space is checked

	FS     vfs.FS
	Logger *slog.Logger
}

// Option changes one setting of a Broker's Config.
type Option func(*Config)

// DefaultConfig is what New starts from.
func DefaultConfig() Config {
	gc := group.DefaultConfig()
	return Config{
		Listen:                     "127.0.0.1:9092",
		DataDir:                    "./rewind-data",
		Fsync:                      storage.FsyncAlways,
		FsyncInterval:              time.Second,
		AutoCreateTopics:           true,
		DefaultPartitions:          1,
		MaxRequestBytes:            100 << 20,
		MaxInFlight:                64,
		MaxPartitions:              10000,
		MaxBrokerPartitions:        DefaultMaxBrokerPartitions,
		MaxRequestMemory:           256 << 20,
		MaxFetchMemory:             256 << 20,
		RequestReadTimeout:         30 * time.Second,
		ResponseWriteTimeout:       30 * time.Second,
		ConnectionsMaxIdle:         10 * time.Minute,
		MaxResponseMemory:          256 << 20,
		GroupInitialRebalanceDelay: gc.InitialRebalanceDelay,
		GroupMinSessionTimeout:     gc.MinSessionTimeout,
		GroupMaxSessionTimeout:     gc.MaxSessionTimeout,
		OffsetsRetention:           gc.OffsetsRetention,
		OffsetsHistoryRetention:    gc.HistoryRetention,
		OffsetsTopicPartitions:     gc.OffsetsTopicPartitions,
		RetentionCheckInterval:     30 * time.Second,
		LogCleanerDedupeBufferSize: storage.DefaultDedupeBufferSize,
		DiskReserve:                64 << 20,
		DiskCheckInterval:          time.Second,
	}
}

// WithConfig replaces the whole configuration.
func WithConfig(c Config) Option { return func(d *Config) { *d = c } }

// WithListen sets the listen address (host:port; port 0 picks a free port).
func WithListen(addr string) Option { return func(c *Config) { c.Listen = addr } }

// WithListener makes the broker serve an already bound listener (for
// example one handed over by a service manager) instead of binding Listen.
// New (if it fails) or Close closes it.
func WithListener(ln net.Listener) Option { return func(c *Config) { c.Listener = ln } }

// WithAdvertise sets the address clients are told to connect to.
func WithAdvertise(addr string) Option { return func(c *Config) { c.Advertise = addr } }

// WithDataDir sets the data directory.
func WithDataDir(dir string) Option { return func(c *Config) { c.DataDir = dir } }

// WithFsync sets the fsync policy.
func WithFsync(f storage.Fsync) Option { return func(c *Config) { c.Fsync = f } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

// WithFS sets the file system all disk I/O goes through (tests inject faults).
func WithFS(fs vfs.FS) Option { return func(c *Config) { c.FS = fs } }

// WithAutoCreateTopics sets whether Metadata requests create unknown topics.
func WithAutoCreateTopics(on bool) Option { return func(c *Config) { c.AutoCreateTopics = on } }

// WithDefaultPartitions sets the partition count of auto-created topics.
func WithDefaultPartitions(n int32) Option { return func(c *Config) { c.DefaultPartitions = n } }

// WithGroupInitialRebalanceDelay sets group.initial.rebalance.delay.ms.
func WithGroupInitialRebalanceDelay(d time.Duration) Option {
	return func(c *Config) { c.GroupInitialRebalanceDelay = d }
}

// Broker is one Rewind node: listener, topics, group coordinator.
type Broker struct {
	cfg Config
	log *slog.Logger
	cat *catalog.Catalog
	grp *group.Coordinator

	mu     sync.RWMutex
	topics map[string]*topic

	pids pidAllocator

	ln        net.Listener
	dirLock   *DataDirLock // held from New to the end of Close
	addr      string
	host      string
	port      int32
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	connMu    sync.Mutex
	conns     map[*conn]struct{}
	closeOnce sync.Once
	closeErr  error

	reqMem   *memPool // --max-request-memory (limits.go)
	fetchMem *memPool // --max-fetch-memory
	respMem  *memPool // --max-response-memory (respmem.go)
	refused  rateLog  // connections refused by --max-connections
	// slowConns: connections closed by --request-read-timeout or
	// --response-write-timeout (an attack would open many).
	slowConns rateLog
	// storageErrs logs failed reads and appends at most every 10 s: a
	// fenced partition fails every retry of its clients.
	storageErrs rateLog

	disk *diskGuard // read-only on a full disk (diskspace.go)

	handles    *storage.Handles // --max-open-files, shared by every log
	partitions partitionBudget  // --max-broker-partitions (partitions.go)
	topicLocks topicLocks       // one change of a topic at a time

	repairMu sync.Mutex // one online repair at a time (repair.go)

	met *metrics          // Prometheus figures (metrics.go)
	lag *lageval.Recorder // commit windows for Burrow-style verdicts (inspect.go)
}

// topic is a topic's catalog entry with its open partition logs.
type topic struct {
	meta  catalog.Topic
	parts []*storage.Log
}

// New binds the Kafka listener, locks the data directory (failing if
// another process holds it), opens it (recovering every partition and
// replaying committed offsets) and returns a broker that does not serve
// yet: connections wait in the listen queue until Start. The listener is
// bound first so that a start that cannot listen leaves the data directory
// untouched.
func New(opts ...Option) (_ *Broker, err error) {
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Listener != nil {
		defer func() {
			if err != nil { // the listener given is the broker's to close
				cfg.Listener.Close()
			}
		}()
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if cfg.DefaultPartitions < 1 {
		return nil, fmt.Errorf("broker: default partitions must be at least 1, got %d", cfg.DefaultPartitions)
	}
	if cfg.MaxInFlight < 1 {
		cfg.MaxInFlight = 1
	}
	if cfg.MaxPartitions < 1 {
		return nil, fmt.Errorf("broker: --max-partitions must be at least 1, got %d", cfg.MaxPartitions)
	}
	if cfg.DefaultPartitions > cfg.MaxPartitions {
		return nil, fmt.Errorf("broker: --default-partitions %d is above --max-partitions %d", cfg.DefaultPartitions, cfg.MaxPartitions)
	}
	if cfg.MaxRequestMemory > 0 && cfg.MaxRequestMemory < int64(cfg.MaxRequestBytes) {
		return nil, fmt.Errorf("broker: --max-request-memory %d is below --max-request-bytes %d: a request of the largest size could never be read", cfg.MaxRequestMemory, cfg.MaxRequestBytes)
	}
	if cfg.DiskReserve < 0 {
		return nil, fmt.Errorf("broker: --disk-reserve must not be negative, got %d", cfg.DiskReserve)
	}
	if cfg.LogCleanerDedupeBufferSize == 0 {
		cfg.LogCleanerDedupeBufferSize = storage.DefaultDedupeBufferSize
	}
	if cfg.LogCleanerDedupeBufferSize < minDedupeBufferSize {
		return nil, fmt.Errorf("broker: --log-cleaner-dedupe-buffer-size must be at least %d (1 MiB), got %d", minDedupeBufferSize, cfg.LogCleanerDedupeBufferSize)
	}
	if cfg.DiskCheckInterval <= 0 {
		cfg.DiskCheckInterval = time.Second
	}
	b := &Broker{
		cfg:    cfg,
		log:    cfg.Logger,
		topics: map[string]*topic{},
		conns:  map[*conn]struct{}{},
	}
	b.reqMem = newMemPool("--max-request-memory", cfg.MaxRequestMemory, cfg.Logger)
	b.reqMem.setFrameLimits(int64(cfg.MaxRequestBytes))
	b.fetchMem = newMemPool("--max-fetch-memory", cfg.MaxFetchMemory, cfg.Logger)
	b.respMem = newMemPool("--max-response-memory", cfg.MaxResponseMemory, cfg.Logger)
	b.refused = rateLog{log: cfg.Logger, every: 10 * time.Second}
	b.slowConns = rateLog{log: cfg.Logger, every: 10 * time.Second}
	b.storageErrs = rateLog{log: cfg.Logger, every: 10 * time.Second}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.pids.b = b
	b.handles = storage.NewHandles(cmp.Or(cfg.MaxOpenFiles, storage.DefaultMaxOpenFiles()))
	b.partitions.limit = cfg.MaxBrokerPartitions
	b.met = newMetrics(b)
	b.lag = lageval.NewRecorder(lageval.DefaultConfig())
	b.disk = newDiskGuard(cfg.FS, cfg.DataDir, cfg.DiskReserve, cfg.Logger)
	if b.disk.enabled() {
		cfg.FS = diskFS{cfg.FS, b.disk}
		b.disk.register(b.met.reg)
	}
	cfg.FS = timedFS{cfg.FS, b.met.fsync}
	b.cfg.FS = cfg.FS

	if err := b.bind(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.cancel()
			b.ln.Close()
			b.dirLock.Close()
		}
	}()
	// Nothing in the data directory is read or written before the lock.
	if b.dirLock, err = LockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := b.disk.start(); err != nil {
		return nil, err
	}
	if b.cat, err = catalog.Open(cfg.FS, cfg.DataDir, catalog.WithLogger(b.log), catalog.WithInternalTopic(OffsetsTopic, offsetsTopicConfigs())); err != nil {
		return nil, err
	}
	b.cleanOrphans()
	if err := b.openTopics(b.cat.List()...); err != nil {
		return nil, err
	}
	if err := b.startGroups(); err != nil {
		b.closeLogs()
		return nil, err
	}
	return b, nil
}

func (b *Broker) logDir(name string, p int32) string {
	return filepath.Join(b.cfg.DataDir, "logs", name+"-"+strconv.Itoa(int(p)))
}

func (b *Broker) storageOptions() storage.Options {
	return storage.Options{FS: b.cfg.FS, Fsync: b.cfg.Fsync, FsyncInterval: b.cfg.FsyncInterval, Logger: b.log, Handles: b.handles}
}

// openTopic opens every partition log of t and registers the topic.
func (b *Broker) openTopic(t catalog.Topic) error { return b.openTopics(t) }

// openTopics opens every partition log of the topics, in parallel, and
// registers them (counting their partitions); on an error it closes what it
// opened and registers nothing.
func (b *Broker) openTopics(ts ...catalog.Topic) error {
	type part struct {
		t *topic
		p int32
	}
	var parts []part
	topics := make([]*topic, len(ts))
	for i, t := range ts {
		topics[i] = &topic{meta: t, parts: make([]*storage.Log, t.Partitions)}
		for p := int32(0); p < t.Partitions; p++ {
			parts = append(parts, part{topics[i], p})
		}
	}
	errs := make([]error, len(parts))
	// The logs write their checkpoints once all are open (storage.Options.OpenedAll).
	opened := make(chan struct{})
	opts := b.storageOptions()
	opts.OpenedAll = opened
	inParallel(len(parts), func(i int) {
		t, p := parts[i].t, parts[i].p
		l, err := storage.Open(b.logDir(t.meta.Name, p), t.meta.StorageConfig(), opts)
		if err != nil {
			errs[i] = fmt.Errorf("broker: %w", openPartitionErr(t.meta.Name, p, err))
			return
		}
		t.parts[p] = l
	})
	close(opened)
	if err := errors.Join(errs...); err != nil {
		for _, t := range topics {
			for _, l := range t.parts {
				if l != nil {
					l.Close()
				}
			}
		}
		return err
	}
	b.mu.Lock()
	for _, t := range topics {
		b.topics[t.meta.Name] = t
		b.partitions.add(len(t.parts))
	}
	b.mu.Unlock()
	return nil
}

// Start serves the listener bound by New until Close.
func (b *Broker) Start() error {
	b.addr = b.ln.Addr().String()
	b.grp.Start()
	b.wg.Add(2)
	go b.acceptLoop()
	go b.retentionLoop()
	if b.disk.enabled() {
		b.wg.Add(1)
		go b.disk.loop(b, b.cfg.DiskCheckInterval)
	}
	b.log.Info("rewind broker listening", "addr", b.addr, "advertise", net.JoinHostPort(b.host, strconv.Itoa(int(b.port))), "data_dir", b.cfg.DataDir)
	return nil
}

// Addr is the address the broker listens on (valid after Start).
func (b *Broker) Addr() string { return b.addr }

// Close stops the listener, closes every connection, and closes every log
// cleanly so the next start skips recovery.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		if b.ln != nil {
			b.ln.Close()
		}
		b.connMu.Lock()
		for c := range b.conns {
			c.nc.Close()
		}
		b.connMu.Unlock()
		if b.grp != nil {
			b.grp.Close()
		}
		b.wg.Wait()
		b.closeErr = b.closeLogs()
		// Released last: a process waiting to take over the data directory
		// must not start before every log is closed.
		if err := b.dirLock.Close(); err != nil {
			b.closeErr = errors.Join(b.closeErr, fmt.Errorf("broker: release data directory lock: %w", err))
		}
	})
	return b.closeErr
}

func (b *Broker) closeLogs() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var logs []*storage.Log
	for _, t := range b.topics {
		logs = append(logs, t.parts...)
	}
	errs := make([]error, len(logs))
	inParallel(len(logs), func(i int) { errs[i] = logs[i].Close() })
	b.topics = map[string]*topic{}
	return errors.Join(errs...)
}

// logIOParallelism is how many partition logs are opened or closed at
// once. Opening and closing are a few small reads and writes with fsyncs;
// run in parallel, the file system's journal commits one for many, so a
// broker with thousands of partitions starts and stops in a fraction of
// the time.
const logIOParallelism = 16

// inParallel calls fn(0) ... fn(n-1), logIOParallelism at a time.
func inParallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, logIOParallelism)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

func (b *Broker) acceptLoop() {
	defer b.wg.Done()
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			b.log.Error("accept failed", "err", err)
			return
		}
		b.connMu.Lock()
		if b.cfg.MaxConnections > 0 && len(b.conns) >= b.cfg.MaxConnections {
			b.connMu.Unlock()
			b.refused.warn("connection refused: --max-connections reached", "remote", nc.RemoteAddr().String(), "max", b.cfg.MaxConnections)
			nc.Close()
			continue
		}
		c := newConn(b, nc)
		b.conns[c] = struct{}{}
		b.connMu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			c.serve()
			b.connMu.Lock()
			delete(b.conns, c)
			b.connMu.Unlock()
		}()
	}
}

func (b *Broker) retentionLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		type compacted struct {
			name string
			p    storage.CompactPolicy
			logs []*storage.Log
		}
		var logs []*storage.Log
		var compact []compacted
		b.mu.RLock()
		for name, t := range b.topics {
			logs = append(logs, t.parts...)
			if name == OffsetsTopic {
				compact = append(compact, compacted{name, b.offsetsCompactPolicy(), t.parts})
			} else if p, ok := t.meta.Compaction(); ok {
				p.DedupeBufferSize = b.cfg.LogCleanerDedupeBufferSize
				compact = append(compact, compacted{name, p, t.parts})
			}
		}
		b.mu.RUnlock()
		for _, l := range logs {
			if err := l.ApplyRetention(); err != nil {
				b.log.Error("retention failed", "err", err)
			}
		}
		if b.disk.writable() != nil {
			compact = nil // it needs room for the cleaned copy; retention frees space
		}
		for _, c := range compact {
			for i, l := range c.logs {
				if _, err := l.Compact(c.p); err != nil {
					b.log.Error("compaction failed", "topic", c.name, "partition", i, "err", err)
				}
			}
		}
	}
}

// offsetsCompactPolicy is how __consumer_offsets is compacted: every
// key's latest commit or group record stays, superseded commits stay for
// the history window (offset tools rewind groups to past positions with
// them), and the tombstones of deleted offsets and groups for a day
// (Kafka's delete.retention.ms). The active segment is rolled once its
// oldest record could have left the history window, so that compaction
// reaches it without waiting for segment.ms.
func (b *Broker) offsetsCompactPolicy() storage.CompactPolicy {
	h := b.cfg.OffsetsHistoryRetention
	return storage.CompactPolicy{
		HistoryRetention: h,
		DeleteRetention:  24 * time.Hour,
		MaxCompactionLag: h,
		DedupeBufferSize: b.cfg.LogCleanerDedupeBufferSize,
	}
}

// minDedupeBufferSize is the smallest --log-cleaner-dedupe-buffer-size:
// about 40,000 keys a pass.
const minDedupeBufferSize = 1 << 20

// partition returns the log of topic/partition, or nil.
func (b *Broker) partition(name string, p int32) *storage.Log {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t := b.topics[name]
	if t == nil || p < 0 || int(p) >= len(t.parts) {
		return nil
	}
	return t.parts[p]
}

// topicMeta returns a topic's catalog entry.
func (b *Broker) topicMeta(name string) (catalog.Topic, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t := b.topics[name]
	if t == nil {
		return catalog.Topic{}, false
	}
	return t.meta, true
}

// createTopic creates a topic in the catalog and opens its logs, all or
// nothing: if any partition fails to open (ENOSPC, EMFILE, EIO ...), every
// partition directory is removed and then the catalog entry, and the error
// matches storage.ErrStorage. Past --max-broker-partitions it fails with
// errPartitionLimit before anything is written.
func (b *Broker) createTopic(name string, partitions int32, configs map[string]string, internal, validateOnly bool) (catalog.Topic, error) {
	if partitions > b.cfg.MaxPartitions && !internal {
		return catalog.Topic{}, fmt.Errorf("%w: %d partitions requested, the limit is %d", catalog.ErrInvalidPartitions, partitions, b.cfg.MaxPartitions)
	}
	unlock := b.topicLocks.lock(name)
	defer unlock()
	if validateOnly {
		t, err := b.cat.Create(name, partitions, configs, internal, true)
		if err == nil {
			err = b.partitions.reserve(partitions, true)
		}
		return t, err
	}
	if err := b.partitions.reserve(partitions, false); err != nil {
		if _, verr := b.cat.Create(name, partitions, configs, internal, true); verr != nil {
			return catalog.Topic{}, verr // a bad name or config says more
		}
		return catalog.Topic{}, err
	}
	// openTopics counts the partitions itself once they are registered.
	defer b.partitions.release(int(partitions))
	t, err := b.cat.Create(name, partitions, configs, internal, false)
	if err != nil {
		return t, err
	}
	// A topic of the same name deleted earlier may have left directories if
	// its deletion failed: start clean.
	b.removePartitionDirs(name, 0, partitions)
	if err := b.openTopic(t); err != nil {
		// Directories first, then the catalog entry: once the name is free
		// again, nothing of this attempt is left to meet a new one.
		b.removePartitionDirs(name, 0, partitions)
		if derr := b.cat.Delete(name); derr != nil {
			b.log.Error("removing the catalog entry of a topic not created", "topic", name, "err", derr)
		}
		b.log.Warn("topic not created: opening its partitions failed; nothing of it is left", "topic", name, "partitions", partitions, "err", err)
		return catalog.Topic{}, err
	}
	b.log.Info("topic created", "topic", name, "partitions", partitions)
	return t, nil
}

// deleteTopic removes a topic, its logs and its data.
func (b *Broker) deleteTopic(name string) error {
	defer b.topicLocks.lock(name)()
	if err := b.disk.retry(func() error { return b.cat.Delete(name) }); err != nil {
		return err
	}
	b.mu.Lock()
	t := b.topics[name]
	delete(b.topics, name)
	if t != nil {
		b.partitions.release(len(t.parts))
	}
	b.mu.Unlock()
	var errs []error
	if t != nil {
		for _, l := range t.parts {
			if err := l.Delete(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// As Kafka does, committed offsets of a deleted topic go with it, so a
	// new topic of the same name does not inherit stale positions.
	if b.grp != nil {
		b.grp.TopicDeleted(name)
	}
	b.log.Info("topic deleted", "topic", name)
	return errors.Join(errs...)
}

// addPartitions grows a topic to total partitions, all or nothing: the new
// partition logs are opened (outside any lock shared by topics) before the
// catalog records the count, and on any failure they are deleted and the
// topic is left as it was.
func (b *Broker) addPartitions(name string, total int32, validateOnly bool) error {
	if total > b.cfg.MaxPartitions {
		return fmt.Errorf("%w: %d partitions requested, the limit is %d", catalog.ErrInvalidPartitions, total, b.cfg.MaxPartitions)
	}
	defer b.topicLocks.lock(name)()
	// The catalog's own checks (the topic exists, the count grows) first.
	if _, err := b.cat.SetPartitions(name, total, true); err != nil {
		return err
	}
	b.mu.RLock()
	t := b.topics[name]
	b.mu.RUnlock()
	if t == nil {
		return fmt.Errorf("%w: %s", catalog.ErrUnknownTopic, name)
	}
	from := int32(len(t.parts)) // stable: changes of the topic hold its lock
	if err := b.partitions.reserve(total-from, validateOnly); err != nil || validateOnly {
		return err
	}
	logs := make([]*storage.Log, total-from)
	errs := make([]error, len(logs))
	cfg := t.meta.StorageConfig()
	b.removePartitionDirs(name, from, total) // left by an earlier failure
	inParallel(len(logs), func(i int) {
		p := from + int32(i)
		l, err := storage.Open(b.logDir(name, p), cfg, b.storageOptions())
		if err != nil {
			errs[i] = openPartitionErr(name, p, err)
			return
		}
		logs[i] = l
	})
	fail := func(err error) error {
		for _, l := range logs {
			if l != nil {
				l.Delete()
			}
		}
		b.removePartitionDirs(name, from, total)
		b.partitions.release(int(total - from))
		b.log.Warn("partitions not added; nothing of them is left", "topic", name, "from", from, "to", total, "err", err)
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	meta, err := b.cat.SetPartitions(name, total, false)
	if err != nil {
		return fail(err)
	}
	b.mu.Lock()
	t.parts = append(t.parts, logs...)
	t.meta = meta
	b.mu.Unlock()
	b.log.Info("partitions added", "topic", name, "partitions", total)
	return nil
}

// setTopicConfigs replaces a topic's config overrides and applies them.
func (b *Broker) setTopicConfigs(name string, cfgs map[string]string, validateOnly bool) error {
	var meta catalog.Topic
	err := b.disk.retry(func() (err error) {
		meta, err = b.cat.SetConfigs(name, cfgs, validateOnly)
		return err
	})
	if err != nil || validateOnly {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[name]; t != nil {
		t.meta = meta
		for _, l := range t.parts {
			l.SetConfig(meta.StorageConfig())
		}
	}
	return nil
}
