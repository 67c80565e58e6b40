package share

import (
	"errors"
	"fmt"
	"time"
)

// RecordState is a record's delivery state in a share partition. The
// numbers are Kafka's (RecordState in its share partition and the
// DeliveryState of __share_group_state's StateBatch), so a snapshot
// carries them unchanged.
type RecordState int8

const (
	Available    RecordState = 0
	Acquired     RecordState = 1
	Acknowledged RecordState = 2
	Archived     RecordState = 4
)

func (s RecordState) String() string {
	switch s {
	case Available:
		return "available"
	case Acquired:
		return "acquired"
	case Acknowledged:
		return "acknowledged"
	case Archived:
		return "archived"
	}
	return fmt.Sprintf("RecordState(%d)", int8(s))
}

// AckType is an acknowledgement type of ShareFetch and ShareAcknowledge,
// with Kafka's numbers.
type AckType int8

const (
	AckGap     AckType = 0 // the offset holds no record (compaction, a control batch)
	AckAccept  AckType = 1 // processed: never delivered again
	AckRelease AckType = 2 // give it back: delivered again, to any member
	AckReject  AckType = 3 // unprocessable: never delivered again
	AckRenew   AckType = 4 // keep it: extend the acquisition lock (ShareFetch v2+)
)

// PartitionConfig bounds a share partition. Zero fields take Kafka's
// defaults.
type PartitionConfig struct {
	// LockDuration is how long an acquired record stays with its member
	// before it is available again (group.share.record.lock.duration.ms,
	// 30 s).
	LockDuration time.Duration
	// DeliveryLimit is how many times a record is delivered before a
	// release or an expired lock archives it instead
	// (group.share.delivery.count.limit, 5).
	DeliveryLimit int16
	// MaxInFlight bounds the offsets between the start and the end offset
	// (group.share.partition.max.record.locks, 2000): acquisition of new
	// records stops there, so a partition's memory is bounded however
	// its members behave.
	MaxInFlight int64
}

// WithDefaults fills the zero fields with Kafka's defaults.
func (c PartitionConfig) WithDefaults() PartitionConfig {
	if c.LockDuration <= 0 {
		c.LockDuration = 30 * time.Second
	}
	if c.DeliveryLimit <= 0 {
		c.DeliveryLimit = 5
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 2000
	}
	return c
}

// ErrInvalidRecordState is an acknowledgement of an offset that is not
// acquired by the acknowledging member (Kafka's INVALID_RECORD_STATE).
var ErrInvalidRecordState = errors.New("share: the record is not acquired by this member")

// ErrInvalidRequest is an acknowledgement batch Kafka refuses as
// INVALID_REQUEST: last before first, a type count that is neither one
// nor the batch's length, or an unknown type.
var ErrInvalidRequest = errors.New("share: invalid acknowledgement batch")

// Batch is the offset range of one stored record batch, as the broker
// reads it from the log: acquisition takes whole batches.
type Batch struct {
	First, Last int64
	// Skip: the batch is never delivered (an aborted transaction's, or a
	// transaction marker, under share.isolation.level=read_committed):
	// its offsets are archived as they are reached.
	Skip bool
}

// AcquiredRange is a range of acquired offsets delivered with one delivery
// count, as ShareFetch's AcquiredRecords carries it.
type AcquiredRange struct {
	First, Last   int64
	DeliveryCount int16
}

// StateBatch is a range of offsets with one state and delivery count, as
// __share_group_state's snapshot stores it.
type StateBatch struct {
	First, Last   int64
	State         RecordState
	DeliveryCount int16
}

type record struct {
	state      RecordState
	deliveries int16
	member     string
	deadline   time.Time
}

// Partition is one share partition: the records of one topic partition
// as one share group delivers them. Offsets below Start are finished
// (acknowledged or archived); offsets from End on have never been
// acquired; each offset in between has a state. Like the rest of the
// package it is pure and not safe for concurrent use: time comes in as
// arguments.
type Partition struct {
	cfg   PartitionConfig
	start int64
	recs  []record // recs[i] is offset start+i; the end offset is start+len(recs)
}

