package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Report is the result of Verify.
type Report struct {
	Partitions []PartitionCheck `json:"partitions"`
	Groups     []GroupCheck     `json:"groups"`
}

// OK says whether every check passed.
func (r *Report) OK() bool {
	for _, p := range r.Partitions {
		if !p.OK {
			return false
		}
	}
	for _, g := range r.Groups {
		if !g.OK {
			return false
		}
	}
	return true
}

// PartitionCheck compares one partition on both sides.
type PartitionCheck struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	SourceRecords int64  `json:"source_records"`
	TargetRecords int64  `json:"target_records"`
	SourceSHA256  string `json:"source_sha256"`
	TargetSHA256  string `json:"target_sha256"`
	OK            bool   `json:"ok"`
}

// GroupCheck compares the record a group reads next on both sides.
type GroupCheck struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Source    int64  `json:"source_offset"`
	Target    int64  `json:"target_offset"`
	// Next describes the record both read next ("end": none, both are at
	// the end).
	Next string `json:"next"`
	OK   bool   `json:"ok"`
}

// digest hashes a partition's records in order and remembers the hash of
// the first record at or after each offset asked for.
type digest struct {
	h     hash.Hash
	n     int64
	times bool
	want  []int64          // sorted offsets whose next record is wanted
	next  map[int64]string // offset -> that record's own hash
}

func newDigest(times bool, want []int64) *digest {
	return &digest{h: sha256.New(), times: times, want: want, next: map[int64]string{}}
}

func (d *digest) add(r *kgo.Record) {
	sum := recordSum(r, d.times)
	d.h.Write(sum[:])
	d.n++
	for len(d.want) > 0 && d.want[0] <= r.Offset {
		d.next[d.want[0]] = hex.EncodeToString(sum[:8])
		d.want = d.want[1:]
	}
}

// recordSum is the SHA-256 of a record's key, value, headers and, with
// times, timestamp.
func recordSum(r *kgo.Record, times bool) [sha256.Size]byte {
	one := sha256.New()
	field := func(b []byte, null bool) {
		var l [5]byte
		if null {
			l[0] = 1
		}
		binary.BigEndian.PutUint32(l[1:], uint32(len(b)))
		one.Write(l[:])
		one.Write(b)
	}
	field(r.Key, r.Key == nil)
	field(r.Value, r.Value == nil)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(r.Headers)))
	one.Write(n[:])
	for _, h := range r.Headers {
		field([]byte(h.Key), false)
		field(h.Value, h.Value == nil)
	}
	if times {
		binary.BigEndian.PutUint64(n[:], uint64(r.Timestamp.UnixMilli()))
		one.Write(n[:])
	}
	var sum [sha256.Size]byte
	one.Sum(sum[:0])
	return sum
}

// Verify reads every migrated partition on both sides and the record each
// migrated group reads next, after Execute returned plan.
func (m *Migrator) Verify(ctx context.Context, plan *Plan) (*Report, error) {
	src, dst, done, err := m.admins()
	if err != nil {
		return nil, err
	}
	defer done()
	var names []string
	for _, t := range plan.Topics {
		names = append(names, t.Topic)
	}
	srcStarts, err := src.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("source: log start offsets: %w", err)
	}
	dstEnds, err := dst.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("target: end offsets: %w", err)
	}
	dstStarts, err := dst.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("target: log start offsets: %w", err)
	}
	srcWant := map[string][]int64{}
	dstWant := map[string][]int64{}
	for _, g := range plan.Groups {
		for _, o := range g.Offsets {
			k := partKey(o.Topic, o.Partition)
			srcWant[k] = insertSorted(srcWant[k], o.Source)
			dstWant[k] = insertSorted(dstWant[k], o.Target)
		}
	}
	srcSpans, dstSpans := map[string]map[int32]span{}, map[string]map[int32]span{}
	srcD, dstD := map[string]*digest{}, map[string]*digest{}
	for _, t := range plan.Topics {
		times := t.Configs["message.timestamp.type"] != "LogAppendTime"
		srcSpans[t.Topic], dstSpans[t.Topic] = map[int32]span{}, map[int32]span{}
		for _, p := range t.Partitions {
			k := partKey(t.Topic, p.Partition)
			s, _ := listed(srcStarts, t.Topic, p.Partition)
			srcSpans[t.Topic][p.Partition] = span{max(s, p.Start), p.Stable}
			ds, _ := listed(dstStarts, t.Topic, p.Partition)
			de, _ := listed(dstEnds, t.Topic, p.Partition)
			dstSpans[t.Topic][p.Partition] = span{ds, de}
			srcD[k], dstD[k] = newDigest(times, srcWant[k]), newDigest(times, dstWant[k])
		}
	}
	feed := func(ds map[string]*digest) func(*kgo.Record) error {
		return func(r *kgo.Record) error {
			if !r.Attrs.IsControl() {
				ds[partKey(r.Topic, r.Partition)].add(r)
			}
			return nil
		}
	}
	if err := readSpans(ctx, m.Source, srcSpans, feed(srcD)); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if err := readSpans(ctx, m.Target, dstSpans, feed(dstD)); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	rep := &Report{}
	for _, t := range plan.Topics {
		for _, p := range t.Partitions {
			k := partKey(t.Topic, p.Partition)
			a, b := srcD[k], dstD[k]
			pc := PartitionCheck{Topic: t.Topic, Partition: p.Partition,
				SourceRecords: a.n, TargetRecords: b.n,
				SourceSHA256: hex.EncodeToString(a.h.Sum(nil)), TargetSHA256: hex.EncodeToString(b.h.Sum(nil))}
			pc.OK = pc.SourceRecords == pc.TargetRecords && pc.SourceSHA256 == pc.TargetSHA256
			rep.Partitions = append(rep.Partitions, pc)
		}
	}
	committed := map[string]map[string]map[int32]int64{}
	for _, g := range plan.Groups {
		fetched, err := dst.FetchOffsets(ctx, g.Group)
		if err != nil {
			return nil, fmt.Errorf("target: offsets of group %s: %w", g.Group, err)
		}
		committed[g.Group] = map[string]map[int32]int64{}
		for t, ps := range fetched {
			committed[g.Group][t] = map[int32]int64{}
			for p, r := range ps {
				committed[g.Group][t][p] = r.At
			}
		}
		for _, o := range g.Offsets {
			k := partKey(o.Topic, o.Partition)
			sn, sok := srcD[k].next[o.Source]
			tn, tok := dstD[k].next[o.Target]
			gc := GroupCheck{Group: g.Group, Topic: o.Topic, Partition: o.Partition, Source: o.Source, Target: o.Target}
			at, has := committed[g.Group][o.Topic][o.Partition]
			switch {
			case !has || at != o.Target:
				gc.Next = fmt.Sprintf("committed on the target: %d, want %d", at, o.Target)
			case !sok && !tok:
				gc.Next, gc.OK = "end", true
			case sok && tok && sn == tn:
				gc.Next, gc.OK = "record "+sn, true
			default:
				gc.Next = fmt.Sprintf("source record %q, target record %q", sn, tn)
			}
			rep.Groups = append(rep.Groups, gc)
		}
	}
	return rep, nil
}

func insertSorted(s []int64, v int64) []int64 {
	i := 0
	for i < len(s) && s[i] < v {
		i++
	}
	if i < len(s) && s[i] == v {
		return s
	}
	s = append(s, 0)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}
