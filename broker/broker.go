package broker

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/rewindhq/rewind/clientmetrics"
	"github.com/rewindhq/rewind/groupconfig"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/rewindhq/rewind/txn"
)

// OffsetsTopic is the internal topic holding committed offsets and group
// metadata in Kafka's own record format.
const OffsetsTopic = "__consumer_offsets"

// Config holds everything a Broker is started with. Use Options to change it.
type Config struct {
	// NodeID is the id of the one broker (node.id): Metadata,
	// FindCoordinator, DescribeCluster and replica assignments use it.
	NodeID            int32
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
	// TelemetryMaxBytes is Kafka's telemetry.max.bytes: the largest
	// PushTelemetry payload a client is told to send and the broker
	// takes (0: 1 MiB).
	TelemetryMaxBytes int
	// FetchSessionCacheSlots is max.incremental.fetch.session.cache.slots
	// (fetch sessions, fetchsession.go); FetchSessionPartitions
	// bounds the partitions they cache together (0 = unlimited).
	FetchSessionCacheSlots int
	FetchSessionPartitions int

	RequestReadTimeout   time.Duration // a frame must arrive within this of its first byte (0 = no limit)
	ResponseWriteTimeout time.Duration // a response must be taken by the socket within this (0 = no limit)
	ConnectionsMaxIdle   time.Duration // connections.max.idle.ms (0 = never closed)

	GroupInitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	GroupMinSessionTimeout     time.Duration // group.min.session.timeout.ms
	GroupMaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	OffsetsRetention           time.Duration // offsets.retention.minutes
	OffsetsHistoryRetention    time.Duration // superseded commits kept this long
	OffsetsTopicPartitions     int32         // offsets.topic.num.partitions

	// Consumer-protocol (KIP-848) groups: group.consumer.session.timeout.ms,
	// .heartbeat.interval.ms with their min and max bounds, .max.size and
	// .assignors (uniform, range; the first is the default), checked as
	// Kafka's GroupCoordinatorConfig checks them (consumer_groups_config.go).
	ConsumerGroupSessionTimeout       time.Duration
	ConsumerGroupMinSessionTimeout    time.Duration
	ConsumerGroupMaxSessionTimeout    time.Duration
	ConsumerGroupHeartbeatInterval    time.Duration
	ConsumerGroupMinHeartbeatInterval time.Duration
	ConsumerGroupMaxHeartbeatInterval time.Duration
	ConsumerGroupMaxSize              int
	ConsumerGroupAssignors            []string
	// ConsumerGroupMigrationPolicy is group.consumer.migration.policy
	// (bidirectional, upgrade, downgrade, disabled): the online migration
	// between the classic and the consumer protocol.
	ConsumerGroupMigrationPolicy string

	TransactionStatePartitions int32         // transaction.state.log.num.partitions
	TransactionMaxTimeout      time.Duration // transaction.max.timeout.ms
	TransactionalIDExpiration  time.Duration // transactional.id.expiration.ms
	// TransactionAbortInterval is how often transactions past their
	// timeout are looked for
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
	TransactionAbortInterval time.Duration

	RetentionCheckInterval time.Duration // log.retention.check.interval.ms
	// LogCleanerDedupeBufferSize (log.cleaner.dedupe.buffer.size) bounds
	// the offset map compaction holds keys in, for user topics and
	// __consumer_offsets alike; keys beyond it are cleaned in more passes.
	LogCleanerDedupeBufferSize int64

	DiskReserve       int64         // bytes kept in reserve for a full disk (diskspace.go); 0 = off
	DiskCheckInterval time.Duration // how often the free space is checked

	// Listeners (--listeners) replaces Listen/Advertise/Listener with
	// several listeners, each with its security protocol (listeners.go).
	Listeners []ListenerSpec
	TLS       TLSConfig // of the SSL and SASL_SSL listeners (tlsconf.go)
	// TLSSelfSigned makes a development CA and server certificate in the
	// data directory instead of TLS's files (tls_selfsigned.go).
	TLSSelfSigned  bool
	SASLMechanisms []string // of the SASL listeners; empty = DefaultSASLMechanisms
	// Authorizer (authorizer.class.name) turns ACLs on: "" none,
	// AuthorizerStandard (acl.go); SuperUsers (super.users) and
	// AllowEveryoneIfNoACL (allow.everyone.if.no.acl.found) configure it.
	Authorizer           string
	SuperUsers           []string
	AllowEveryoneIfNoACL bool

	// OAuthBearer is the OAUTHBEARER mechanism's validator (oauth.go); when
	// one is configured, empty SASLMechanisms also enable OAUTHBEARER.
	OAuthBearer OAuthBearerConfig
	// ConnectionsMaxReauth (connections.max.reauth.ms) bounds a SASL
	// session: the client must re-authenticate within it (reauth.go).
	// 0: sessions end only with their credential.
	ConnectionsMaxReauth time.Duration
	// QuotaWindowNum and QuotaWindowSize are quota.window.num and
	// quota.window.size.seconds: client quotas are measured over that many
	// samples of that length (quota_rate.go). They are also the
	// controller.quota.window.* of controller_mutation_rate (same
	// defaults in Kafka), whose burst is quota × num × size
	// (quota_mutation.go).
	QuotaWindowNum  int
	QuotaWindowSize time.Duration

	// LogRequests filters the request log written at debug level
	// (reqlog.go): "" or "all" every request, "none" none, or
	// api=Produce|Fetch,client=my-app.
	LogRequests string

	FS     vfs.FS
	Logger *slog.Logger
}

