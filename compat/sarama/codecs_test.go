package sarama_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func codecValue(i int) []byte {
	return fmt.Appendf(nil, "%05d %s", i, bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog "), 46))
}

// TestSaramaCompressed: batches from Sarama with every codec (its own
// encoders and window choices) are accepted by a real `rewind serve`
// process and read back intact. franz-go's batches get the same test in
// test/adversarial (TestRealClientsCompressed).
func TestSaramaCompressed(t *testing.T) {
	p := proctest.Start(t, proctest.Config{Binary: binary})
	const n = 300
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	codecs := map[string]sarama.CompressionCodec{
		"gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
		"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
	}
	adm := kadm.NewClient(p.Client(t))
	var topics []string
	for name, codec := range codecs {
		topic := "sarama-" + name
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		topics = append(topics, topic)
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Producer.Return.Successes = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Compression = codec
		cfg.Producer.Flush.Messages = 100
		cfg.Producer.Retry.Max = 0
		pr, err := sarama.NewSyncProducer([]string{p.Addr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		msgs := make([]*sarama.ProducerMessage, n)
		for i := range msgs {
			msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(codecValue(i))}
		}
		err = pr.SendMessages(msgs)
		pr.Close()
		if err != nil {
			t.Fatalf("sarama %s: %v", name, err)
		}
	}
	for _, topic := range topics {
		cl := p.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := 0
		for got < n {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("%s: %v", topic, err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if !bytes.Equal(r.Value, codecValue(int(r.Offset))) {
					t.Errorf("%s offset %d: value differs", topic, r.Offset)
				}
				got++
			})
		}
		if got != n {
			t.Errorf("%s: read %d records, want %d", topic, got, n)
		}
	}
}
