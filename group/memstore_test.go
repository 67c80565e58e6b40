package group

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// memStore is the in-memory Store of the group tests. It keeps the
// promises the broker's store keeps and no more (the contract suite,
// group/storetest, runs against both: store_contract_test.go): records per
// partition in append order; batches over max.message.bytes refused with
// MESSAGE_TOO_LARGE; on a full disk commits refused with ErrStoreFull and
// tombstones taken; durability a prefix of the append order; a failed
// write or fsync fencing the partition until a reopen.
//
// Durability: by default records are durable when Append returns. Tests
// hold it back three ways: block (every later Wait waits for the channel
// to close), gated (each later Append gets a gate the test opens with
// release, in any order, modelling Waits that return in another order
// than the fsyncs) and stall (the contract suite's held fsync of one
// partition).
type memStore struct {
	mu       sync.Mutex
	parts    map[int32][]Record
	batches  map[int32][]Batch         // the batch of each record of parts
	epochs   map[int32]map[int64]int16 // producer epochs seen, per partition
	durable  map[int32]int             // records of each partition that are durable
	fenced   map[int32]error           // partitions refusing appends until a reopen
	maxBytes int                       // max.message.bytes; 0 is Kafka's default

	fail  error         // returned by Append when set
	block chan struct{} // when set, the Wait of later Appends waits for it to close
	gated bool          // see release
	gates []*gate

	full      bool                    // the disk is full
	failWrite map[int32]bool          // the next write of the partition fails
	failSync  map[int32]bool          // the next fsync of the partition fails
	stalls    map[int32]chan struct{} // fsyncs held until the channel closes

	// broken breaks one promise on purpose, to show that the contract
	// suite catches it (TestContractCatchesBrokenFake).
	broken    string
	holdout   map[int32]*Record // broken "split": a batch's last record, held back
	waited    map[*memPending]bool
	failedEnd map[int32]int // broken "sync-sticky": the one append whose fsync failed
}

func newMemStore() *memStore {
	return &memStore{
		parts: make(map[int32][]Record), durable: make(map[int32]int), fenced: make(map[int32]error),
		batches: make(map[int32][]Batch), epochs: make(map[int32]map[int64]int16),
		failWrite: make(map[int32]bool), failSync: make(map[int32]bool), stalls: make(map[int32]chan struct{}),
		holdout: make(map[int32]*Record), waited: make(map[*memPending]bool), failedEnd: make(map[int32]int),
	}
}

// defaultMaxMessageBytes is Kafka's max.message.bytes default, which
// __consumer_offsets has in Kafka and in Rewind.
const defaultMaxMessageBytes = 1048588

func (s *memStore) Append(p int32, recs []Record) (Pending, error) {
	return s.appendBatch(p, plainBatch, recs)
}

// AppendTxn keeps the batch's producer with its records and refuses an
// epoch older than the producer's last one in the partition, as the
// log's producer state does.
func (s *memStore) AppendTxn(p int32, pid int64, epoch int16, recs []Record) (Pending, error) {
	return s.appendBatch(p, Batch{ProducerID: pid, ProducerEpoch: epoch, Transactional: true}, recs)
}

// AppendMarker appends the control record as Kafka encodes it.
func (s *memStore) AppendMarker(p int32, m Marker) (Pending, error) {
	s.mu.Lock()
	last, ok := s.epochs[p][m.ProducerID]
	s.mu.Unlock()
	if ok && m.TxnVersion >= 2 && m.ProducerEpoch == last && s.broken != "txn-epoch" {
		return nil, fmt.Errorf("memstore: marker of producer %d: epoch %d is not newer than %d: %w", m.ProducerID, m.ProducerEpoch, last, kerr.InvalidProducerEpoch)
	}
	return s.appendBatch(p, Batch{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Transactional: true, Control: true},
		[]Record{MarkerRecord(m.Commit, 0)})
}

