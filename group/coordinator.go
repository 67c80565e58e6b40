package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Coordinator is the consumer-group coordinator and committed-offset store
// of one broker. It is safe for concurrent use; see doc.go.
type Coordinator struct {
	cfg   Config
	store Store
	log   *slog.Logger
	sched *scheduler

	// ctx is used for Store writes: they belong to the coordinator, not to
	// the request that caused them, so a client disconnecting mid-commit
	// does not abort a write. Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	closed atomic.Bool

	mu      sync.Mutex
	groups  map[string]*group
	replay  *replayState // records fed by Replay, until the first use
	started bool

	fenceMu sync.RWMutex
	fenced  map[int32]error // __consumer_offsets partitions not served (fence.go)

	// Transactional offset commits (txn.go).
	txns       txnIndex
	txnLocksMu sync.Mutex
	txnLocks   map[int32]*sync.RWMutex
	seq        atomic.Int64
}

// New returns a coordinator. store may be nil, in which case nothing is
// persisted (tests, tools).
func New(cfg Config, store Store) *Coordinator {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{
		cfg:    cfg,
		store:  store,
		log:    cfg.Logger.With("component", "group"),
		sched:  newScheduler(cfg.Now),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		groups: make(map[string]*group),
		replay: newReplayState(),
	}
}

// Start builds the groups from everything given to Replay and starts the
// timers (session expiry of restored members, offset expiry). Call it once,
// after the last Replay and before serving requests.
func (c *Coordinator) Start() { c.start(true) }

// start is Start; tests pass runLoop=false and drive timers with
// sched.fireDue so that nothing fires behind their back.
func (c *Coordinator) start(runLoop bool) {
	c.mu.Lock()
	c.loadLocked()
	if c.started {
		c.mu.Unlock()
		return
	}
	c.started = true
	c.mu.Unlock()
	c.armExpiryCheck()
	if runLoop {
		go c.sched.run(c.done)
	}
}

// Close stops timers, answers every waiting JoinGroup and SyncGroup with
// NOT_COORDINATOR (as Kafka does when it unloads a group) and makes every
// later request fail with COORDINATOR_NOT_AVAILABLE. Writes in progress are
// cancelled through their context.
func (c *Coordinator) Close() {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	close(c.done)
	c.cancel()
	for _, g := range c.snapshot() {
		g.mu.Lock()
		for _, m := range g.members {
			g.maybeInvokeJoin(m, errJoin(m.id, kerr.NotCoordinator.Code))
			g.maybeInvokeSync(m, errSync(kerr.NotCoordinator.Code))
		}
		g.mu.Unlock()
	}
}

func (c *Coordinator) isClosed() bool { return c.closed.Load() }

func (c *Coordinator) now() time.Time { return c.cfg.Now() }

// PartitionFor returns the __consumer_offsets partition holding group's
// records among OffsetsTopicPartitions, as Kafka computes it
// (offsetsfmt.PartitionFor), so tools that read the topic find groups where
// they expect them.
func (c *Coordinator) PartitionFor(group string) int32 {
	return offsetsfmt.PartitionFor(group, c.cfg.OffsetsTopicPartitions)
}

// lockGroup returns the named group locked, creating it (Empty) if create
// is set and it does not exist; nil if it does not exist. It never holds
// the coordinator's map lock while waiting for a group's lock, and it skips
// groups removed while it waited.
func (c *Coordinator) lockGroup(name string, create bool) *group {
	for {
		c.mu.Lock()
		c.loadLocked()
		g := c.groups[name]
		if g == nil && create {
			g = newGroup(c, name)
			c.groups[name] = g
		}
		c.mu.Unlock()
		if g == nil {
			return nil
		}
		g.mu.Lock()
		if !g.removed {
			return g
		}
		g.mu.Unlock()
	}
}

// removeGroup marks g Dead and drops it from the map; g.mu is held.
func (c *Coordinator) removeGroup(g *group) {
	g.transition(stateDead)
	g.removed = true
	g.c.sched.stop(g.joinTimer)
	g.c.sched.stop(g.syncTimer)
	for _, t := range g.pending {
		g.c.sched.stop(t)
	}
	for _, m := range g.members {
		g.c.sched.stop(m.hbTimer)
	}
	c.mu.Lock()
	if c.groups[g.name] == g {
		delete(c.groups, g.name)
	}
	c.mu.Unlock()
}

// snapshot returns the current groups, unlocked, sorted by name.
func (c *Coordinator) snapshot() []*group {
	c.mu.Lock()
	c.loadLocked()
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	sort.Slice(gs, func(i, j int) bool { return gs[i].name < gs[j].name })
	return gs
}

// storeErrCode is the code a request answers when the write it caused
// failed with err: Kafka 4.x's mapping (offsetsfmt.AppendError), the same
// for every group API.
func storeErrCode(err error) int16 { return offsetsfmt.AppendErrorCode(err) }

// newMemberID builds a member id as Kafka does: instance id (static
// members) or client id, a dash, and a random UUID.
func newMemberID(clientID string, instanceID *string) string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return prefix + "-" + string(b[:])
}

// ---- read-side API for metrics, console and tools ----

// Groups summarizes every group, sorted by name.
func (c *Coordinator) Groups() []Summary {
	var out []Summary
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if !g.removed {
			out = append(out, Summary{
				Name:         g.name,
				State:        g.state.String(),
				ProtocolType: g.protocolType,
				Protocol:     g.protocol,
				Generation:   g.generation,
				Members:      len(g.members),
			})
		}
		g.mu.Unlock()
	}
	return out
}

// Committed returns the group's committed offsets by topic and partition,
// or nil if the group does not exist. The maps are the caller's.
func (c *Coordinator) Committed(group string) map[string]map[int32]OffsetInfo {
	g := c.lockGroup(group, false)
	if g == nil {
		return nil
	}
	defer g.mu.Unlock()
	out := make(map[string]map[int32]OffsetInfo)
	for k, o := range g.offsets {
		if out[k.topic] == nil {
			out[k.topic] = make(map[int32]OffsetInfo)
		}
		out[k.topic][k.partition] = g.offsetInfo(k, o)
	}
	return out
}

// Exists tells whether a classic group (offsets-only included) named
// group exists: a group id is of one type only.
func (c *Coordinator) Exists(group string) bool {
	g := c.lockGroup(group, false)
	if g == nil {
		return false
	}
	g.mu.Unlock()
	return true
}