// Option changes one setting of a Broker's Config.
type Option func(*Config)

// DefaultConfig is what New starts from.
func DefaultConfig() Config {
	gc := group.DefaultConfig()
	tc := txn.DefaultConfig()
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
		FetchSessionCacheSlots:     1000,
		FetchSessionPartitions:     200000,
		GroupInitialRebalanceDelay: gc.InitialRebalanceDelay,
		GroupMinSessionTimeout:     gc.MinSessionTimeout,
		GroupMaxSessionTimeout:     gc.MaxSessionTimeout,
		OffsetsRetention:           gc.OffsetsRetention,
		OffsetsHistoryRetention:    gc.HistoryRetention,
		OffsetsTopicPartitions:     gc.OffsetsTopicPartitions,

		ConsumerGroupSessionTimeout:       45 * time.Second,
		ConsumerGroupMinSessionTimeout:    45 * time.Second,
		ConsumerGroupMaxSessionTimeout:    60 * time.Second,
		ConsumerGroupHeartbeatInterval:    5 * time.Second,
		ConsumerGroupMinHeartbeatInterval: 5 * time.Second,
		ConsumerGroupMaxHeartbeatInterval: 15 * time.Second,
		ConsumerGroupMaxSize:              math.MaxInt32,
		ConsumerGroupAssignors:            []string{"uniform", "range"},
		ConsumerGroupMigrationPolicy:      "bidirectional",

		TransactionStatePartitions: tc.Partitions,
		TransactionMaxTimeout:      tc.MaxTimeout,
		TransactionalIDExpiration:  tc.IDExpiration,
		TransactionAbortInterval:   tc.AbortInterval,
		RetentionCheckInterval:     30 * time.Second,
		LogCleanerDedupeBufferSize: storage.DefaultDedupeBufferSize,
		DiskReserve:                64 << 20,
		DiskCheckInterval:          time.Second,
		OAuthBearer:                DefaultOAuthBearerConfig(),
		QuotaWindowNum:             11,
		QuotaWindowSize:            time.Second,
	}
}

// WithConfig replaces the whole configuration.
func WithConfig(c Config) Option { return func(d *Config) { *d = c } }

// WithQuotaWindow sets quota.window.num and quota.window.size.seconds.
func WithQuotaWindow(num int, size time.Duration) Option {
	return func(c *Config) { c.QuotaWindowNum, c.QuotaWindowSize = num, size }
}

