package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kerr"
)

// StateTopic is the internal topic holding transaction state.
const StateTopic = "__transaction_state"

// Config is the coordinator's configuration; DefaultConfig has Kafka 4.x's
// defaults.
type Config struct {
	// Partitions of __transaction_state
	// (transaction.state.log.num.partitions, 50).
	Partitions int32
	// MaxTimeout is transaction.max.timeout.ms (15 min): InitProducerId
	// with a longer transaction.timeout.ms gets INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// IDExpiration is transactional.id.expiration.ms (7 days): an id with
	// no open transaction and no use for that long is forgotten.
	IDExpiration time.Duration
	// AbortInterval is how often transactions open longer than their
	// timeout are looked for and aborted
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s).
	AbortInterval time.Duration
	// ExpireInterval is how often expired ids are looked for
	// (transaction.remove.expired.transaction.cleanup.interval.ms, 1 h).
	ExpireInterval time.Duration
	// Version is the finalized transaction.version feature level (2).
	// Level 2 makes the coordinator bump the epoch at every transaction
	// end for clients that send EndTxn v5+; older clients are served as
	// before whatever the level.
	Version int16
	// CoordinatorEpoch is put in every marker (Kafka: the leader epoch
	// of the id's __transaction_state partition).
	CoordinatorEpoch int32
	// NewProducerID hands out a producer id that was never given before.
	NewProducerID func() (int64, error)

	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultConfig returns Kafka 4.x's defaults (NewProducerID unset).
func DefaultConfig() Config {
	return Config{
		Partitions:     50,
		MaxTimeout:     15 * time.Minute,
		IDExpiration:   7 * 24 * time.Hour,
		AbortInterval:  10 * time.Second,
		ExpireInterval: time.Hour,
		Version:        TV2,
		Now:            time.Now,
	}
}

// Store is the coordinator's way to __transaction_state.
type Store interface {
	// Write appends one record to partition p (value nil: a tombstone)
	// and returns once it is durable. An error means it is not, and is
	// answered to the client as Kafka answers a failed write of the
	// transaction log (NOT_COORDINATOR, or the error itself when it is a
	// Kafka error the client knows: see appendErr).
	Write(ctx context.Context, partition int32, key, value []byte) error
}

// Markers is the outcome of one transaction, to be written as a control
// record into every partition it touched.
type Markers struct {
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16 // the epoch the markers carry
	Commit           bool
	CoordinatorEpoch int32
	// TransactionVersion is the client's: with TV2 the markers carry the
	// bumped epoch, so the partition accepts a marker epoch above the
	// batches' (Kafka's WriteTxnMarkers v2 field).
	TransactionVersion int16
	Partitions         []Partition // sorted; __consumer_offsets partitions included
}

// MarkerWriter writes a transaction's markers (the broker implements it).
type MarkerWriter interface {
	// WriteMarkers writes the marker into every partition of m and
	// returns once they are durable, or the partitions whose marker is
	// not (to be written again later) with the error of one of them. A
	// partition that no longer exists counts as written, as Kafka drops
	// markers to deleted partitions.
	WriteMarkers(ctx context.Context, m Markers) (retry []Partition, err error)
}

