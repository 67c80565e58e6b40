package offsettool

import (
	"bufio"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestHistoryOfKafkaConsumerGroup reads the __consumer_offsets records
// Apache Kafka 4.4 wrote for KIP-848 consumer groups (offsetsfmt's golden
// capture) as history does: every group epoch becomes a group-epoch event
// with rising epochs, commits stay commits, and the per-member records
// are skipped without an error.
func TestHistoryOfKafkaConsumerGroup(t *testing.T) {
	f, err := os.Open("../offsetsfmt/testdata/kafka-4.4.0-consumer-groups.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []*kgo.Record
	groups := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) != 4 || strings.HasPrefix(fl[0], "#") {
			continue
		}
		p, _ := strconv.Atoi(fl[0])
		off, _ := strconv.ParseInt(fl[1], 10, 64)
		r := &kgo.Record{Topic: "__consumer_offsets", Partition: int32(p), Offset: off}
		r.Key, _ = hex.DecodeString(fl[2])
		if fl[3] != "-" {
			r.Value, _ = hex.DecodeString(fl[3])
		}
		recs = append(recs, r)
	}
	for _, r := range recs {
		// The group id follows the record type and its int16 length in
		// every key of the capture.
		n := int(r.Key[2])<<8 | int(r.Key[3])
		groups[string(r.Key[4:4+n])] = true
	}
	epochs, commits := 0, 0
	for g := range groups {
		last := int32(0)
		for _, r := range recs {
			h, ok := decodeOffsetsRecord(r, g)
			if !ok {
				continue
			}
			switch h.Kind {
			case EventGroupEpoch:
				if h.Generation <= last || h.Protocol != "consumer" {
					t.Errorf("%s: epoch %d after %d (protocol %q)", g, h.Generation, last, h.Protocol)
				}
				last = h.Generation
				epochs++
			case EventCommit:
				commits++
			case EventGroup:
				t.Errorf("%s: a classic group event from a consumer group's log: %+v", g, h)
			}
		}
	}
	if epochs < 2 || commits == 0 {
		t.Fatalf("%d group-epoch events and %d commits over %d groups", epochs, commits, len(groups))
	}
}
