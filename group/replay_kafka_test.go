package group

import (
	"bufio"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/offsetsfmt"
)

// TestReplayKafkaConsumerGroupLog replays a __consumer_offsets written by
// Apache Kafka 4.4 while KIP-848 consumer groups used it (offsetsfmt's
// golden capture): the consumer-group record types (group epochs, member
// metadata, target and current assignments, regex resolutions, their
// tombstones) must not stop the replay, and the offset commits among them
// load as usual.
func TestReplayKafkaConsumerGroupLog(t *testing.T) {
	f, err := os.Open("../offsetsfmt/testdata/kafka-4.4.0-consumer-groups.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := New(testConfig(&fakeClock{t: t0}), nil)
	defer c.Close()
	type commit struct {
		group, topic string
		partition    int32
		offset       int64
	}
	var want []commit
	consumerRecords := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) != 4 || strings.HasPrefix(fl[0], "#") {
			continue
		}
		p, _ := strconv.Atoi(fl[0])
		off, _ := strconv.ParseInt(fl[1], 10, 64)
		key, _ := hex.DecodeString(fl[2])
		var value []byte
		if fl[3] != "-" {
			value, _ = hex.DecodeString(fl[3])
		}
		if err := c.Replay(int32(p), off, key, value, t0.UnixMilli()); err != nil {
			t.Fatalf("record %d/%d: %v", p, off, err)
		}
		r, err := offsetsfmt.Decode(key, value)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.Kind == offsetsfmt.OffsetCommit && r.Commit != nil:
			want = append(want, commit{r.Group, r.Topic, r.Partition, r.Commit.Offset})
		case r.Kind.IsConsumerGroup():
			consumerRecords++
		}
	}
	if len(want) == 0 || consumerRecords == 0 {
		t.Fatalf("the capture has %d commits and %d consumer-group records", len(want), consumerRecords)
	}
	c.start(false)
	last := map[commit]int64{}
	for _, w := range want {
		last[commit{w.group, w.topic, w.partition, 0}] = w.offset
	}
	for k, off := range last {
		if got := c.Committed(k.group)[k.topic][k.partition]; got.Offset != off {
			t.Errorf("%s %s/%d: committed %+v after replay, Kafka's log says %d", k.group, k.topic, k.partition, got, off)
		}
	}
}
