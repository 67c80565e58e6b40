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

// TestRebalancesOfKafkaConsumerGroup builds the rebalance timeline of each
// group of the Kafka 4.4 capture: every member that owned a partition
// joined first, every partition a member gained is a move to it, and no
// partition is owned by two members of a group at once.
func TestRebalancesOfKafkaConsumerGroup(t *testing.T) {
	recs := kafkaCapture(t)
	groups := map[string]bool{}
	for _, r := range recs {
		n := int(r.Key[2])<<8 | int(r.Key[3])
		groups[string(r.Key[4:4+n])] = true
	}
	moves, joins := 0, 0
	for g := range groups {
		var h []HistoryEntry
		for _, r := range recs {
			if e, ok := decodeOffsetsRecord(r, g); ok {
				h = append(h, e)
			}
		}
		joined := map[string]bool{}
		owner := map[TopicPartition]string{}
		for _, rb := range Rebalances(h) {
			if rb.Type != TypeConsumer {
				t.Errorf("%s: a %s rebalance from consumer group records", g, rb.Type)
			}
			for _, j := range rb.Joined {
				joined[j.ID] = true
				joins++
			}
			for _, mv := range rb.Moved {
				moves++
				if !joined[mv.To] {
					t.Errorf("%s epoch %d: %s/%d moved to %s, which never joined", g, rb.Epoch, mv.Topic, mv.Partition, mv.To)
				}
				tp := TopicPartition{mv.Topic, mv.Partition}
				if o := owner[tp]; o != mv.From && o != "" {
					t.Errorf("%s epoch %d: %s moved from %q, but %q held it", g, rb.Epoch, tp, mv.From, o)
				}
				owner[tp] = mv.To
			}
		}
	}
	if joins == 0 || moves == 0 {
		t.Fatalf("%d joins and %d moves over %d groups", joins, moves, len(groups))
	}
}

func kafkaCapture(t *testing.T) []*kgo.Record {
	t.Helper()
	f, err := os.Open("../offsetsfmt/testdata/kafka-4.4.0-consumer-groups.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []*kgo.Record
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
	return recs
}
