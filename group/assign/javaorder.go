package assign

import (
	"encoding/binary"
	"slices"
)

// javaHashOrder returns topics in the order a java.util.HashSet<Uuid>
// built from them iterates: Kafka's homogeneous uniform builder walks its
// subscribed topics (and a member's current topics) in that order, which
// decides which member gets which partition. Reproducing it makes Rewind's
// assignments equal Kafka's rather than merely as balanced.
//
// A HashSet copied from n elements has a table of the next power of two at
// or above max(n/0.75+1, 16); an element's bucket is its hashCode spread
// (h ^ h>>>16) masked by the table size, and iteration walks the buckets
// in order. Kafka's Uuid.hashCode folds msb^lsb into 32 bits. Within a
// bucket Java keeps insertion order: topics sharing a bucket keep their
// order in the input, which callers give in the order they know (a
// member's subscription as listed, else Compare order); where Kafka's own
// insertion order differs, only the tie-break between those topics does.
func javaHashOrder(topics []TopicID) []TopicID {
	table := javaTableSize(len(topics))
	bucket := func(t TopicID) int {
		h := int64(binary.BigEndian.Uint64(t[:8])) ^ int64(binary.BigEndian.Uint64(t[8:]))
		hc := int32(h>>32) ^ int32(h)
		spread := uint32(hc) ^ (uint32(hc) >> 16)
		return int(spread & uint32(table-1))
	}
	out := slices.Clone(topics)
	slices.SortStableFunc(out, func(a, b TopicID) int { return bucket(a) - bucket(b) })
	return out
}

// javaIntOrder returns partitions in the order a java.util.HashSet<Integer>
// copied from them iterates: Integer.hashCode is the value, so buckets
// are (p ^ p>>>16) masked by the table size, which is ascending order
// unless a partition number reaches the table size.
func javaIntOrder(parts []int32) []int32 {
	table := javaTableSize(len(parts))
	out := slices.Clone(parts)
	slices.SortStableFunc(out, func(a, b int32) int {
		x := int(uint32(a)^(uint32(a)>>16)) & (table - 1)
		y := int(uint32(b)^(uint32(b)>>16)) & (table - 1)
		if x != y {
			return x - y
		}
		return int(a) - int(b)
	})
	return out
}

// javaTableSize is the table size of a java.util.HashSet copied from n
// elements: the next power of two at or above max(n/0.75+1, 16).
func javaTableSize(n int) int {
	capacity := int(float32(n)/0.75) + 1
	if capacity < 16 {
		capacity = 16
	}
	table := 1
	for table < capacity {
		table <<= 1
	}
	return table
}
