package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"sync"
)

// The offset map of compaction: what a run knows about keys, in a table of
// fixed size, so that the memory a run takes does not depend on how many
// distinct keys clients chose (Kafka's SkimpyOffsetMap,
// log.cleaner.dedupe.buffer.size). When the keys of the closed segments do
// not fit, a run cleans them in several passes (see Compact).

// DefaultDedupeBufferSize is the offset map's size when
// CompactPolicy.DedupeBufferSize is 0: about 1.25 million keys per pass.
const DefaultDedupeBufferSize = 32 << 20

const (
	// slotBytes is the size of one slot: a 128-bit hash and 8 bytes.
	slotBytes = 24
	// The table is filled to at most this fraction of its slots (Kafka's
	// log.cleaner.io.buffer.load.factor default), which keeps linear
	// probing short.
	dedupeLoadFactor = 0.9
	// minDedupeSlots is the smallest table, whatever the policy says.
	minDedupeSlots = 64
)

// Flags in the value of a key's slot; the low bits hold the offset of the
// key's latest record.
const (
	omExpiredTomb = 1 << 62 // the latest record is a tombstone past DeleteRetention
	omInWindow    = 1 << 61 // the latest record's timestamp is within HistoryRetention
	omOffsetMask  = omInWindow - 1
)

// omHash names a slot: the first 128 bits of SHA-256 over a domain byte and
// the key (or, for successor entries, the record's offset). Two keys with
// the same hash would be taken for one, and the older key's latest record
// would be removed as superseded; keys are chosen by clients, so the hash
// must be one that nobody can find a second key for (a non-cryptographic
// hash such as xxHash can be inverted at will). Finding a key whose
// truncated SHA-256 matches another's takes about 2^128 tries.
type omHash struct{ h0, h1 uint64 }

type omSlot struct {
	h omHash // zero: empty
	v uint64
}

// offsetMap is an open-addressing table with linear probing and no
// deletes. It is a window on the process's one dedupe buffer, held while
// the run uses it.
type offsetMap struct {
	slots []omSlot
	used  int // occupied slots
	limit int // slots that may be occupied
	buf   []byte
}

// dedupe is the process's dedupe buffer: compaction runs take it one at a
// time, so that all of them together use at most the largest budget any
// policy asked for. It is allocated at the first need, grows to what runs
// need (at most that budget), and is kept for the next runs as Kafka's
// cleaner threads keep theirs.
var dedupe struct {
	mu    sync.Mutex
	slots []omSlot
}

// dedupeSlots is how many slots a budget of size bytes buys.
func dedupeSlots(size int64) int {
	if size <= 0 {
		size = DefaultDedupeBufferSize
	}
	return int(max(size/slotBytes, minDedupeSlots))
}

// acquireOffsetMap takes the dedupe buffer, waiting for any run using it,
// and returns a table of at most budget bytes, no larger than needed for
// entries entries in one pass.
func acquireOffsetMap(budget int64, entries int64) *offsetMap {
	n := dedupeSlots(budget)
	if need := int64(float64(entries)/dedupeLoadFactor) + 1; need < int64(n) {
		n = int(max(need, minDedupeSlots))
	}
	dedupe.mu.Lock()
	if cap(dedupe.slots) < n {
		// Grow at least twofold (within the budget) so that a broker
		// whose logs grow reallocates a few times, not at every run.
		grow := min(max(n, 2*cap(dedupe.slots)), dedupeSlots(budget))
		dedupe.slots = nil // collectable before the new one is allocated
		dedupe.slots = make([]omSlot, grow)
	}
	m := &offsetMap{slots: dedupe.slots[:n:n]}
	m.limit = min(int(float64(n)*dedupeLoadFactor), n-1)
	m.clear()
	return m
}

// release gives the dedupe buffer back.
func (m *offsetMap) release() {
	m.slots = nil
	dedupe.mu.Unlock()
}

func (m *offsetMap) clear() {
	clear(m.slots)
	m.used = 0
}

// bytes is the size of the table.
func (m *offsetMap) bytes() int64 { return int64(len(m.slots)) * slotBytes }

// free is how many more slots may be occupied.
func (m *offsetMap) free() int { return m.limit - m.used }

// home is the slot where h's probe starts.
func (m *offsetMap) home(h omHash) uint64 {
	i, _ := bits.Mul64(h.h0, uint64(len(m.slots)))
	return i
}

// dist is how far slot i is from the home of the entry it holds.
func (m *offsetMap) dist(i uint64) uint64 {
	n := uint64(len(m.slots))
	return (i + n - m.home(m.slots[i].h)) % n
}

// find returns h's slot, valid until the next insert. Entries are kept in
// Robin Hood order (along a probe, none is farther from its home than the
// one after it is from its own), so a probe for an absent hash stops at
// the first entry nearer its home than the probe has gone: at 90% full,
// lookups of keys the map does not hold (most of them, in a pass's
// reading on past its range) stop after a few slots instead of scanning
// the whole cluster.
func (m *offsetMap) find(h omHash) (s *omSlot, found bool) {
	n := uint64(len(m.slots))
	i := m.home(h)
	for d := uint64(0); ; d++ {
		s := &m.slots[i]
		if s.h == h {
			return s, true
		}
		if s.h == (omHash{}) || m.dist(i) < d {
			return nil, false
		}
		if i++; i == n {
			i = 0
		}
	}
}

func (m *offsetMap) get(h omHash) (uint64, bool) {
	if s, ok := m.find(h); ok {
		return s.v, true
	}
	return 0, false
}

// insert adds h, which find did not find. Along its probe it takes the
// place of the first entry nearer its home, which moves on to the next
// such place, and so on to an empty slot. The caller checks free first:
// the table is never filled past its limit, so there always is one.
func (m *offsetMap) insert(h omHash, v uint64) {
	if m.used >= m.limit {
		panic("storage: offset map filled past its limit")
	}
	n := uint64(len(m.slots))
	cur := omSlot{h, v}
	i := m.home(h)
	for d := uint64(0); ; d++ {
		s := &m.slots[i]
		if s.h == (omHash{}) {
			*s = cur
			m.used++
			return
		}
		if sd := m.dist(i); sd < d {
			cur, *s = *s, cur
			d = sd
		}
		if i++; i == n {
			i = 0
		}
	}
}

// keyHash is the hash of a record key.
func (m *offsetMap) keyHash(key []byte) omHash {
	m.buf = append(append(m.buf[:0], 'k'), key...)
	return sumHash(m.buf)
}

// succHash names the entry holding the timestamp of the record that
// superseded the record at off.
func (m *offsetMap) succHash(off int64) omHash {
	m.buf = binary.BigEndian.AppendUint64(append(m.buf[:0], 's'), uint64(off))
	return sumHash(m.buf)
}

func sumHash(b []byte) omHash {
	sum := sha256.Sum256(b)
	h := omHash{binary.LittleEndian.Uint64(sum[0:]), binary.LittleEndian.Uint64(sum[8:])}
	if h == (omHash{}) {
		h.h1 = 1 // zero marks an empty slot
	}
	return h
}