// WithNodeID sets the broker's node id (node.id; default 0).
func WithNodeID(id int32) Option { return func(c *Config) { c.NodeID = id } }

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
	reg *registry // the catalog and the partition logs (registry.go)
	grp *group.Coordinator
	// cgroups are the consumer-protocol (KIP-848) groups
	// (consumer_groups.go).
	cgroups consumerGroups
	// shares are the share groups (KIP-932, share_groups.go)
	shares shareGroups
	// txnVerify checks TxnOffsetCommit against the transaction
	// coordinator (28_txn_offset_commit.go; set by startTxn, txn.go).
	txnVerify txnOffsetCommitVerifier
	txn       *txn.Coordinator // transactions (txn.go)
	// cm receives client telemetry (71_get_telemetry_subscriptions.go).
	cm *clientmetrics.Manager
	// gcfg: the GROUP config resources (configs_group.go).
	gcfg *groupconfig.Store
	// txnCreate serializes the creation of __transaction_state.
	txnCreate sync.Mutex

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
	connSeq   atomic.Uint64   // numbers connections (conn.id)
	fetchPos  *fetchPositions // what was fetched by whom (fetchpos.go)
	later     *workers        // run the deferred replies (workers.go)
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
	acceptErrs  rateLog // failed accepts, retried (acceptLoop)

	disk *diskGuard // read-only on a full disk (diskspace.go)

	// acceptErr is the error of the last failed accept, nil once one
	// succeeds: Ready reports the broker not ready while it is set.
	acceptErr atomic.Pointer[error]

	repairMu sync.Mutex // one online repair at a time (repair.go)

	met *metrics          // Prometheus figures (metrics.go)
	lag *lageval.Recorder // commit windows for Burrow-style verdicts (inspect.go)

	// groupTxnMarker writes transaction markers into __consumer_offsets
	// partitions for the group coordinator (27_write_txn_markers.go).
	groupTxnMarker groupTxnMarker

	sec brokerSecurity // listeners, TLS, SASL (security.go)

	unserved  unservedLog    // requests not served, logged once per client (unserved.go)
	reqFilter *requestFilter // the request log's filter; nil: none (reqlog.go)

	// Fetch sessions and long-poll wake-ups (fetchsession.go, fetchwait.go).
	fetchInit  sync.Once
	fetchCache *fetchSessionCache
	fetchWatch fetchWatchers

	quotas *quotaManagers // client quotas (quotas.go, quota_rate.go)
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
	reqFilter, err := parseRequestFilter(cfg.LogRequests)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if cfg.NodeID < 0 {
		return nil, fmt.Errorf("broker: node id must be at least 0, got %d", cfg.NodeID)
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
	if cfg.TransactionStatePartitions < 1 {
		return nil, fmt.Errorf("broker: --transaction-state-partitions must be at least 1, got %d", cfg.TransactionStatePartitions)
	}
	if cfg.TransactionMaxTimeout < time.Millisecond || cfg.TransactionalIDExpiration < time.Millisecond {
		return nil, fmt.Errorf("broker: --transaction-max-timeout and --transactional-id-expiration must be at least 1ms")
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
	if _, err := consumerGroupConfig(cfg); err != nil {
		return nil, err
	}
	if cfg.QuotaWindowNum < 1 || cfg.QuotaWindowSize < time.Second || cfg.QuotaWindowSize%time.Second != 0 {
		return nil, fmt.Errorf("broker: --quota-window-num must be at least 1 and --quota-window-size a whole number of seconds, at least 1s (got %d, %v)", cfg.QuotaWindowNum, cfg.QuotaWindowSize)
	}
	b := &Broker{
		cfg:      cfg,
		log:      cfg.Logger,
		conns:    map[*conn]struct{}{},
		fetchPos: newFetchPositions(),
	}
	b.reqMem = newMemPool("--max-request-memory", cfg.MaxRequestMemory, cfg.Logger)
	b.reqMem.setFrameLimits(int64(cfg.MaxRequestBytes))
	b.fetchMem = newMemPool("--max-fetch-memory", cfg.MaxFetchMemory, cfg.Logger)
	b.respMem = newMemPool("--max-response-memory", cfg.MaxResponseMemory, cfg.Logger)
	b.refused = rateLog{log: cfg.Logger, every: 10 * time.Second}
	b.slowConns = rateLog{log: cfg.Logger, every: 10 * time.Second}
	b.unserved.rest = rateLog{log: cfg.Logger, every: 10 * time.Second}
	b.reqFilter = reqFilter
	b.storageErrs = rateLog{log: cfg.Logger, every: 10 * time.Second}
	b.acceptErrs = rateLog{log: cfg.Logger, every: 10 * time.Second}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.later = newWorkers(b.ctx)
	b.pids.b = b
	b.met = newMetrics(b)
	b.lag = lageval.NewRecorder(lageval.DefaultConfig())
	b.disk = newDiskGuard(cfg.FS, cfg.DataDir, cfg.DiskReserve, cfg.Logger)
	if b.disk.enabled() {
		cfg.FS = diskFS{cfg.FS, b.disk}
		b.disk.register(b.met.reg)
	}
	cfg.FS = timedFS{cfg.FS, b.met.fsync}
	b.cfg.FS = cfg.FS
	b.reg = newRegistry(b.cfg, b.disk, storage.NewHandles(cmp.Or(cfg.MaxOpenFiles, storage.DefaultMaxOpenFiles())))

	if err := b.initSecurity(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.cancel()
			b.closeListeners()
			b.dirLock.Close()
		}
	}()
	// Nothing in the data directory is read or written before the lock.
	if b.dirLock, err = LockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := b.initAuthorizer(); err != nil {
		return nil, err
	}
	if err := b.initSelfSignedTLS(); err != nil {
		return nil, err
	}
	if b.cm, err = clientmetrics.Open(cfg.DataDir, cfg.TelemetryMaxBytes); err != nil {
		return nil, err
	}
	b.met.reg.MustRegister(clientMetricsCollector{b.cm})
	if b.gcfg, err = groupconfig.Open(cfg.DataDir, groupBounds(cfg)); err != nil {
		return nil, err
	}
	qs, err := openQuotaStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	b.quotas = newQuotaManagers(qs, cfg.QuotaWindowNum, cfg.QuotaWindowSize)
	if err := b.disk.start(); err != nil {
		return nil, err
	}
	if err := b.reg.open(); err != nil {
		return nil, err
	}
	if err := b.startGroups(); err != nil {
		b.reg.close()
		return nil, err
	}
	if err := b.startTxn(); err != nil {
		b.grp.Close()
		b.reg.close()
		return nil, err
	}
	b.reg.onDelete = func(name string) {
		b.grp.TopicDeleted(name)
		b.shares.topicDeleted() // share_groups.go
	}
	return b, nil
}