func (s *memStore) appendBatch(p int32, b Batch, recs []Record) (Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	if err := s.fenced[p]; err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		if s.broken == "empty" {
			return nil, errors.New("memstore: broken: no records")
		}
		return durablePending{}, nil
	}
	max := s.maxBytes
	if max <= 0 {
		max = defaultMaxMessageBytes
	}
	if n := BatchSize(recs); n > max && s.broken != "size" {
		return nil, fmt.Errorf("memstore: batch of %d bytes exceeds max.message.bytes %d: %w", n, max, kerr.MessageTooLarge)
	}
	if s.broken == "txn-plain" && !b.Control {
		b = plainBatch
	}
	if b.ProducerID >= 0 && s.broken != "txn-epoch" {
		if last, ok := s.epochs[p][b.ProducerID]; ok && b.ProducerEpoch < last {
			return nil, fmt.Errorf("memstore: producer %d epoch %d is older than %d: %w", b.ProducerID, b.ProducerEpoch, last, kerr.InvalidProducerEpoch)
		}
	}
	if s.full && (!b.Control || s.broken == "marker-full") && (b.Control || hasCommit(recs) && s.broken != "full" || s.broken == "full-tombstones") {
		return nil, fmt.Errorf("%w: memstore: no space left", ErrStoreFull)
	}
	if s.failWrite[p] {
		delete(s.failWrite, p)
		err := fmt.Errorf("memstore: write of partition %d: input/output error: %w", p, kerr.KafkaStorageError)
		if s.broken != "write-sticky" {
			s.fenced[p] = err
		}
		return nil, err
	}
	if b.ProducerID >= 0 {
		if s.epochs[p] == nil {
			s.epochs[p] = make(map[int64]int16)
		}
		s.epochs[p][b.ProducerID] = b.ProducerEpoch
	}
	s.store(p, b, recs)
	end := len(s.parts[p])
	switch {
	case s.gated:
		g := &gate{s: s, p: p, end: end, open: make(chan struct{})}
		s.gates = append(s.gates, g)
		return g, nil
	case s.block != nil:
		return &memPending{s: s, p: p, end: end, block: s.block}, nil
	case s.stalls[p] == nil || s.broken == "stall":
		s.syncLocked(p)
	}
	return &memPending{s: s, p: p, end: end, held: s.stalls[p] != nil}, nil
}

// store appends copies of recs to partition p.
func (s *memStore) store(p int32, b Batch, recs []Record) {
	if s.broken == "reverse" {
		recs = append([]Record(nil), recs...)
		slices.Reverse(recs)
	}
	if s.broken == "split" {
		if r := s.holdout[p]; r != nil {
			s.parts[p] = append(s.parts[p], *r)
			s.batches[p] = append(s.batches[p], b)
		}
		last := recs[len(recs)-1]
		s.holdout[p] = &last
		recs = recs[:len(recs)-1]
	}
	for _, r := range recs {
		if s.broken != "alias" {
			r.Key = append([]byte(nil), r.Key...)
			if r.Value != nil {
				r.Value = append([]byte(nil), r.Value...)
			}
		}
		s.parts[p] = append(s.parts[p], r)
		s.batches[p] = append(s.batches[p], b)
	}
}

// syncLocked is an fsync of partition p: every record appended is durable,
// or, if the fsync fails, none more is and the partition is fenced.
func (s *memStore) syncLocked(p int32) {
	if s.fenced[p] != nil {
		return
	}
	if s.failSync[p] {
		delete(s.failSync, p)
		if s.broken == "sync-sticky" {
			// Only the append it covered fails, and not for good.
			s.failedEnd[p] = len(s.parts[p])
			return
		}
		s.fenced[p] = fmt.Errorf("memstore: fsync of partition %d: input/output error: %w", p, kerr.KafkaStorageError)
		return
	}
	s.durable[p] = len(s.parts[p])
}

func hasCommit(recs []Record) bool {
	for _, r := range recs {
		if len(r.Key) >= 2 && binary.BigEndian.Uint16(r.Key) <= 1 && r.Value != nil {
			return true
		}
	}
	return false
}

type durablePending struct{}

func (durablePending) Wait(context.Context) error { return nil }

// memPending is the durability of records below end of partition p.
type memPending struct {
	s     *memStore
	p     int32
	end   int
	block chan struct{}
	held  bool // its partition's fsyncs were held at Append
}

