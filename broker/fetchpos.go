package broker

import (
	"container/list"
	"sync"
	"time"
)

// Fetch positions: for each (client id, client host, topic, partition),
// the end of the records last returned to each connection that fetched
// them, and when. A Fetch names no group, but a group member's client id
// and host are known to its coordinator, so the rebalance timeline can
// tell how many records the previous owner of a moved partition had
// fetched past its last commit (FetchedBy), where before it could only
// bound them by the log end.
//
// The table is bounded: at most maxFetchPositions entries and
// maxFetchPositionBytes of keys (a client chooses its client id, up to
// 32 KiB), the least recently fetched entry evicted first, and at most
// fetchReadersPerKey connections per entry. What an eviction forgot is
// remembered as a time: a question about a window it may have covered is
// answered "unknown", never guessed. Metrics: rewind_fetch_positions,
// rewind_fetch_positions_max, rewind_fetch_positions_evicted_total.

const (
	maxFetchPositions     = 65536
	maxFetchPositionBytes = 16 << 20
	fetchReadersPerKey    = 4
	fetchPositionOverhead = 256 // bytes counted per entry beside its strings
)

type fetchPosKey struct {
	client, host, topic string
	partition           int32
}

// fetchReader is one connection's fetches of a key.
type fetchReader struct {
	conn        uint64
	first, last int64 // unix ns of its first and last fetch with records
	end         int64 // the offset after the records last returned
}

type fetchPosEntry struct {
	key     fetchPosKey
	readers []fetchReader
	dropped int64 // the newest last of a reader dropped for a newer one
	elem    *list.Element
}

type fetchPositions struct {
	mu      sync.Mutex
	started int64 // unix ns: nothing is known of fetches before
	m       map[fetchPosKey]*fetchPosEntry
	lru     list.List // of *fetchPosEntry, least recently fetched at the front
	bytes   int
	// evictedUpTo is the newest last fetch of an evicted entry: a window
	// that starts before it may have lost a reader.
	evictedUpTo int64
	evicted     int64
	maxEntries  int // maxFetchPositions (smaller in tests)
}

func newFetchPositions() *fetchPositions {
	return &fetchPositions{started: time.Now().UnixNano(), m: map[fetchPosKey]*fetchPosEntry{}, maxEntries: maxFetchPositions}
}

func (k fetchPosKey) cost() int {
	return len(k.client) + len(k.host) + len(k.topic) + fetchPositionOverhead
}

// fetchMark is one partition a response returned records of.
type fetchMark struct {
	topic     string
	partition int32
	end       int64
}

// record notes the records returned to connection conn of client id
// client at host (Kafka's "/1.2.3.4" form).
func (p *fetchPositions) record(client, host string, conn uint64, marks []fetchMark, now int64) {
	if len(marks) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, mk := range marks {
		k := fetchPosKey{client, host, mk.topic, mk.partition}
		e := p.m[k]
		if e == nil {
			// Own copies: the key outlives the request it came in.
			k = fetchPosKey{string([]byte(client)), string([]byte(host)), mk.topic, mk.partition}
			for len(p.m) > 0 && (len(p.m) >= p.maxEntries || p.bytes+k.cost() > maxFetchPositionBytes) {
				p.evictOldest()
			}
			e = &fetchPosEntry{key: k}
			e.elem = p.lru.PushBack(e)
			p.m[k] = e
			p.bytes += k.cost()
		} else {
			p.lru.MoveToBack(e.elem)
		}
		e.mark(conn, mk.end, now)
	}
}

func (e *fetchPosEntry) mark(conn uint64, end, now int64) {
	for i := range e.readers {
		if r := &e.readers[i]; r.conn == conn {
			r.last, r.end = now, end
			return
		}
	}
	if len(e.readers) == fetchReadersPerKey {
		// Drop the reader that fetched last longest ago.
		o := 0
		for i := range e.readers {
			if e.readers[i].last < e.readers[o].last {
				o = i
			}
		}
		e.dropped = max(e.dropped, e.readers[o].last)
		e.readers = append(e.readers[:o], e.readers[o+1:]...)
	}
	e.readers = append(e.readers, fetchReader{conn: conn, first: now, last: now, end: end})
}

