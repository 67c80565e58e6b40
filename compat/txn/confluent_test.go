//go:build cgo

package txn

import (
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// TestConfluentReadCommitted: a confluent-kafka-go consumer (librdkafka,
// isolation.level=read_committed by default) reads to the end of every
// partition and gets no record of the aborted or the open transaction.
func TestConfluentReadCommitted(t *testing.T) {
	eachBroker(t, func(t *testing.T, addr string) { checkReaders(t, addr, confluentRead) })
}

// TestConfluentReadCommittedAfterCompaction: confluent-kafka-go reads a
// compacted topic whose aborted records the cleaner removed, and its
// markers, or set their delete horizon (compacted_test.go).
func TestConfluentReadCommittedAfterCompaction(t *testing.T) {
	for _, horizon := range []bool{false, true} {
		t.Run(map[bool]string{false: "markers removed", true: "markers with their delete horizon"}[horizon], func(t *testing.T) {
			checkCompacted(t, confluentRead, horizon)
		})
	}
}

func confluentRead(t *testing.T, addr, topic string, committed bool) []string {
	t.Helper()
	conf := &kafka.ConfigMap{"bootstrap.servers": addr, "group.id": topic + "-reader",
		"enable.partition.eof": true, "enable.auto.commit": false, "log_level": 3}
	if !committed {
		conf.SetKey("isolation.level", "read_uncommitted")
	} // else librdkafka's default, read_committed
	c, err := kafka.NewConsumer(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tps []kafka.TopicPartition
	for p := range int32(parts) {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		t.Fatal(err)
	}
	var vals []string
	eof := map[int32]bool{}
	deadline := time.Now().Add(time.Minute)
	for len(eof) < parts {
		if time.Now().After(deadline) {
			t.Fatalf("confluent-kafka-go (committed=%v): only partitions %v reached their end within a minute", committed, eof)
		}
		switch ev := c.Poll(200).(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error != nil {
				t.Fatal(ev.TopicPartition.Error)
			}
			vals = append(vals, string(ev.Value))
		case kafka.PartitionEOF:
			eof[ev.Partition] = true
		case kafka.Error:
			t.Fatalf("confluent-kafka-go: %v", ev)
		}
	}
	return vals
}