func (m *memPending) Wait(ctx context.Context) error {
	if err := m.brokenWait(); err != nil {
		return err
	}
	if m.block != nil {
		select {
		case <-m.block:
		case <-ctx.Done():
			return ctx.Err()
		}
		m.s.mu.Lock()
		m.s.durable[m.p] = max(m.s.durable[m.p], m.end)
		m.s.mu.Unlock()
	}
	for {
		m.s.mu.Lock()
		if m.s.durable[m.p] >= m.end {
			m.s.mu.Unlock()
			return nil
		}
		if m.s.failedEnd[m.p] == m.end {
			m.s.mu.Unlock()
			return errors.New("memstore: broken: fsync failed")
		}
		if err := m.s.fenced[m.p]; err != nil {
			m.s.mu.Unlock()
			return err
		}
		held := m.s.stalls[m.p]
		m.s.mu.Unlock()
		if held == nil {
			panic("memstore: records neither durable, failed nor held")
		}
		select {
		case <-held:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// gate is one gated Append's durability, decided by the test.
type gate struct {
	s    *memStore
	p    int32
	end  int
	open chan struct{}
	err  error // set before open closes
}

func (g *gate) Wait(ctx context.Context) error {
	select {
	case <-g.open:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release answers the i-th gated Append's Wait: durable (err nil) or its
// fsync failed. A failure fences the partition, as the broker's store
// does: later Appends to it fail, and a gate of a later Append released
// afterwards fails too (a failed fsync is never followed by durable
// records). Gates may be released in any order otherwise.
func (s *memStore) release(i int, err error) {
	s.mu.Lock()
	g := s.gates[i]
	switch {
	case err != nil:
		if s.fenced[g.p] == nil {
			s.fenced[g.p] = err
		}
	case s.fenced[g.p] != nil && g.end > s.durable[g.p]:
		err = s.fenced[g.p]
	default:
		s.durable[g.p] = max(s.durable[g.p], g.end)
	}
	s.mu.Unlock()
	g.err = err
	close(g.open)
}

func (s *memStore) gateCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.gates)
}

func (s *memStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// ---- the contract suite's faults (export_test.go) ----

// read returns the durable records of p.
func (s *memStore) read(p int32) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.parts[p][:s.durable[p]]...)
}

// readBatches returns the batch of each durable record of p.
func (s *memStore) readBatches(p int32) []Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Batch(nil), s.batches[p][:s.durable[p]]...)
}

// brokenWait answers a Wait as a store with a broken promise does: an
// earlier append held with a later one lost once the later is durable
// ("prefix"), a second Wait failing ("twice").
func (m *memPending) brokenWait() error {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.broken {
	case "prefix":
		if m.held && m.end < len(s.parts[m.p]) && s.stalls[m.p] == nil {
			return errors.New("memstore: broken: an earlier append was lost")
		}
	case "twice":
		if s.waited[m] {
			return errors.New("memstore: broken: waited before")
		}
		s.waited[m] = true
	}
	return nil
}

// reopen is a restart on the same data: every record appended is there
// (a clean close writes what was buffered), no fault and no fence.
func (s *memStore) reopen() *memStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := newMemStore()
	n.maxBytes, n.broken = s.maxBytes, s.broken
	for p, m := range s.epochs {
		n.epochs[p] = maps.Clone(m)
	}
	for p, rs := range s.parts {
		if s.broken == "reopen" && len(rs) > 0 {
			rs = rs[:len(rs)-1] // the last record lost
		}
		n.parts[p] = append([]Record(nil), rs...)
		n.batches[p] = append([]Batch(nil), s.batches[p][:len(rs)]...)
		n.durable[p] = len(rs)
	}
	return n
}

func (s *memStore) setFull(full bool) {
	s.mu.Lock()
	s.full = full
	s.mu.Unlock()
}

func (s *memStore) fence(p int32) {
	s.mu.Lock()
	if s.fenced[p] == nil && s.broken != "fence" {
		s.fenced[p] = fmt.Errorf("memstore: partition %d fenced: %w", p, kerr.KafkaStorageError)
	}
	s.mu.Unlock()
}

func (s *memStore) setFailWrite(p int32) {
	s.mu.Lock()
	s.failWrite[p] = true
	s.mu.Unlock()
}

func (s *memStore) setFailSync(p int32) {
	s.mu.Lock()
	s.failSync[p] = true
	s.mu.Unlock()
}

// stall holds partition p's fsyncs until release.
func (s *memStore) stall(p int32) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.stalls[p] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.stalls, p)
			s.syncLocked(p)
			s.mu.Unlock()
			close(ch)
		})
	}
}