func (p *fetchPositions) evictOldest() {
	f := p.lru.Front()
	if f == nil {
		return
	}
	e := p.lru.Remove(f).(*fetchPosEntry)
	delete(p.m, e.key)
	p.bytes -= e.key.cost()
	p.evicted++
	for _, r := range e.readers {
		p.evictedUpTo = max(p.evictedUpTo, r.last)
	}
	p.evictedUpTo = max(p.evictedUpTo, e.dropped)
}

// FetchedEnd is what the broker saw of one client's fetches of a
// partition in a window (FetchedBy).
type FetchedEnd struct {
	// Known: End is exact. End is the offset after the records last
	// returned to the one reader with that client id and host in the
	// window, at or before its end; -1 when it fetched no records then.
	Known bool
	End   int64
	// At is when that reader last fetched records (zero if none).
	At time.Time
	// Why says where End comes from, or why it is unknown.
	Why string
}

// Reasons FetchedBy gives.
const (
	FetchedExact      = "fetched by one connection with this client id and host"
	FetchedNone       = "no records were fetched by this client id and host while it owned the partition"
	FetchedAmbiguous  = "ambiguous: more than one connection with this client id and host fetched the partition while it owned it"
	FetchedAfter      = "unknown: this client id and host fetched the partition again after the move"
	FetchedEvicted    = "unknown: the broker's fetch positions were evicted since (bounded table)"
	FetchedBeforeBoot = "unknown: the partition was owned before the broker started, and no fetch of it was seen since"
	FetchedNoClient   = "unknown: the records name no client id or host for the member"
)

// FetchedBy tells the end of the records the broker returned to client
// id client at host (Kafka's "/1.2.3.4" form) for topic/partition between
// since (exclusive; zero: from the broker's start) and at (inclusive, to
// the millisecond, as records' timestamps are): the fetched end at the
// move of a partition away from a member that owned it since since. It
// is exact only when one connection with that client id and host
// fetched the partition in that window and not after at.
func (b *Broker) FetchedBy(client, host, topic string, partition int32, since, at time.Time) FetchedEnd {
	if client == "" && host == "" {
		return FetchedEnd{End: -1, Why: FetchedNoClient}
	}
	return b.fetchPos.query(fetchPosKey{client, host, topic, partition}, since, at)
}

func (p *fetchPositions) query(k fetchPosKey, since, at time.Time) FetchedEnd {
	lo := int64(-1 << 63)
	if !since.IsZero() {
		lo = since.UnixMilli() * int64(time.Millisecond)
	}
	hi := (at.UnixMilli()+1)*int64(time.Millisecond) - 1
	p.mu.Lock()
	defer p.mu.Unlock()
	unknown := FetchedEnd{End: -1}
	if p.evictedUpTo > lo {
		unknown.Why = FetchedEvicted
		return unknown
	}
	var in []fetchReader
	if e := p.m[k]; e != nil {
		if e.dropped > lo {
			unknown.Why = FetchedAmbiguous
			return unknown
		}
		for _, r := range e.readers {
			if r.last > lo && r.first <= hi {
				in = append(in, r)
			}
		}
	}
	switch {
	case len(in) > 1:
		unknown.Why = FetchedAmbiguous
		return unknown
	case len(in) == 1 && in[0].last > hi:
		unknown.Why = FetchedAfter
		return unknown
	case len(in) == 1:
		return FetchedEnd{Known: true, End: in[0].end, At: time.Unix(0, in[0].last), Why: FetchedExact}
	case lo < p.started:
		unknown.Why = FetchedBeforeBoot
		return unknown
	}
	return FetchedEnd{Known: true, End: -1, Why: FetchedNone}
}

// FetchPositionStats describes the fetch positions table.
type FetchPositionStats struct {
	Entries, Max int
	Evicted      int64
}

// FetchPositions describes the fetch positions table (FetchedBy).
func (b *Broker) FetchPositions() FetchPositionStats {
	p := b.fetchPos
	p.mu.Lock()
	defer p.mu.Unlock()
	return FetchPositionStats{Entries: len(p.m), Max: p.maxEntries, Evicted: p.evicted}
}
