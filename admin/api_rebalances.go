package admin

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GET /api/v1/groups/{group}/rebalances: the rebalance timeline of
// `rewind group history --rebalances` (offsettool.Rebalances), for classic
// and consumer groups, built from the group's __consumer_offsets
// partition read in process. Each move's log end at the move comes from
// the partition's time index (LogEndAt), as the CLI's from ListOffsets by
// timestamp. A Rewind broker also tells what each previous owner's client
// had been returned by its fetches (FetchedBy), so the console gives the
// records really fetched past the commit (RedoFetched) where it can.

// maxTimelineRecords bounds the records of the group's __consumer_offsets
// partition read for one timeline; past it the timeline covers the
// records read and says it is truncated.
var maxTimelineRecords = 1_000_000 // a variable for the test of the bound

type timelineView struct {
	Group      string                 `json:"group"`
	Rebalances []offsettool.Rebalance `json:"rebalances"`
	// Truncated: the partition held more than maxTimelineRecords
	// records; the timeline covers its first ones.
	Truncated bool `json:"truncated"`
}

func (s *Server) rebalances(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	v, err := s.timeline(name)
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// groupRecords reads group's records from its __consumer_offsets
// partition (ti), in log order, at most maxTimelineRecords of them
// (truncated says it stopped there).
func (s *Server) groupRecords(group string, ti broker.TopicInfo) (hs []offsettool.HistoryEntry, truncated bool, err error) {
	p := offsetsfmt.PartitionFor(group, int32(len(ti.Partitions)))
	part := ti.Partitions[p]
	lim := storage.PreviewLimits{MaxField: 1 << 20, MaxDecoded: 64 << 20}
	read := 0
	off := part.LogStart
	for off < part.HighWatermark {
		if read >= maxTimelineRecords {
			return hs, true, nil // records remain past the bound
		}
		recs, err := s.b.ReadRecords(offsettool.OffsetsTopic, p, off, min(1000, maxTimelineRecords-read), lim)
		if err != nil {
			return hs, false, fmt.Errorf("read %s/%d at %d: %w", offsettool.OffsetsTopic, p, off, err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rp := range recs {
			kr := &kgo.Record{Topic: offsettool.OffsetsTopic, Partition: p, Offset: rp.Offset, Key: rp.Key, Value: rp.Value,
				Timestamp: time.UnixMilli(rp.Timestamp)}
			if h, ok := offsettool.HistoryRecord(kr, group); ok {
				hs = append(hs, h)
			}
		}
		off = recs[len(recs)-1].Offset + 1
		read += len(recs)
	}
	return hs, false, nil
}

func (s *Server) timeline(group string) (timelineView, error) {
	v := timelineView{Group: group, Rebalances: []offsettool.Rebalance{}}
	ti, ok := s.b.Topic(offsettool.OffsetsTopic)
	if !ok || len(ti.Partitions) == 0 {
		return v, nil // no group ever committed or joined
	}
	hs, truncated, err := s.groupRecords(group, ti)
	if err != nil {
		return v, err
	}
	v.Truncated = truncated
	names := map[[16]byte]string{}
	for _, t := range s.b.Topics() {
		var id [16]byte
		if b, err := hex.DecodeString(t.ID); err == nil && len(b) == 16 {
			copy(id[:], b)
			names[id] = t.Name
		}
	}
	offsettool.NameTopics(hs, names)
	v.Rebalances = offsettool.Rebalances(hs)
	for i := range v.Rebalances {
		for j := range v.Rebalances[i].Moved {
			mv := &v.Rebalances[i].Moved[j]
			if end := s.b.LogEndAt(mv.Topic, mv.Partition, mv.At); end >= 0 {
				mv.LogEndAt = end
				if mv.Committed >= 0 {
					mv.Redo = max(0, end-mv.Committed)
				}
			}
			s.fetchedRedo(mv)
		}
	}
	return v, nil
}

// fetchedRedo fills mv's FetchedEnd and RedoFetched from what the broker
// saw fetched by the previous owner's client id and host since the
// partition moved to it, up to the move.
func (s *Server) fetchedRedo(mv *offsettool.PartitionMove) {
	if mv.From == "" {
		return
	}
	fe := s.b.FetchedBy(mv.FromClient, mv.FromHost, mv.Topic, mv.Partition, mv.FromSince, mv.At)
	mv.RedoFetchedNote = fe.Why
	switch {
	case !fe.Known:
	case mv.Committed < 0:
		mv.FetchedEnd = fe.End
		mv.RedoFetchedNote = "unknown: no committed offset when it moved (the new owner starts at its reset policy)"
	case fe.End < 0:
		mv.RedoFetched = 0 // nothing fetched while it owned the partition
	default:
		mv.FetchedEnd = fe.End
		mv.RedoFetched = max(0, fe.End-mv.Committed)
	}
}
