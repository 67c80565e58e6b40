package group

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transactional commands of the scripts (testdata/script/txn*.txt):
//
//	txn-commit <alias|-> pid=N [epoch=E] [v=5] t/0=5 ...   TxnOffsetCommit ("-": no member, generation -1)
//	end-txn pid=N commit|abort [epoch=E]                    the marker in the group's partition (CompleteTxn)
//	fetch-stable [t/0 ...]                                  OffsetFetch v7 with RequireStable, codes shown
//	pending                                                 PendingTxnOffsets
//	delete-offsets t/0 ...                                  OffsetDelete
//	delete-group                                            DeleteGroups
//	expire                                                  one offset expiry pass
//	log                                                     the group's partition of __consumer_offsets
func (s *script) runTxn(cmd, grp string, pos []string, args map[string]string, ver func(int16) int16) ([]string, bool) {
	ctx := context.Background()
	num := func(k string, def int64) int64 {
		v, ok := args[k]
		if !ok {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.t.Fatalf("%s: bad %s=%q", cmd, k, v)
		}
		return n
	}
	parts := func(ps []string) map[string][]int32 {
		out := map[string][]int32{}
		for _, p := range ps {
			topic, part, _ := strings.Cut(p, "/")
			pn, _ := strconv.Atoi(part)
			out[topic] = append(out[topic], int32(pn))
		}
		return out
	}
	var out []string
	switch cmd {
	case "txn-commit":
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version = ver(5)
		req.TransactionalID = "tx"
		req.Group = grp
		req.ProducerID = num("pid", 1)
		req.ProducerEpoch = int16(num("epoch", 0))
		who := "admin"
		if pos[0] != "-" {
			m := s.member(pos[0])
			who, req.MemberID, req.Generation = m.alias, m.id, m.gen
			if v, ok := args["gen"]; ok {
				n, _ := strconv.Atoi(v)
				req.Generation = int32(n)
			}
		}
		byTopic := map[string]int{}
		for _, p := range pos[1:] {
			k, v, _ := strings.Cut(p, "=")
			topic, part, _ := strings.Cut(k, "/")
			pn, _ := strconv.Atoi(part)
			off, _ := strconv.ParseInt(v, 10, 64)
			i, ok := byTopic[topic]
			if !ok {
				i = len(req.Topics)
				byTopic[topic] = i
				rt := kmsg.NewTxnOffsetCommitRequestTopic()
				rt.Topic = topic
				req.Topics = append(req.Topics, rt)
			}
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = int32(pn), off
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		}
		resp := s.h.c.TxnOffsetCommit(ctx, req)
		var codes []string
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				codes = append(codes, tpName(t.Topic, p.Partition)+"="+errName(p.ErrorCode))
			}
		}
		sort.Strings(codes)
		out = append(out, fmt.Sprintf("%s: TxnOffsetCommit pid=%d ->", who, req.ProducerID)+" "+strings.Join(codes, " "))
	case "end-txn":
		commit := len(pos) > 0 && pos[0] == "commit"
		err := s.h.c.CompleteTxn(ctx, s.h.c.PartitionFor(grp), Marker{ProducerID: num("pid", 1), ProducerEpoch: int16(num("epoch", 0)),
			Commit: commit, TxnVersion: int8(num("tv", 1))})
		out = append(out, fmt.Sprintf("marker pid=%d commit=%v -> %v", num("pid", 1), commit, errOrNone(err)))
	case "fetch-stable":
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 7
		r.Group = grp
		r.RequireStable = true
		if len(pos) > 0 {
			r.Topics = []kmsg.OffsetFetchRequestTopic{}
			for t, ps := range parts(pos) {
				rt := kmsg.NewOffsetFetchRequestTopic()
				rt.Topic, rt.Partitions = t, ps
				r.Topics = append(r.Topics, rt)
			}
		}
		resp := s.h.c.OffsetFetch(ctx, r)
		var ps []string
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				l := fmt.Sprintf("%s=%d", tpName(t.Topic, p.Partition), p.Offset)
				if p.ErrorCode != 0 {
					l += "(" + errName(p.ErrorCode) + ")"
				}
				ps = append(ps, l)
			}
		}
		sort.Strings(ps)
		out = append(out, "OffsetFetch stable -> "+errName(resp.ErrorCode)+" "+strings.Join(ps, " "))
	case "pending":
		ps := s.h.c.PendingTxnOffsets(grp)
		if len(ps) == 0 {
			out = append(out, "no pending transactional offsets")
		}
		for _, p := range ps {
			out = append(out, fmt.Sprintf("pid=%d epoch=%d %s/%d=%d", p.ProducerID, p.ProducerEpoch, p.Topic, p.Partition, p.Offset))
		}
	case "delete-offsets":
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = grp
		for t, ps := range parts(pos) {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = t
			for _, p := range ps {
				rp := kmsg.NewOffsetDeleteRequestTopicPartition()
				rp.Partition = p
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
		resp := s.h.c.OffsetDelete(ctx, r)
		out = append(out, "OffsetDelete -> "+errName(resp.ErrorCode))
	case "delete-group":
		resp := s.h.c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{grp}})
		out = append(out, "DeleteGroups -> "+errName(resp.Groups[0].ErrorCode))
	case "expire":
		s.h.c.expireOffsets()
		s.h.settle()
		if g := s.h.c.lockGroup(grp, false); g == nil {
			out = append(out, "group "+grp+" removed")
		} else {
			g.mu.Unlock()
			out = append(out, "group "+grp+" kept")
		}
	case "log":
		p := s.h.c.PartitionFor(grp)
		s.h.store.mu.Lock()
		recs := append([]Record(nil), s.h.store.parts[p]...)
		bs := append([]Batch(nil), s.h.store.batches[p]...)
		s.h.store.mu.Unlock()
		for i, r := range recs {
			out = append(out, fmt.Sprintf("%d: %s", i, describeRecord(r, bs[i])))
		}
	default:
		return nil, false
	}
	return out, true
}

func errOrNone(err error) string {
	if err == nil {
		return "NONE"
	}
	return err.Error()
}

// describeRecord shows one stored record of __consumer_offsets with its
// batch's producer.
func describeRecord(r Record, b Batch) string {
	var who string
	switch {
	case b.Control:
		who = fmt.Sprintf("marker pid=%d epoch=%d ", b.ProducerID, b.ProducerEpoch)
		var k kmsg.ControlRecordKey
		_ = k.ReadFrom(r.Key)
		if k.Type == kmsg.ControlRecordKeyTypeCommit {
			return who + "COMMIT"
		}
		return who + "ABORT"
	case b.Transactional:
		who = fmt.Sprintf("txn pid=%d epoch=%d ", b.ProducerID, b.ProducerEpoch)
	}
	k, err := decodeKeyForTest(r.Key)
	if err != nil {
		return who + "undecodable"
	}
	if r.Value == nil {
		return who + k + " tombstone"
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(r.Value); err == nil && strings.HasPrefix(k, "offset ") {
		return fmt.Sprintf("%s%s=%d", who, k, v.Offset)
	}
	return who + k
}

func decodeKeyForTest(key []byte) (string, error) {
	k, err := offsetsfmt.DecodeKey(key)
	if err != nil {
		return "", err
	}
	if k.Kind == offsetsfmt.OffsetCommit {
		return fmt.Sprintf("offset %s/%s/%d", k.Group, k.Topic, k.Partition), nil
	}
	return "group " + k.Group, nil
}
