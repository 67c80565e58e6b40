package sarama_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
)

// TestSaramaProduceConsume uses Sarama's sync producer and partition consumer.
func TestSaramaProduceConsume(t *testing.T) {
	b := rewindtest.Start(t, broker.WithDefaultPartitions(2))
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	client, err := sarama.NewClient([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := 0; i < 100; i++ {
		p, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama", Partition: int32(i % 2), Value: sarama.StringEncoder(fmt.Sprintf("m%03d", i))})
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(i / 2); p != int32(i%2) || off != want {
			t.Fatalf("message %d landed at %d/%d, want %d/%d", i, p, off, i%2, want)
		}
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("sarama", 1, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	timeout := time.After(20 * time.Second)
	for i := 0; i < 50; i++ {
		select {
		case m := <-pc.Messages():
			if want := fmt.Sprintf("m%03d", 2*i+1); string(m.Value) != want || m.Offset != int64(i) {
				t.Fatalf("got %s at %d, want %s at %d", m.Value, m.Offset, want, i)
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("timed out after %d messages", i)
		}
	}
}
