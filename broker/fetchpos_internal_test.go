package broker

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func posT(ms int64) time.Time { return time.UnixMilli(ms) }

func ns(ms int64) int64 { return ms * int64(time.Millisecond) }

// TestFetchPositionsWindow: the fetched end at a move is the one reader's
// last before it; two readers, or a reader fetching past the move, leave
// it unknown.
func TestFetchPositionsWindow(t *testing.T) {
	p := newFetchPositions()
	p.started = 0
	k := fetchPosKey{"c", "/h", "t", 0}
	p.record("c", "/h", 1, []fetchMark{{"t", 0, 10}}, ns(100))
	p.record("c", "/h", 1, []fetchMark{{"t", 0, 20}}, ns(200))
	if got := p.query(k, posT(50), posT(300)); !got.Known || got.End != 20 {
		t.Errorf("one reader: %+v", got)
	}
	// The new owner, same client id and host, fetching after the move.
	p.record("c", "/h", 2, []fetchMark{{"t", 0, 30}}, ns(400))
	if got := p.query(k, posT(50), posT(300)); !got.Known || got.End != 20 {
		t.Errorf("a reader after the move counted: %+v", got)
	}
	// The first reader again, after the move: its end at the move is lost.
	p.record("c", "/h", 1, []fetchMark{{"t", 0, 40}}, ns(500))
	if got := p.query(k, posT(50), posT(300)); got.Known || got.Why != FetchedAfter {
		t.Errorf("a reader fetching past the move: %+v", got)
	}
	if got := p.query(k, posT(50), posT(450)); got.Known || got.Why != FetchedAmbiguous {
		t.Errorf("two readers in the window: %+v", got)
	}
	if got := p.query(fetchPosKey{"other", "/h", "t", 0}, posT(50), posT(450)); !got.Known || got.End != -1 {
		t.Errorf("no fetch at all: %+v", got)
	}
	p.started = ns(1000)
	if got := p.query(fetchPosKey{"other", "/h", "t", 0}, posT(50), posT(450)); got.Known || got.Why != FetchedBeforeBoot {
		t.Errorf("a window from before the start: %+v", got)
	}
}

// TestFetchPositionsBounded: a client making up client ids or hosts
// cannot grow the table past its entries or bytes; what eviction forgot
// makes the windows it may have covered unknown, and a key's fifth
// reader drops the oldest, which makes its window ambiguous.
func TestFetchPositionsBounded(t *testing.T) {
	p := newFetchPositions()
	p.started = 0
	p.maxEntries = 3
	for i := range 5 {
		p.record(strings.Repeat("x", i+1), "/h", 1, []fetchMark{{"t", 0, 1}}, ns(int64(100+i)))
	}
	if len(p.m) != 3 || p.evicted != 2 || p.lru.Len() != 3 {
		t.Fatalf("entries %d, evicted %d, lru %d (want 3, 2, 3)", len(p.m), p.evicted, p.lru.Len())
	}
	if got := p.query(fetchPosKey{"xxxxx", "/h", "t", 0}, posT(50), posT(200)); got.Known || got.Why != FetchedEvicted {
		t.Errorf("a window eviction may have covered: %+v", got)
	}
	if got := p.query(fetchPosKey{"xxxxx", "/h", "t", 0}, posT(102), posT(200)); !got.Known || got.End != 1 {
		t.Errorf("a window after the evictions: %+v", got)
	}

	p = newFetchPositions()
	big := strings.Repeat("c", 32<<10) // the longest client id a request carries
	for i := range 1000 {
		p.record(big, "/h", 1, []fetchMark{{"t", int32(i), 1}}, ns(int64(i)))
	}
	if p.bytes > maxFetchPositionBytes || len(p.m) >= 1000 {
		t.Errorf("%d entries of %d bytes with 32 KiB client ids (bound %d bytes)", len(p.m), p.bytes, maxFetchPositionBytes)
	}

	p = newFetchPositions()
	p.started = 0
	for c := range uint64(fetchReadersPerKey + 1) {
		p.record("c", "/h", c+1, []fetchMark{{"t", 0, int64(c)}}, ns(int64(100+c)))
	}
	e := p.m[fetchPosKey{"c", "/h", "t", 0}]
	if len(e.readers) != fetchReadersPerKey {
		t.Fatalf("%d readers kept (bound %d)", len(e.readers), fetchReadersPerKey)
	}
	if got := p.query(fetchPosKey{"c", "/h", "t", 0}, posT(99), posT(300)); got.Known || got.Why != FetchedAmbiguous {
		t.Errorf("a window with a dropped reader: %+v", got)
	}
}

// BenchmarkFetchPositionsRecord is what noting a fetch response costs the
// fetch path: one response returning records of 1 partition (a consumer
// following a busy partition) and of 100 (one following many), to keys
// already in the table.
func BenchmarkFetchPositionsRecord(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("%d-partitions", n), func(b *testing.B) {
			p := newFetchPositions()
			marks := make([]fetchMark, n)
			for i := range marks {
				marks[i] = fetchMark{topic: "t", partition: int32(i), end: 1}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for j := range marks {
					marks[j].end = int64(i)
				}
				p.record("consumer-1", "/127.0.0.1", 7, marks, int64(i))
			}
		})
	}
}
