package broker_test

import (
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// decodeAmplificationBound is the most memory decoding a request may take,
// as a multiple of its frame: 80 measured, as the README's Durability
// section states, with a little headroom.
// kmsg makes every array element a Go value (a 16-byte string header for a
// 1-byte empty compact string, a struct of tens of bytes for an element of
// a few bytes, a map for an element carrying unknown tags) and bounds an
// array's declared length only by the bytes left in the frame, so the
// worst frames are arrays of the smallest elements.
const decodeAmplificationBound = 85

// TestDecodeAmplification measures the worst requests known: arrays of
// minimal elements, with and without an unknown tagged field each, of the
// APIs whose requests are lists. It fails if a kmsg change makes decoding
// take more than the stated bound.
func TestDecodeAmplification(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocations weigh")
	}
	const n = 50_000
	tagged := func(tags *kmsg.Tags) { tags.Set(99, nil) }
	cases := []struct {
		name string
		req  func(tag bool) kmsg.Request
	}{
		{"DescribeGroups v5 empty names", func(bool) kmsg.Request {
			return &kmsg.DescribeGroupsRequest{Version: 5, Groups: make([]string, n)}
		}},
		{"FindCoordinator v4 empty keys", func(bool) kmsg.Request {
			return &kmsg.FindCoordinatorRequest{Version: 4, CoordinatorKeys: make([]string, n)}
		}},
		{"Fetch v12 empty topics", func(tag bool) kmsg.Request {
			r := &kmsg.FetchRequest{Version: 12, Topics: make([]kmsg.FetchRequestTopic, n)}
			for i := range r.Topics {
				if tag {
					tagged(&r.Topics[i].UnknownTags)
				}
			}
			return r
		}},
		{"Produce v9 partitions without records", func(tag bool) kmsg.Request {
			ps := make([]kmsg.ProduceRequestTopicPartition, n)
			for i := range ps {
				if tag {
					tagged(&ps[i].UnknownTags)
				}
			}
			return &kmsg.ProduceRequest{Version: 9, Topics: []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: ps}}}
		}},
		{"Metadata v12 topics", func(tag bool) kmsg.Request {
			r := &kmsg.MetadataRequest{Version: 12, Topics: make([]kmsg.MetadataRequestTopic, n)}
			for i := range r.Topics {
				if tag {
					tagged(&r.Topics[i].UnknownTags)
				}
			}
			return r
		}},
		{"ListOffsets v8 empty topics", func(tag bool) kmsg.Request {
			r := &kmsg.ListOffsetsRequest{Version: 8, Topics: make([]kmsg.ListOffsetsRequestTopic, n)}
			for i := range r.Topics {
				if tag {
					tagged(&r.Topics[i].UnknownTags)
				}
			}
			return r
		}},
		{"OffsetFetch v8 empty groups", func(tag bool) kmsg.Request {
			r := &kmsg.OffsetFetchRequest{Version: 8, Groups: make([]kmsg.OffsetFetchRequestGroup, n)}
			for i := range r.Groups {
				if tag {
					tagged(&r.Groups[i].UnknownTags)
				}
			}
			return r
		}},
		{"OffsetCommit v8 empty topics", func(tag bool) kmsg.Request {
			r := &kmsg.OffsetCommitRequest{Version: 8, Topics: make([]kmsg.OffsetCommitRequestTopic, n)}
			for i := range r.Topics {
				if tag {
					tagged(&r.Topics[i].UnknownTags)
				}
			}
			return r
		}},
		{"DescribeConfigs v4 resources", func(tag bool) kmsg.Request {
			r := &kmsg.DescribeConfigsRequest{Version: 4, Resources: make([]kmsg.DescribeConfigsRequestResource, n)}
			for i := range r.Resources {
				if tag {
					tagged(&r.Resources[i].UnknownTags)
				}
			}
			return r
		}},
		{"DeleteTopics v6 topics", func(tag bool) kmsg.Request {
			r := &kmsg.DeleteTopicsRequest{Version: 6, Topics: make([]kmsg.DeleteTopicsRequestTopic, n)}
			for i := range r.Topics {
				if tag {
					tagged(&r.Topics[i].UnknownTags)
				}
			}
			return r
		}},
	}
	worst := 0.0
	for _, c := range cases {
		for _, tag := range []bool{false, true} {
			req := c.req(tag)
			body := req.AppendTo(nil)
			dec := kmsg.RequestForKey(req.Key())
			dec.SetVersion(req.GetVersion())
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if err := dec.ReadFrom(body); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(dec)
			amp := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(body))
			worst = max(worst, amp)
			t.Logf("%-40s tag=%-5v frame %8d B, decoded %6.1f times its size", c.name, tag, len(body), amp)
			if amp > decodeAmplificationBound {
				t.Errorf("%s (tag %v): decoding takes %.1f times the frame, above the stated %d", c.name, tag, amp, decodeAmplificationBound)
			}
		}
	}
	t.Logf("worst: %.1f", worst)
}