// Coordinator is the transaction coordinator of a node. Create it with
// New, Replay every record of __transaction_state into it, then Start.
type Coordinator struct {
	cfg     Config
	store   Store
	markers MarkerWriter
	log     *slog.Logger

	mu     sync.Mutex
	txns   map[string]*meta
	fenced map[int32]error // __transaction_state partitions that could not be read back
	// changed is closed and replaced on every completed transition:
	// waiters for a transaction to settle (tests, shutdown) watch it.
	changed chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a coordinator over store and markers.
func New(cfg Config, store Store, markers MarkerWriter) *Coordinator {
	d := DefaultConfig()
	if cfg.Partitions <= 0 {
		cfg.Partitions = d.Partitions
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = d.MaxTimeout
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = d.IDExpiration
	}
	if cfg.AbortInterval <= 0 {
		cfg.AbortInterval = d.AbortInterval
	}
	if cfg.ExpireInterval <= 0 {
		cfg.ExpireInterval = d.ExpireInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{cfg: cfg, store: store, markers: markers, log: cfg.Logger,
		txns: map[string]*meta{}, fenced: map[int32]error{}, changed: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Partitions is the partition count of __transaction_state ids are
// hashed over.
func (c *Coordinator) Partitions() int32 { return c.cfg.Partitions }

// Version is the finalized transaction.version level the coordinator runs.
func (c *Coordinator) Version() int16 { return c.cfg.Version }

// PartitionFor is the __transaction_state partition of a transactional id
// (the same hash Kafka uses for it and for groups).
func (c *Coordinator) PartitionFor(id string) int32 {
	return offsetsfmt.PartitionFor(id, c.cfg.Partitions)
}

// FencePartition makes the ids of __transaction_state partition p
// unavailable (their records could not be read back): their requests get
// COORDINATOR_NOT_AVAILABLE, as Kafka answers while the partition has no
// leader.
func (c *Coordinator) FencePartition(p int32, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fenced[p] = err
	for id := range c.txns {
		if c.PartitionFor(id) == p {
			delete(c.txns, id)
		}
	}
}

// IDErr is the error of the coordinator of id (FindCoordinator): nil, or
// why its partition is not served.
func (c *Coordinator) IDErr(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err, ok := c.fenced[c.PartitionFor(id)]; ok {
		return fmt.Errorf("%s-%d is fenced: %w", StateTopic, c.PartitionFor(id), err)
	}
	return nil
}

// Start completes the transactions that were between their prepare and
// complete records at the last stop (their markers are written again),
// and starts the timers that abort timed-out transactions and expire ids.
func (c *Coordinator) Start() {
	c.mu.Lock()
	var resume []*meta
	for _, m := range c.txns {
		if m.state == PrepareCommit || m.state == PrepareAbort {
			resume = append(resume, m)
		}
	}
	for _, m := range resume {
		t, err := m.prepareComplete(c.nowMs())
		if err != nil {
			c.log.Error("transaction cannot be completed", "transactional_id", m.id, "err", err)
			continue
		}
		c.completeLater(m, m.snapshot(), t)
	}
	c.mu.Unlock()
	c.wg.Add(1)
	go c.timers()
}

// Close stops the timers and the marker writes in progress (a restart
// writes them again) and waits for them to return.
func (c *Coordinator) Close() {
	c.cancel()
	c.wg.Wait()
}

func (c *Coordinator) timers() {
	defer c.wg.Done()
	abort := time.NewTicker(c.cfg.AbortInterval)
	defer abort.Stop()
	expire := time.NewTicker(c.cfg.ExpireInterval)
	defer expire.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-abort.C:
			c.AbortTimedOut()
		case <-expire.C:
			c.ExpireIDs()
		}
	}
}

func (c *Coordinator) nowMs() int64 { return c.cfg.Now().UnixMilli() }

// lookup returns id's meta, or the error of its partition.
func (c *Coordinator) lookup(id string) (*meta, *kerr.Error) {
	if _, ok := c.fenced[c.PartitionFor(id)]; ok {
		return nil, kerr.CoordinatorNotAvailable
	}
	return c.txns[id], nil
}

// write persists t for m outside the lock and applies it if it was
// written; on failure the pending transition is dropped. c.mu must be
// held on entry and is held again on return.
func (c *Coordinator) write(ctx context.Context, m *meta, t transit) *kerr.Error {
	key, value := encode(m.id, t, c.cfg.Version)
	p := c.PartitionFor(m.id)
	c.mu.Unlock()
	err := c.store.Write(ctx, p, key, value)
	c.mu.Lock()
	if c.txns[m.id] != m {
		// Fenced or expired meanwhile: what was written describes an
		// id this coordinator no longer serves.
		m.pending = noState
		return kerr.NotCoordinator
	}
	if err != nil {
		m.pending = noState
		c.log.Warn("transaction state write failed", "transactional_id", m.id, "state", t.state, "err", err)
		return appendErr(err)
	}
	m.complete(t)
	c.notify()
	return nil
}

func (c *Coordinator) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// appendErr is the answer to a failed write of __transaction_state, as
// Kafka's TransactionStateManager maps them: the partition being gone or
// not writable becomes NOT_COORDINATOR (the client finds the coordinator
// again and retries), an oversized record or corrupt batch
// UNKNOWN_SERVER_ERROR, and an abandoned wait COORDINATOR_NOT_AVAILABLE.
func appendErr(err error) *kerr.Error {
	var ke *kerr.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return kerr.CoordinatorNotAvailable
	case errors.As(err, &ke):
		switch ke {
		case kerr.UnknownTopicOrPartition, kerr.NotLeaderForPartition, kerr.KafkaStorageError, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend:
			return kerr.NotCoordinator
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize, kerr.CorruptMessage:
			return kerr.UnknownServerError
		}
		return ke
	}
	return kerr.NotCoordinator
}

// Replay feeds one record of __transaction_state partition p into the
// coordinator, in offset order, before Start. A tombstone forgets the id.
func (c *Coordinator) Replay(p int32, key, value []byte) error {
	id, ok, err := decodeKey(key)
	if err != nil || !ok {
		return err // a key of another version is skipped, as Kafka does
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if value == nil {
		delete(c.txns, id)
		return nil
	}
	m, err := decodeValue(id, value)
	if err != nil {
		return err
	}
	c.txns[id] = m
	return nil
}
