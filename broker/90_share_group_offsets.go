package broker

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/share"
)

// DescribeShareGroupOffsets: v0-1 (v1: Lag, KIP-1226), AlterShareGroupOffsets
// v0 and DeleteShareGroupOffsets v0: a share group's start offset per
// share partition, as kafka-share-groups.sh --describe, --reset-offsets
// and --delete-offsets use them.
//
//   - Describe: without topics, every partition the group has state for
//     and every partition of the topics its members subscribe to (-1 for
//     the start offset and the lag of one never fetched, as Kafka); with
//     topics, those partitions. A group that is not a share group (or no
//     group) is described with no topics, as Kafka 4.4 answers; a
//     partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION (Kafka
//     4.4 does not answer such a request at all).
//   - Alter: the group must be Empty (NON_EMPTY_GROUP) or not exist yet
//     (Kafka creates it then); each partition starts again at the offset
//     given, nothing in flight; an unknown topic or partition is
//     UNKNOWN_TOPIC_OR_PARTITION with Kafka's message.
//   - Delete: the group must exist (GROUP_ID_NOT_FOUND) and be Empty; the
//     topics' share partitions are forgotten, to start again where the log
//     ends when next fetched.

func init() {
	regKey(90, 0, 1, handleDescribeShareGroupOffsets)
	regKey(91, 0, 0, handleAlterShareGroupOffsets)
	regKey(92, 0, 0, handleDeleteShareGroupOffsets)
}

// shareMaxOffsetParts bounds the partitions one offsets request may name.
const shareMaxOffsetParts = 100000

var unknownTopicPartitionMsg = "This server does not host this topic-partition."

func handleDescribeShareGroupOffsets(r *request) (reply, error) {
	req := r.kreq.(*kmsg.DescribeShareGroupOffsetsRequest)
	b := r.c.b
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	n := 0
	for _, g := range req.Groups {
		for _, t := range g.Topics {
			n += len(t.Partitions)
		}
	}
	var sz respSize
	sz.elems(len(req.Groups)+n, 2*sizeOf[kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition](), 48)
	if err := r.reserveResponse("DescribeShareGroupOffsets", sz); err != nil {
		return reply{}, err // no top-level error code: the connection is closed
	}
	topics := newShareTopics(b)
	s := &b.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked(time.Now())
	for _, rg := range req.Groups {
		dg := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		dg.GroupID = rg.GroupID
		g := s.c.Group(rg.GroupID)
		if g == nil {
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		want := map[string][]int32{}
		if rg.Topics == nil {
			for k := range s.parts {
				if k.group != g.ID {
					continue
				}
				if name, ok := b.reg.byID(k.tp.id); ok {
					want[name] = append(want[name], k.tp.partition)
				}
			}
			for _, m := range g.Members() {
				for _, t := range m.Subscribed {
					if _, np, ok := topics.Lookup(t); ok {
						for p := range np {
							want[t] = append(want[t], p)
						}
					}
				}
			}
		} else {
			for _, t := range rg.Topics {
				want[t.Topic] = append(want[t.Topic], t.Partitions...)
			}
		}
		names := make([]string, 0, len(want))
		for t := range want {
			names = append(names, t)
		}
		sort.Strings(names)
		for _, name := range names {
			ps := want[name]
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			dt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
			dt.Topic = name
			id, np, known := topics.Lookup(name)
			dt.TopicID = id
			for i, p := range ps {
				if i > 0 && ps[i-1] == p {
					continue
				}
				dp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
				dp.Partition, dp.StartOffset, dp.Lag = p, -1, -1
				l := b.partition(name, p)
				switch {
				case !known || p < 0 || p >= np || l == nil:
					dp.ErrorCode, dp.ErrorMessage = kerr.UnknownTopicOrPartition.Code, &unknownTopicPartitionMsg
				default:
					if sp := s.parts[sharePartKey{g.ID, shareTP{id, p}}]; sp != nil {
						sp.LogStartMoved(l.LogStartOffset())
						dp.StartOffset, dp.Lag = sp.Start(), sp.Lag(l.HighWatermark())
					}
				}
				dt.Partitions = append(dt.Partitions, dp)
			}
			dg.Topics = append(dg.Topics, dt)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return now(resp)
}

func handleAlterShareGroupOffsets(r *request) (reply, error) {
	req := r.kreq.(*kmsg.AlterShareGroupOffsetsRequest)
	b := r.c.b
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	n := 0
	for _, t := range req.Topics {
		n += len(t.Partitions)
	}
	if req.GroupID == "" || n > shareMaxOffsetParts {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return now(resp)
	}
	if b.otherGroupType(req.GroupID) {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		resp.ErrorMessage = kmsg.StringPtr("Group " + req.GroupID + " is not a share group.")
		return now(resp)
	}
	topics := newShareTopics(b)
	s := &b.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked(time.Now())
	if g := s.c.Group(req.GroupID); g != nil && g.State() != "Empty" {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		resp.ErrorMessage = kmsg.StringPtr("The group is not empty.")
		return now(resp)
	}
	s.c.Ensure(req.GroupID)
	for _, t := range req.Topics {
		rt := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		rt.Topic = t.Topic
		id, np, known := topics.Lookup(t.Topic)
		rt.TopicID = id
		for _, rp := range t.Partitions {
			pp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			pp.Partition = rp.Partition
			l := b.partition(t.Topic, rp.Partition)
			switch {
			case !known || rp.Partition < 0 || rp.Partition >= np || l == nil:
				pp.ErrorCode, pp.ErrorMessage = kerr.UnknownTopicOrPartition.Code, &unknownTopicPartitionMsg
			default:
				start := min(max(rp.StartOffset, l.LogStartOffset()), l.HighWatermark())
				k := sharePartKey{req.GroupID, shareTP{id, rp.Partition}}
				if sp := s.parts[k]; sp != nil {
					sp.Reset(start)
				} else {
					s.parts[k] = share.NewPartition(s.settings(req.GroupID).part, start)
				}
			}
			rt.Partitions = append(rt.Partitions, pp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return now(resp)
}

func handleDeleteShareGroupOffsets(r *request) (reply, error) {
	req := r.kreq.(*kmsg.DeleteShareGroupOffsetsRequest)
	b := r.c.b
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	if req.GroupID == "" || len(req.Topics) > shareMaxOffsetParts {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return now(resp)
	}
	topics := newShareTopics(b)
	s := &b.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked(time.Now())
	g := s.c.Group(req.GroupID)
	switch {
	case g == nil:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		resp.ErrorMessage = kmsg.StringPtr("Group " + req.GroupID + " not found.")
		return now(resp)
	case g.State() != "Empty":
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		resp.ErrorMessage = kmsg.StringPtr("The group is not empty.")
		return now(resp)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		rt.Topic = t.Topic
		id, _, known := topics.Lookup(t.Topic)
		if !known {
			rt.ErrorCode, rt.ErrorMessage = kerr.UnknownTopicOrPartition.Code, &unknownTopicPartitionMsg
		} else {
			rt.TopicID = id
			for k := range s.parts {
				if k.group == g.ID && k.tp.id == id {
					delete(s.parts, k)
				}
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return now(resp)
}
