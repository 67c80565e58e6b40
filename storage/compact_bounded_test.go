package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Compaction with an offset map far too small for the log's keys: the
// result is exactly what the model (every key in memory, one pass) keeps,
// the map never exceeds its budget, and the run cleans in many passes.

const smallDedupe = 1000 * slotBytes // 1,000 slots: 900 entries a pass

// putTimed appends one batch whose records carry their own timestamps.
func (m *cmodel) putTimed(recs []kv, ts []int64) {
	m.t.Helper()
	base := m.e.clock.Ms()
	rs := make([]Record, len(recs))
	for i, r := range recs {
		rs[i] = Record{Timestamp: ts[i]}
		if !r.nokey {
			rs[i].Key = []byte(r.key)
		}
		if !r.tomb {
			rs[i].Value = []byte(r.value)
		}
	}
	res := mustAppend(m.t, m.l, BuildBatch(base, rs))
	for i, r := range rs {
		r.Offset = res.BaseOffset + int64(i)
		m.present[r.Offset] = r
	}
}

// fillRandom appends batches of records over nkeys keys until n records:
// overwrites, tombstones, keyless records, and timestamps mostly the
// clock's but sometimes far older, so superseded records are kept by their
// own timestamp, by their successor's, or by neither.
func (m *cmodel) fillRandom(rng *rand.Rand, n, nkeys int) {
	m.t.Helper()
	for i := 0; i < n; {
		per := 1 + rng.IntN(20)
		recs := make([]kv, 0, per)
		ts := make([]int64, 0, per)
		for range per {
			now := m.e.clock.Ms()
			k := fmt.Sprintf("key-%d", rng.IntN(nkeys))
			switch x := rng.IntN(100); {
			case x < 6:
				recs = append(recs, tomb(k))
			case x < 8:
				recs = append(recs, keyless(fmt.Sprint("v", i)))
			default:
				recs = append(recs, put(k, fmt.Sprint("v", i)))
			}
			t := now
			if rng.IntN(10) == 0 {
				t = now - rng.Int64N(3*3600_000)
			}
			ts = append(ts, t)
			i++
		}
		m.putTimed(recs, ts)
		m.e.clock.Advance(time.Duration(rng.IntN(2000)) * time.Millisecond)
	}
}

func TestCompactBoundedMapMatchesModel(t *testing.T) {
	for _, hist := range []time.Duration{0, 30 * time.Minute} {
		t.Run(fmt.Sprint("history=", hist), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(hist)))
			m := newCModel(t, 64<<10)
			p := CompactPolicy{HistoryRetention: hist, DeleteRetention: 10 * time.Minute, DedupeBufferSize: smallDedupe}
			const nkeys = 50_000
			m.fillRandom(rng, 70_000, nkeys)
			if _, err := m.l.DeleteRecordsBefore(1234); err != nil {
				t.Fatal(err)
			}
			forceRoll(t, m.l)
			m.fillRandom(rng, 100, nkeys) // the active segment stays as it is

			check := func(what string) {
				t.Helper()
				before := len(m.present)
				st := m.compact(p)
				m.check()
				if st.MapSize > smallDedupe {
					t.Fatalf("%s: the offset map took %d bytes, the budget is %d", what, st.MapSize, smallDedupe)
				}
				if st.RecordsRemoved != int64(m.removed) {
					t.Fatalf("%s: removed %d records, the model %d (%+v)", what, st.RecordsRemoved, m.removed, st)
				}
				t.Logf("%s: %d passes, %d of %d records removed, map %d bytes", what, st.Passes, m.removed, before, st.MapSize)
				if st.Passes < 20 {
					t.Fatalf("%s: %d passes for %d records of up to %d keys in a map of 900", what, st.Passes, before, nkeys)
				}
			}
			check("first run")
			if m.removed < 10_000 {
				t.Fatalf("only %d records removed", m.removed)
			}
			// Time passes: the history window and the tombstones'
			// retention let more go, from a log that has gaps now.
			m.e.clock.Advance(20 * time.Minute)
			check("20 minutes later")
			// A reopened log has no memory of earlier runs: a full run
			// over the compacted log removes nothing more.
			m.l.Close()
			m.l = m.e.open()
			st := m.compact(p)
			m.check()
			if st.RecordsRemoved != 0 || m.removed != 0 {
				t.Fatalf("full run over the compacted log: %+v, model removed %d", st, m.removed)
			}
		})
	}
}

// With room for every key the run is one pass; with a small map, the same
// log compacts to the same records in several.
func TestCompactPassesFollowTheBudget(t *testing.T) {
	for _, budget := range []int64{0, minDedupeSlots * slotBytes} {
		m := newCModel(t, 2000)
		p := CompactPolicy{HistoryRetention: time.Minute, DeleteRetention: time.Minute, DedupeBufferSize: budget}
		m.fillKeys(100, 5, 300, time.Second)
		forceRoll(t, m.l)
		st := m.compact(p)
		m.check()
		switch {
		case budget == 0 && st.Passes != 1:
			t.Fatalf("default budget: %d passes", st.Passes)
		case budget > 0 && (st.Passes < 5 || st.MapSize != budget):
			t.Fatalf("budget %d: %d passes, map of %d bytes", budget, st.Passes, st.MapSize)
		}
	}
}

// The table of a run is sized to the log, within the budget, and comes
// from the one dedupe buffer, which grows only as runs need it.
func TestOffsetMapSizing(t *testing.T) {
	m := acquireOffsetMap(1<<20, 100)
	if got := m.bytes(); got > 200*slotBytes {
		t.Fatalf("map for 100 entries: %d bytes", got)
	}
	if m.limit < 100 {
		t.Fatalf("map for 100 entries holds %d", m.limit)
	}
	m.release()
	m = acquireOffsetMap(1<<20, 1<<30)
	if got := m.bytes(); got > 1<<20 || got < 1<<20-slotBytes {
		t.Fatalf("map for a large log: %d bytes, the budget is %d", got, 1<<20)
	}
	// Every slot can be filled to the limit and found again.
	hs := make([]omHash, m.limit)
	for i := range hs {
		hs[i] = m.keyHash(fmt.Appendf(nil, "k%d", i))
		if _, found := m.find(hs[i]); found {
			t.Fatalf("key %d found before it was added", i)
		}
		m.insert(hs[i], uint64(i))
	}
	if m.free() != 0 {
		t.Fatalf("%d free after filling", m.free())
	}
	for i, h := range hs {
		if v, ok := m.get(h); !ok || v != uint64(i) {
			t.Fatalf("key %d: %d, %v", i, v, ok)
		}
	}
	if _, ok := m.get(m.keyHash([]byte("absent"))); ok {
		t.Fatal("an absent key was found")
	}
	if m.keyHash([]byte("x")) == m.succHash(0) {
		t.Fatal("key and successor hashes share a domain")
	}
	m.release()
}
