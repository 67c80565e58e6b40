package storage

// What a compaction pass knows about keys, in the offset map (offsetmap.go),
// and the policy applied to each record with it.

// buildMap clears the offset map and maps the keys of the run's records
// from offset lo on until the map is full. It returns hi, the offset of
// the first keyed record left out (end if none), and goes on reading to
// end, updating the keys already mapped with their later records but
// adding no key. Then, for every key of [lo, hi), the map holds its latest
// record among the closed segments, and for every record of [lo, hi)
// superseded by one within the history window, that one's timestamp: all
// that judging a record of [lo, hi) needs (its successor has a higher
// offset, read here), so a pass judges its records exactly as a single
// pass with room for every key. Records before lo were judged by earlier
// passes, records from hi on are left to the next ones.
//
// Under a history window the map keeps room for one successor entry for
// each key whose latest record so far is older than the window
// (c.pending): the records after hi may need them.
func (c *cleaner) buildMap(lo, end int64) (hi int64, err error) {
	c.om.clear()
	c.pending = 0
	hi = end
	mapping := true
	for _, s := range c.segs {
		if s.end <= lo {
			continue
		}
		err := c.eachBatch(s, func(h *BatchHeader, b []byte) error {
			if h.LastOffset() < lo || h.IsControl() || h.NumRecords == 0 || c.isAborted(h) {
				return nil
			}
			recs, _, ok := c.records(h, b)
			if !ok {
				return nil
			}
			for i := range recs {
				r := &recs[i]
				off := h.BaseOffset + r.offDelta
				if r.key == nil || off < lo {
					continue
				}
				if mapping && !c.mapRecord(r, off) {
					mapping, hi = false, off
				}
				if !mapping {
					c.updateKey(r, off, hi)
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	c.pass = 2
	return hi, nil
}

func (c *cleaner) inWindow(ts int64) bool { return c.histMs > 0 && ts > c.now-c.histMs }

// keyValue is the slot value for r at off, the latest record of its key.
func (c *cleaner) keyValue(r *cRecord, off int64) uint64 {
	v := uint64(off) & omOffsetMask
	if r.tomb && r.ts <= c.now-c.delMs {
		v |= omExpiredTomb
	}
	if c.inWindow(r.ts) {
		v |= omInWindow
	}
	return v
}

// mapRecord makes r (batches come in offset order) the latest record of
// its key, unless the map has no room for what that takes: then it
// changes nothing and returns false.
func (c *cleaner) mapRecord(r *cRecord, off int64) bool {
	h := c.om.keyHash(r.key)
	slot, found := c.om.find(h)
	in := c.inWindow(r.ts)
	old := c.histMs > 0 && !in // r may get a successor entry later
	if !found {
		cost := 1
		if old {
			cost++
		}
		if c.om.free()-c.pending < cost {
			return false
		}
		c.om.insert(h, c.keyValue(r, off))
		if old {
			c.pending++
		}
		return true
	}
	pred := slot.v
	predOld := c.histMs > 0 && pred&omInWindow == 0
	if c.histMs > 0 && !predOld && old && c.om.free()-c.pending < 1 {
		return false
	}
	// Before addSucc: an insert moves entries, slot among them.
	slot.v = c.keyValue(r, off)
	if predOld {
		// Its reserved room takes r's timestamp if that is what keeps
		// it.
		c.pending--
		if in {
			c.addSucc(int64(pred&omOffsetMask), r.ts)
		}
	}
	if old {
		c.pending++
	}
	return true
}

// updateKey makes r, at or after hi, the latest record of its key if the
// key is mapped.
func (c *cleaner) updateKey(r *cRecord, off, hi int64) {
	slot, found := c.om.find(c.om.keyHash(r.key))
	if !found {
		return
	}
	pred := slot.v
	slot.v = c.keyValue(r, off) // before addSucc, which moves entries
	if p := int64(pred & omOffsetMask); c.histMs > 0 && p < hi && pred&omInWindow == 0 {
		c.pending--
		if c.inWindow(r.ts) {
			c.addSucc(p, r.ts)
		}
	}
}

// addSucc records ts as the timestamp of the record superseding the one
// at off, in room reserved for it.
func (c *cleaner) addSucc(off, ts int64) {
	h := c.om.succHash(off)
	if s, found := c.om.find(h); found {
		s.v = uint64(ts)
		return
	}
	c.om.insert(h, uint64(ts))
}

// keepRecord applies the policy to one record.
func (c *cleaner) keepRecord(r *cRecord, off int64) bool {
	if off < c.lo || off >= c.hi {
		return true // another pass judges it
	}
	if off < c.logStart {
		return false
	}
	if r.key == nil {
		return true
	}
	v, ok := c.om.get(c.om.keyHash(r.key))
	if !ok {
		return true
	}
	if v&omExpiredTomb != 0 {
		// The key is deleted for good: its history goes with it, or
		// replaying the log would bring an older value back.
		return false
	}
	if off >= int64(v&omOffsetMask) {
		if r.tomb {
			c.dueAt(r.ts + c.delMs)
		}
		return true
	}
	if c.histMs > 0 {
		// Superseded: kept while it or its successor is in the window.
		ts := r.ts
		if ts <= c.now-c.histMs {
			if next, ok := c.om.get(c.om.succHash(off)); ok {
				ts = max(ts, int64(next))
			}
		}
		if ts > c.now-c.histMs {
			c.dueAt(ts + c.histMs)
			return true
		}
	}
	return false
}