// Start serves the listener bound by New until Close.
func (b *Broker) Start() error {
	b.addr = b.ln.Addr().String()
	b.grp.Start()
	b.cgroups.start()
	b.txn.Start()
	for _, l := range b.sec.listeners {
		b.wg.Add(1)
		go b.acceptLoop(l)
	}
	if b.sec.tls != nil {
		b.wg.Add(1)
		go b.watchTLS()
	}
	b.reg.maint.start(b.ctx, b.cfg.RetentionCheckInterval)
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
		b.closeListeners()
		b.connMu.Lock()
		for c := range b.conns {
			c.nc.Close()
		}
		b.connMu.Unlock()
		if b.txn != nil {
			b.txn.Close()
		}
		if b.grp != nil {
			b.grp.Close()
		}
		b.shares.close()
		b.wg.Wait()
		b.closeErr = b.reg.close()
		// Released last: a process waiting to take over the data directory
		// must not start before every log is closed.
		if err := b.dirLock.Close(); err != nil {
			b.closeErr = errors.Join(b.closeErr, fmt.Errorf("broker: release data directory lock: %w", err))
		}
	})
	return b.closeErr
}

// acceptLoop accepts connections until Close. A failed accept that can
// pass (out of descriptors: EMFILE, ENFILE; a connection aborted in the
// queue; out of buffers) is retried after a pause of 5 ms doubling up to
// 1 s, as net/http's Server.Serve does, while the connections wait in the
// listen queue; meanwhile Ready reports the broker not ready, and the
// first accept that succeeds makes it ready again. Any other error ends
// the loop, and Ready says so until the broker is closed.
//
// Linux takes the new descriptor before it looks at the queue, so an
// accept fails with EMFILE with no connection waiting too; the retry
// then just waits for one. It waits with a deadline (acceptProbe): if
// the deadline passes, accepting works again, and the broker is ready
// without a client having to connect first.
func (b *Broker) acceptLoop(l *listener) {
	defer b.wg.Done()
	var delay time.Duration
	dl, _ := l.ln.(interface{ SetDeadline(time.Time) error })
	recovered := func() {
		delay = 0
		b.acceptErr.Store(nil)
		if dl != nil {
			dl.SetDeadline(time.Time{})
		}
		b.log.Info("accepting connections again")
	}
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil {
				return
			}
			if delay > 0 && dl != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				recovered() // no descriptor shortage, no connection waiting
				continue
			}
			b.acceptErr.Store(&err)
			if !retriableAccept(err) {
				b.log.Error("accept failed; no more connections are accepted", "err", err)
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			b.acceptErrs.warn("accept failed; retrying", "err", err, "retry_in", delay)
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(delay):
			}
			if dl != nil {
				dl.SetDeadline(time.Now().Add(acceptProbe))
			}
			continue
		}
		if delay > 0 {
			recovered()
		}
		b.connMu.Lock()
		if b.cfg.MaxConnections > 0 && len(b.conns) >= b.cfg.MaxConnections {
			b.connMu.Unlock()
			b.refused.warn("connection refused: --max-connections reached", "remote", nc.RemoteAddr().String(), "max", b.cfg.MaxConnections)
			nc.Close()
			continue
		}
		if d := b.quotas.connection(remoteIP(nc), time.Now()); d > 0 {
			// connection_creation_rate (quota_rate.go): as Kafka, the
			// connection is held unread and closed once the throttle
			// time has passed.
			b.connMu.Unlock()
			time.AfterFunc(d, func() { nc.Close() })
			continue
		}
		if l.tls != nil {
			nc = tls.Server(nc, l.tls.config())
		}
		c := newConn(b, nc)
		c.lis = l
		b.conns[c] = struct{}{}
		b.connMu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			c.serve()
			if c.telemetryID != ([16]byte{}) {
				b.cm.Disconnected(c.telemetryID)
			}
			b.connMu.Lock()
			delete(b.conns, c)
			b.connMu.Unlock()
		}()
	}
}

func remoteIP(nc net.Conn) net.IP {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return nil
}

// acceptProbe is how long a retried accept waits for a connection before
// the broker counts accepting as working again.
const acceptProbe = 100 * time.Millisecond

// retriableAccept reports whether a failed accept may succeed later.
func retriableAccept(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.ENOBUFS, syscall.ENOMEM, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// minDedupeBufferSize is the smallest --log-cleaner-dedupe-buffer-size:
// about 40,000 keys a pass.
const minDedupeBufferSize = 1 << 20

// partition returns the log of topic/partition, or nil (shorthand for
// the registry's, used by every handler).
func (b *Broker) partition(name string, p int32) *storage.Log { return b.reg.partition(name, p) }

// topicMeta returns a topic's catalog entry as published.
func (b *Broker) topicMeta(name string) (catalog.Topic, bool) { return b.reg.meta(name) }
