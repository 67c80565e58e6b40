package broker

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceFrame is req as a client sends it, without the size prefix, with
// client id "c".
func produceFrame(req *kmsg.ProduceRequest) []byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("c"))
	return f.AppendRequest(nil, req, 1)[4:]
}

// nullClientFrame is req with a null client id.
func nullClientFrame(req *kmsg.ProduceRequest) []byte {
	var f kmsg.RequestFormatter
	return f.AppendRequest(nil, req, 1)[4:]
}

// produceBody is the request body of frame (after the header: key,
// version, correlation id, client id "c" or null, tags when flexible).
func produceBody(t testing.TB, frame []byte, ver int16) []byte {
	n := 2 + 2 + 4 + 2
	if frame[8] != 0xff {
		n++ // "c"
	}
	if ver >= 9 {
		n++
	}
	return frame[n:]
}

func tagged(k int) kmsg.Tags {
	var t kmsg.Tags
	for i := range k {
		t.Set(uint32(100+i), nil)
	}
	return t
}

// TestProduceDecodeCost measures what kmsg allocates per topic, partition
// and unknown tagged field of a Produce request at its newest version, and
// checks the per-element charges of produceskim.go are not below it.
func TestProduceDecodeCost(t *testing.T) {
	if raceBuild() {
		t.Skip("the race detector changes what allocations weigh")
	}
	const n = 50_000
	ver := apis[0].max
	alloc := func(req *kmsg.ProduceRequest) float64 {
		req.Version = ver
		body := produceBody(t, produceFrame(req), ver)
		amp, err := decodeAlloc(0, ver, body)
		if err != nil {
			t.Fatal(err)
		}
		return amp * float64(len(body))
	}
	base := alloc(kmsg.NewPtrProduceRequest())
	perElem := func(req *kmsg.ProduceRequest, count int) float64 { return (alloc(req) - base) / float64(count) }

	topics := kmsg.NewPtrProduceRequest()
	topics.Topics = make([]kmsg.ProduceRequestTopic, n)
	topic := perElem(topics, n)
	parts := kmsg.NewPtrProduceRequest()
	parts.Topics = []kmsg.ProduceRequestTopic{{Partitions: make([]kmsg.ProduceRequestTopicPartition, n)}}
	part := perElem(parts, n)

	one := tagged(1)
	for i := range topics.Topics {
		topics.Topics[i].UnknownTags = one
	}
	topicTag := perElem(topics, n) - topic
	for i := range parts.Topics[0].Partitions {
		parts.Topics[0].Partitions[i].UnknownTags = one
	}
	partTag := perElem(parts, n) - part
	many := kmsg.NewPtrProduceRequest()
	many.UnknownTags = tagged(n)
	manyTag := perElem(many, n)

	t.Logf("Produce v%d decodes to %.1f bytes per topic, %.1f per partition; an unknown tag adds %.1f to a topic, %.1f to a partition, %.1f each of %d in one element",
		ver, topic, part, topicTag, partTag, manyTag, n)
	if topic > produceTopicCost {
		t.Errorf("a topic takes %.1f bytes, above the %d charged", topic, produceTopicCost)
	}
	if part > producePartitionCost {
		t.Errorf("a partition takes %.1f bytes, above the %d charged", part, producePartitionCost)
	}
	if w := max(topicTag, partTag, manyTag); w > produceTagCost {
		t.Errorf("an unknown tag takes %.1f bytes, above the %d charged", w, produceTagCost)
	}
}

// TestSkimProduceCounts: on random valid Produce requests of every version
// served, the skim counts what kmsg decodes.
func TestSkimProduceCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		ver := int16(3 + rng.IntN(int(apis[0].max)-2))
		req := kmsg.NewPtrProduceRequest()
		req.Version = ver
		if rng.IntN(2) == 0 {
			id := randName(rng)
			req.TransactionID = &id
		}
		req.UnknownTags = randTags(rng, ver)
		for range rng.IntN(6) {
			rt := kmsg.ProduceRequestTopic{Topic: randName(rng), UnknownTags: randTags(rng, ver)}
			for range rng.IntN(6) {
				rp := kmsg.ProduceRequestTopicPartition{Partition: rng.Int32(), UnknownTags: randTags(rng, ver)}
				if rng.IntN(4) > 0 {
					rp.Records = make([]byte, rng.IntN(100))
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		frame := produceFrame(req)
		if rng.IntN(2) == 0 {
			frame = nullClientFrame(req)
		}
		got, ok := skimProduce(frame)
		if !ok {
			t.Fatalf("request %d (v%d): the skim finds a valid frame malformed", i, ver)
		}
		dec := kmsg.NewPtrProduceRequest()
		dec.Version = ver
		if err := dec.ReadFrom(produceBody(t, frame, ver)); err != nil {
			t.Fatal(err)
		}
		var want produceShape
		want.tags = int64(dec.UnknownTags.Len())
		if dec.TransactionID != nil {
			want.names += int64(len(*dec.TransactionID))
		}
		for _, rt := range dec.Topics {
			want.topics++
			want.names += int64(len(rt.Topic))
			want.tags += int64(rt.UnknownTags.Len())
			for _, rp := range rt.Partitions {
				want.partitions++
				want.tags += int64(rp.UnknownTags.Len())
			}
		}
		if got != want {
			t.Fatalf("request %d (v%d): skim %+v, kmsg decoded %+v", i, ver, got, want)
		}
		// A cut frame is malformed to the skim exactly when kmsg cannot
		// decode it.
		hdr := len(frame) - len(produceBody(t, frame, ver))
		cut := frame[:hdr+rng.IntN(len(frame)-hdr)]
		_, ok = skimProduce(cut)
		if err := dec.ReadFrom(cut[hdr:]); ok != (err == nil) {
			t.Fatalf("request %d (v%d) cut to %d of %d bytes: skim ok %v, kmsg decode error %v", i, ver, len(cut), len(frame), ok, err)
		}
	}
}

func randName(rng *rand.Rand) string {
	b := make([]byte, rng.IntN(20))
	for i := range b {
		b[i] = 'a' + byte(rng.IntN(26))
	}
	return string(b)
}

func randTags(rng *rand.Rand, ver int16) kmsg.Tags {
	if ver < 9 || rng.IntN(2) == 0 {
		return kmsg.Tags{}
	}
	var t kmsg.Tags
	for range 1 + rng.IntN(3) {
		t.Set(uint32(rng.IntN(1000)), make([]byte, rng.IntN(5)))
	}
	return t
}
