package admin

import "github.com/rewindhq/rewind/offsettool"

// dateStarts gives the snapshot the timestamps of the records a restarted
// consumer fetches first, for Explain's NextFetch ("next fetch starts at
// offset N (record at TIME)"): the record at the committed offset and the
// one at the log start, read from the broker's logs through the Broker
// interface (RecordTime), as `rewind group explain` reads them with two
// small fetches.
//
// With a by_duration:D policy it also looks up, as ListOffsets by
// timestamp does for the consumer, the first offset at or after the
// snapshot's time minus D (OffsetForTime: the log end when none).
func (s *Server) dateStarts(snap *offsettool.GroupSnapshot, pol offsettool.Policy) {
	d, byTime := pol.Duration()
	for i := range snap.Partitions {
		p := &snap.Partitions[i]
		p.DurationStart = offsettool.NoOffset
		if byTime {
			if o, err := s.b.OffsetForTime(p.Topic, p.Partition, snap.Taken.Add(-d)); err == nil {
				p.DurationStart = o
				if o < p.LogEnd {
					p.DurationTime, _ = s.b.RecordTime(p.Topic, p.Partition, o)
				}
			}
		}
		if p.LogStart >= p.LogEnd {
			continue // empty: a consumer starts at the log end whatever its policy
		}
		if t, ok := s.b.RecordTime(p.Topic, p.Partition, p.LogStart); ok {
			p.OldestTime = t
		}
		if p.HasCommit() && p.Committed >= p.LogStart && p.Committed < p.LogEnd {
			if t, ok := s.b.RecordTime(p.Topic, p.Partition, p.Committed); ok {
				p.FirstUnconsumed = t
			}
		}
	}
}