// NewPartition returns a partition whose delivery starts at start (the
// offset share.auto.offset.reset chose, or a reset).
func NewPartition(cfg PartitionConfig, start int64) *Partition {
	return &Partition{cfg: cfg.WithDefaults(), start: start}
}

// Config is the partition's configuration.
func (p *Partition) Config() PartitionConfig { return p.cfg }

// SetLimits takes a group's changed lock duration and delivery limit
// (zero: the default): records acquired from now on are locked that long,
// and a record is archived once delivered that many times. The window
// (MaxInFlight) stays as the partition was made with.
func (p *Partition) SetLimits(lock time.Duration, deliveries int16) {
	c := p.cfg
	c.LockDuration, c.DeliveryLimit = lock, deliveries
	p.cfg = c.WithDefaults()
}

// Start is the share-partition start offset (SPSO): every offset below it
// is finished.
func (p *Partition) Start() int64 { return p.start }

// End is the share-partition end offset (SPEO): one past the last offset
// ever acquired.
func (p *Partition) End() int64 { return p.start + int64(len(p.recs)) }

// State returns the state and delivery count of offset, which must be in
// [Start, End); below Start it is Acknowledged or Archived, which the
// partition no longer tells apart, and reported as Acknowledged.
func (p *Partition) State(offset int64) (RecordState, int16, bool) {
	if offset < p.start {
		return Acknowledged, 0, true
	}
	i := offset - p.start
	if i >= int64(len(p.recs)) {
		return Available, 0, false
	}
	return p.recs[i].state, p.recs[i].deliveries, true
}

// Acquire hands records to member until maxRecords are acquired: first the
// available records below End (released or whose lock expired), each
// delivered once more, then new records from End on, taken as whole
// batches of batches (the log's batches from End on, in order; those
// past hwm are ignored) while End is within MaxInFlight of Start. No
// record at or past hwm is handed out, so a caller that read the log only
// up to some offset passes that as hwm. It returns the acquired ranges in
// offset order.
func (p *Partition) Acquire(now time.Time, member string, maxRecords int, hwm int64, batches []Batch) []AcquiredRange {
	return p.acquire(now, member, maxRecords, hwm, batches, false)
}

// AcquireStrict is Acquire in the record-limit mode of ShareFetch v2
// (KIP-1206): never more than maxRecords, a batch cut where the limit
// falls.
func (p *Partition) AcquireStrict(now time.Time, member string, maxRecords int, hwm int64, batches []Batch) []AcquiredRange {
	return p.acquire(now, member, maxRecords, hwm, batches, true)
}

func (p *Partition) acquire(now time.Time, member string, maxRecords int, hwm int64, batches []Batch, strict bool) []AcquiredRange {
	if maxRecords <= 0 {
		return nil
	}
	var out []AcquiredRange
	n := 0
	deadline := now.Add(p.cfg.LockDuration)
	take := func(off int64, r *record) {
		r.state, r.member, r.deadline = Acquired, member, deadline
		r.deliveries++
		if k := len(out) - 1; k >= 0 && out[k].Last == off-1 && out[k].DeliveryCount == r.deliveries {
			out[k].Last = off
		} else {
			out = append(out, AcquiredRange{First: off, Last: off, DeliveryCount: r.deliveries})
		}
		n++
	}
	for i := range p.recs {
		if n >= maxRecords {
			return out
		}
		if off := p.start + int64(i); off >= hwm {
			break
		} else if p.recs[i].state == Available {
			take(off, &p.recs[i])
		}
	}
	for _, b := range batches {
		end := p.End()
		if n >= maxRecords || end-p.start >= p.cfg.MaxInFlight || end >= hwm {
			break
		}
		if b.Last < end {
			continue
		}
		if b.First > end {
			// The log holds no offsets in between (compacted, or deleted
			// below the log start): nothing to deliver there. With records
			// in flight the gap is held as archived offsets, so it must fit
			// in the window; otherwise acquisition waits for the window to
			// drain, and the gap then costs nothing.
			if len(p.recs) > 0 && b.First-p.start >= p.cfg.MaxInFlight {
				break
			}
			p.skipTo(b.First)
			end = b.First
		}
		// A batch is taken whole, but never past the window: a batch of a
		// million records is delivered MaxInFlight offsets at a time, so
		// a partition's memory stays bounded.
		last := min(b.Last, hwm-1, p.start+p.cfg.MaxInFlight-1)
		if b.Skip {
			p.skipTo(last + 1) // archived, within the window
			continue
		}
		if strict {
			last = min(last, end+int64(maxRecords-n)-1)
		}
		for off := end; off <= last; off++ {
			p.recs = append(p.recs, record{})
			take(off, &p.recs[len(p.recs)-1])
		}
	}
	return out
}

