package broker

import "github.com/twmb/franz-go/pkg/kbin"

// A Produce frame's bulk is its record batches, which kmsg does not copy,
// so it is not charged decodeAmplification times its size; its topics and
// partitions amplify as any request's do (an empty topic carrying an
// unknown tag is a few bytes and decodes to a struct and a map). Before
// kmsg decodes a large Produce, skimProduce counts those elements with
// kbin's reader, building nothing, and decoding is charged what they cost
// (produceDecodeCharge). TestProduceDecodeCost measures the costs.

// Bytes kmsg allocates per element of a Produce request, measured with
// headroom by TestProduceDecodeCost.
const (
	produceTopicCost     = 96  // a ProduceRequestTopic, 64 (its name's bytes are counted apart)
	producePartitionCost = 64  // a ProduceRequestTopicPartition, 40
	produceTagCost       = 384 // an unknown tagged field: 336 for an element's first (its map), 105 for more
)

// produceShape is what kmsg makes Go values of in a Produce request.
type produceShape struct {
	topics, partitions int64
	tags               int64 // unknown tagged fields of the body (the header's are not kept)
	names              int64 // bytes of strings, copied
}

// skimProduce counts the elements of a Produce frame (header included) as
// kmsg would decode them; ok is false if the frame is malformed (kmsg's
// decoding then fails, having decoded what was counted).
func skimProduce(frame []byte) (s produceShape, ok bool) {
	r := kbin.Reader{Src: frame}
	r.Int16() // key
	ver := r.Int16()
	r.Int32()                  // correlation id
	if n := r.Int16(); n > 0 { // client id (negative: null)
		r.Span(int(n))
	}
	flexible := ver >= 9
	if flexible {
		skipTags(&r)
	}
	str := func() {
		var n int
		if flexible {
			n = int(r.Uvarint()) - 1
		} else {
			n = int(r.Int16())
		}
		if n > 0 {
			s.names += int64(n)
			r.Span(n)
		}
	}
	arrayLen := func() int32 {
		if flexible {
			return r.CompactArrayLen()
		}
		return r.ArrayLen()
	}
	tags := func() {
		if flexible {
			n := r.Uvarint()
			s.tags += int64(n)
			for i := uint32(0); i < n && r.Ok(); i++ {
				r.Uvarint()
				r.Span(int(r.Uvarint()))
			}
		}
	}
	if ver >= 3 {
		str() // transactional id
	}
	r.Int16() // acks
	r.Int32() // timeout
	// kmsg makes an array's declared elements before decoding them, so a
	// frame cut short has taken them all: count the declared length.
	topics := max(arrayLen(), 0)
	if r.Ok() {
		s.topics += int64(topics)
	}
	for range topics {
		if !r.Ok() {
			break
		}
		if ver >= 13 {
			r.Uuid()
		} else {
			str()
		}
		parts := max(arrayLen(), 0)
		if r.Ok() {
			s.partitions += int64(parts)
		}
		for range parts {
			if !r.Ok() {
				break
			}
			r.Int32()
			n := 0 // records: spanned, as kmsg does, not copied
			if flexible {
				n = int(r.Uvarint()) - 1
			} else {
				n = int(r.Int32())
			}
			if n > 0 {
				r.Span(n)
			}
			tags()
		}
		tags()
	}
	tags()
	return s, r.Ok()
}

// produceDecodeCharge is what a Produce frame above decodeThreshold is
// charged: the frame and what decoding its elements takes.
func produceDecodeCharge(frame []byte) int64 {
	s, _ := skimProduce(frame)
	return int64(len(frame)) + s.topics*produceTopicCost + s.partitions*producePartitionCost + s.tags*produceTagCost + s.names
}
