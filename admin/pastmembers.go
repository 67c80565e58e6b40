package admin

import (
	"context"

	"github.com/rewindhq/rewind/offsettool"
)

// pastMembership is what the group's __consumer_offsets partition says of
// its past members (offsettool.PastMembershipOf), and the topics they
// subscribed to that still exist, as selections for a snapshot.
func (s *Server) pastMembership(_ context.Context, group string) (offsettool.PastMembership, []offsettool.TopicSelection, error) {
	ti, ok := s.b.Topic(offsettool.OffsetsTopic)
	if !ok || len(ti.Partitions) == 0 {
		return offsettool.PastMembership{}, nil, nil
	}
	hs, _, err := s.groupRecords(group, ti)
	if err != nil {
		return offsettool.PastMembership{}, nil, err
	}
	pm := offsettool.PastMembershipOf(hs)
	var sels []offsettool.TopicSelection
	for _, t := range pm.Topics {
		if _, ok := s.b.Topic(t); ok { // deleted since: skipped
			sels = append(sels, offsettool.TopicSelection{Topic: t})
		}
	}
	return pm, sels, nil
}