// FirstAvailable is the lowest available offset below End, or End when
// none is: where a fetch for the partition reads the log from.
func (p *Partition) FirstAvailable() int64 {
	for i := range p.recs {
		if p.recs[i].state == Available {
			return p.start + int64(i)
		}
	}
	return p.End()
}

// Lag is the number of records from Start up to hwm not yet finished
// (acknowledged or archived): DescribeShareGroupOffsets v1's lag
// (KIP-1226).
func (p *Partition) Lag(hwm int64) int64 {
	if hwm <= p.start {
		return 0
	}
	n := hwm - p.start
	for i := range p.recs {
		if p.start+int64(i) >= hwm {
			break
		}
		if s := p.recs[i].state; s == Acknowledged || s == Archived {
			n--
		}
	}
	return n
}

// skipTo moves End to off with the offsets in between archived: they hold
// no records.
func (p *Partition) skipTo(off int64) {
	if len(p.recs) == 0 {
		p.start = max(p.start, off)
		return
	}
	for p.End() < off {
		p.recs = append(p.recs, record{state: Archived})
	}
	p.advance()
}

// Acknowledge applies one acknowledgement batch of member: types holds
// one type for the whole of [first, last] or one per offset. Every offset
// must be acquired by member (ErrInvalidRecordState) and the batch well
// formed (ErrInvalidRequest); nothing changes unless all of it applies.
// A renewal extends the lock from now.
func (p *Partition) Acknowledge(now time.Time, member string, first, last int64, types []AckType) error {
	if last < first || (len(types) != 1 && int64(len(types)) != last-first+1) {
		return ErrInvalidRequest
	}
	for _, t := range types {
		if t < AckGap || t > AckRenew {
			return ErrInvalidRequest
		}
	}
	switch {
	case last >= p.End() && p.End() == p.start:
		// Nothing in flight: Kafka 4.4 finds no batch to acknowledge.
		return ErrInvalidRecordState
	case last >= p.End():
		// Past the records ever delivered: Kafka 4.4 refuses the batch.
		return ErrInvalidRequest
	}
	// Offsets below Start are finished: acknowledging them again changes
	// nothing and is no error (Kafka 4.4 answers so).
	from := max(first, p.start)
	for off := from; off <= last; off++ {
		r := &p.recs[off-p.start]
		if r.state != Acquired || r.member != member {
			return ErrInvalidRecordState
		}
	}
	for off := from; off <= last; off++ {
		t := types[0]
		if len(types) > 1 {
			t = types[off-first]
		}
		r := &p.recs[off-p.start]
		switch t {
		case AckGap, AckReject:
			*r = record{state: Archived, deliveries: r.deliveries}
		case AckAccept:
			*r = record{state: Acknowledged, deliveries: r.deliveries}
		case AckRelease:
			p.release(r)
		case AckRenew:
			r.deadline = now.Add(p.cfg.LockDuration)
		}
	}
	p.advance()
	return nil
}

// release makes an acquired record available again, or archives it once
// it was delivered DeliveryLimit times.
func (p *Partition) release(r *record) {
	s := Available
	if r.deliveries >= p.cfg.DeliveryLimit {
		s = Archived
	}
	*r = record{state: s, deliveries: r.deliveries}
}

// Expire releases every record whose lock ended by now, and returns how
// many it released.
func (p *Partition) Expire(now time.Time) int {
	return p.releaseWhere(func(r *record) bool { return !r.deadline.After(now) })
}

