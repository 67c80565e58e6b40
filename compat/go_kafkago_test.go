package compat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

func init() {
	register(client{
		name: "segmentio/kafka-go", slug: "kafkago", lang: "Go", order: 30,
		available: func() error { return nil },
		version: func(context.Context, *env) string {
			return modVersion("github.com/segmentio/kafka-go")
		},
		newDriver: func(e *env) driver { return kafkaGo{addr: e.addr} },
	})
}

// kafkaGo drives segmentio/kafka-go: kafka.Client for admin, kafka.Writer
// and kafka.Reader as documented.
type kafkaGo struct{ addr string }

func (k kafkaGo) Create(ctx context.Context, topics []string, partitions int) error {
	req := &kafka.CreateTopicsRequest{}
	for _, tp := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: tp, NumPartitions: partitions, ReplicationFactor: 1})
	}
	resp, err := (&kafka.Client{Addr: kafka.TCP(k.addr)}).CreateTopics(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	for tp, err := range resp.Errors {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", tp, err))
		}
	}
	return errors.Join(errs...)
}

func (k kafkaGo) Metadata(ctx context.Context) ([]string, error) {
	resp, err := (&kafka.Client{Addr: kafka.TCP(k.addr)}).Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, tp := range resp.Topics {
		if tp.Error != nil {
			return names, fmt.Errorf("%s: %w", tp.Name, tp.Error)
		}
		names = append(names, tp.Name)
	}
	return names, nil
}

var kafkaGoCodecs = map[string]compress.Compression{
	"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

func (k kafkaGo) Produce(ctx context.Context, topic, codec string, values []string) error {
	w := &kafka.Writer{
		Addr: kafka.TCP(k.addr), Topic: topic, RequiredAcks: kafka.RequireAll,
		Compression: kafkaGoCodecs[codec], BatchSize: len(values), BatchTimeout: 10 * time.Millisecond,
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
	}
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Value: []byte(v)}
	}
	err := w.WriteMessages(ctx, msgs...)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

func (k kafkaGo) read(ctx context.Context, r *kafka.Reader, n int) ([]kafka.Message, error) {
	var got []kafka.Message
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, err)
		}
		got = append(got, m)
	}
	return got, nil
}

func msgValues(ms []kafka.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Value)
	}
	return out
}

func (k kafkaGo) Consume(ctx context.Context, topic string, n int) ([]string, error) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{k.addr}, Topic: topic, Partition: 0, MaxWait: 500 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		return nil, err
	}
	ms, err := k.read(ctx, r, n)
	return msgValues(ms), err
}

func (k kafkaGo) GroupConsume(ctx context.Context, topic, group string, n int) ([]string, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{k.addr}, GroupID: group, Topic: topic,
		StartOffset: kafka.FirstOffset, MaxWait: 500 * time.Millisecond,
		CommitInterval: 0, // synchronous commits
	})
	ms, err := k.read(ctx, r, n)
	if err == nil {
		if cerr := r.CommitMessages(ctx, ms[n-1]); cerr != nil {
			err = fmt.Errorf("commit: %w", cerr)
		}
	}
	if cerr := r.Close(); cerr != nil && err == nil { // leaves the group
		err = fmt.Errorf("close: %w", cerr)
	}
	return msgValues(ms), err
}
