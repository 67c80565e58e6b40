package differential

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestApiVersions compares the version ranges. Rewind serves a subset of
// Kafka's APIs on purpose (no ACLs, no share groups...),
// so a missing API or a lower maximum is reported in a table, not failed;
// a version Rewind advertises that Kafka does not serve fails, since a
// client would send it expecting Kafka's semantics.
func TestApiVersions(t *testing.T) {
	p := newPair(t)
	keys := map[int16]bool{}
	for k := range p.kafkaVersions {
		keys[k] = true
	}
	for k := range p.rewindVersions {
		keys[k] = true
	}
	sorted := make([]int, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, int(k))
	}
	sort.Ints(sorted)

	var table strings.Builder
	fmt.Fprintf(&table, "%-4s %-34s %-8s %-8s %s\n", "key", "API", "kafka", "rewind", "")
	served, subset := 0, 0
	for _, k := range sorted {
		key := int16(k)
		kv, kok := p.kafkaVersions[key]
		rv, rok := p.rewindVersions[key]
		var note string
		switch {
		case !rok:
			note = "not served by rewind"
		case !kok:
			note = "ADVERTISED BY REWIND, NOT BY KAFKA"
			p.report("ApiVersions/ranges", []difference{{"ApiKeys[" + kmsg.NameForKey(key) + "]", "-", rng(rv, rok)}})
		case rv[0] < kv[0] || rv[1] > kv[1]:
			note = "ADVERTISES VERSIONS KAFKA DOES NOT"
			p.report("ApiVersions/ranges", []difference{{"ApiKeys[" + kmsg.NameForKey(key) + "]", rng(kv, kok), rng(rv, rok)}})
		case rv != kv:
			note = "subset"
			served++
			subset++
		default:
			served++
		}
		fmt.Fprintf(&table, "%-4d %-34s %-8s %-8s %s\n", key, kmsg.NameForKey(key), rng(kv, kok), rng(rv, rok), note)
	}
	t.Logf("ApiVersions: rewind serves %d of Kafka's %d APIs, %d of them with fewer versions\n%s",
		served, len(p.kafkaVersions), subset, table.String())

	// The response itself, at every version both serve, minus the key list
	// compared above: error code and the v3 fields (finalized features,
	// zk migration) a client reads.
	lo, hi, _ := p.common(kmsg.NewPtrApiVersionsRequest())
	for v := lo; v <= hi; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "differential", "1"
		p.compare("ApiVersions", req, v, func(k, r kmsg.Response) {
			k.(*kmsg.ApiVersionsResponse).ApiKeys = nil
			r.(*kmsg.ApiVersionsResponse).ApiKeys = nil
		})
	}

	// A version above what the broker serves gets UNSUPPORTED_VERSION and
	// the broker's ranges, in a v0 body.
	req := kmsg.NewPtrApiVersionsRequest()
	k, r, _, _ := p.both(req, 127)
	if ke, re := k.(*kmsg.ApiVersionsResponse).ErrorCode, r.(*kmsg.ApiVersionsResponse).ErrorCode; ke != re {
		p.report("ApiVersions/unsupported_v127", []difference{{"ErrorCode", show("ErrorCode", valueOf(ke)), show("ErrorCode", valueOf(re))}})
	}
}

func rng(v [2]int16, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%d-%d", v[0], v[1])
}

// TestRemovedVersions: a request at a version below the broker's minimum
// (Kafka 4.0 removed the oldest versions of many APIs, KIP-896). Kafka
// cannot parse it and closes the connection; a client learns of it
// from ApiVersions first.
func TestRemovedVersions(t *testing.T) {
	p := newPair(t)
	for key, kv := range p.kafkaVersions {
		req := kmsg.RequestForKey(key)
		if req == nil || (kv[0] == 0 && key != 0) || key == 18 {
			continue
		}
		if _, rok := p.rewindVersions[key]; !rok {
			continue
		}
		removed := kv[0]
		if key == 0 {
			// Kafka advertises Produce from v0 (librdkafka needs to see it,
			// KAFKA-18659) but serves only v3 and up.
			removed = 3
		}
		for v := int16(0); v < removed; v++ {
			p.kafka.timeout, p.rewind.timeout = 5*time.Second, 5*time.Second
			p.compare("RemovedVersion", req, v, nil)
		}
	}
}