// ReleaseMember releases every record member holds (it left, or its share
// session closed), and returns how many.
func (p *Partition) ReleaseMember(member string) int {
	return p.releaseWhere(func(r *record) bool { return r.member == member })
}

// releaseWhere releases the acquired records that match, and returns how
// many.
func (p *Partition) releaseWhere(match func(*record) bool) int {
	n := 0
	for i := range p.recs {
		if r := &p.recs[i]; r.state == Acquired && match(r) {
			p.release(r)
			n++
		}
	}
	p.advance()
	return n
}

// NextDeadline is the earliest lock to expire (zero if none is held).
func (p *Partition) NextDeadline() time.Time {
	var next time.Time
	for i := range p.recs {
		if r := &p.recs[i]; r.state == Acquired && (next.IsZero() || r.deadline.Before(next)) {
			next = r.deadline
		}
	}
	return next
}

// LogStartMoved archives what the log no longer holds: offsets below
// logStart (retention, DeleteRecords) can no longer be delivered.
func (p *Partition) LogStartMoved(logStart int64) {
	if logStart <= p.start {
		return
	}
	if logStart >= p.End() {
		p.start, p.recs = logStart, p.recs[:0]
		return
	}
	p.recs = p.recs[logStart-p.start:]
	p.start = logStart
	p.advance()
}

// Reset moves delivery to start with no records in flight
// (AlterShareGroupOffsets, or the log truncated below End).
func (p *Partition) Reset(start int64) {
	p.start, p.recs = start, nil
}

// advance moves Start past the finished records at its front.
func (p *Partition) advance() {
	i := 0
	for i < len(p.recs) && (p.recs[i].state == Acknowledged || p.recs[i].state == Archived) {
		i++
	}
	if i == 0 {
		return
	}
	p.start += int64(i)
	p.recs = append(p.recs[:0], p.recs[i:]...)
}

// Snapshot is the partition as __share_group_state stores it: the start
// offset and the state of each offset in flight, in ranges. A lock does
// not survive a restart, so an acquired record is stored available with
// its delivery count, as Kafka stores it.
func (p *Partition) Snapshot() (start int64, batches []StateBatch) {
	for i, r := range p.recs {
		s := r.state
		if s == Acquired {
			s = Available
		}
		off := p.start + int64(i)
		if k := len(batches) - 1; k >= 0 && batches[k].Last == off-1 && batches[k].State == s && batches[k].DeliveryCount == r.deliveries {
			batches[k].Last = off
			continue
		}
		batches = append(batches, StateBatch{First: off, Last: off, State: s, DeliveryCount: r.deliveries})
	}
	return p.start, batches
}

// RestorePartition rebuilds a partition from a snapshot. Batches must be
// in offset order, at or after start, and not overlap. An offset from
// start to the last batch that no batch names is available and was never
// delivered; End stands after the last batch.
func RestorePartition(cfg PartitionConfig, start int64, batches []StateBatch) (*Partition, error) {
	p := NewPartition(cfg, start)
	for _, b := range batches {
		if b.First < p.End() || b.Last < b.First {
			return nil, fmt.Errorf("share: snapshot batch [%d, %d] out of order (end %d)", b.First, b.Last, p.End())
		}
		// Acquisition may overrun MaxInFlight by the rest of a batch, and
		// the bound may have been lowered since the snapshot was written:
		// the slack admits both and still bounds what a damaged snapshot
		// can make a restore allocate.
		if b.Last-start >= p.cfg.MaxInFlight*4 {
			return nil, fmt.Errorf("share: snapshot batch [%d, %d] beyond the in-flight bound", b.First, b.Last)
		}
		switch b.State {
		case Available, Acknowledged, Archived:
		default:
			return nil, fmt.Errorf("share: snapshot batch [%d, %d] in state %v", b.First, b.Last, b.State)
		}
		for p.End() < b.First {
			p.recs = append(p.recs, record{})
		}
		for off := b.First; off <= b.Last; off++ {
			p.recs = append(p.recs, record{state: b.State, deliveries: b.DeliveryCount})
		}
	}
	p.advance()
	return p, nil
}
