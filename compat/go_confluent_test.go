//go:build cgo

package compat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func init() {
	register(client{
		name: "confluent-kafka-go", slug: "confluentgo", lang: "Go", order: 40,
		available: func() error { return nil },
		version: func(context.Context, *env) string {
			_, lib := kafka.LibraryVersion()
			return modVersion("github.com/confluentinc/confluent-kafka-go/v2") + " (bundled librdkafka " + lib + ", cgo)"
		},
		newDriver: func(e *env) driver { return confluentGo{addr: e.addr} },
	})
}

// confluentGo drives confluent-kafka-go with its bundled librdkafka.
type confluentGo struct{ addr string }

func (c confluentGo) conf(kv ...any) *kafka.ConfigMap {
	m := kafka.ConfigMap{"bootstrap.servers": c.addr, "client.id": "rewind-compat-confluent-go", "log_level": 3}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return &m
}

func timeoutOf(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return 30 * time.Second
}

func (c confluentGo) Create(ctx context.Context, topics []string, partitions int) error {
	adm, err := kafka.NewAdminClient(c.conf())
	if err != nil {
		return err
	}
	defer adm.Close()
	var specs []kafka.TopicSpecification
	for _, tp := range topics {
		specs = append(specs, kafka.TopicSpecification{Topic: tp, NumPartitions: partitions, ReplicationFactor: 1})
	}
	res, err := adm.CreateTopics(ctx, specs)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			errs = append(errs, fmt.Errorf("%s: %w", r.Topic, r.Error))
		}
	}
	return errors.Join(errs...)
}

func (c confluentGo) Metadata(ctx context.Context) ([]string, error) {
	adm, err := kafka.NewAdminClient(c.conf())
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	md, err := adm.GetMetadata(nil, true, int(timeoutOf(ctx).Milliseconds()))
	if err != nil {
		return nil, err
	}
	var names []string
	for name := range md.Topics {
		names = append(names, name)
	}
	return names, nil
}

func (c confluentGo) Produce(ctx context.Context, topic, codec string, values []string) error {
	p, err := kafka.NewProducer(c.conf("compression.type", codec, "acks", "all", "linger.ms", 5))
	if err != nil {
		return err
	}
	defer p.Close()
	dr := make(chan kafka.Event, len(values))
	for _, v := range values {
		err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte(v)}, dr)
		if err != nil {
			return err
		}
	}
	for i := range values {
		select {
		case ev := <-dr:
			m := ev.(*kafka.Message)
			if m.TopicPartition.Error != nil {
				return fmt.Errorf("delivery of record %d: %w", i, m.TopicPartition.Error)
			}
		case <-ctx.Done():
			return fmt.Errorf("%d of %d delivery reports: %w", i, len(values), ctx.Err())
		}
	}
	return nil
}

func (c confluentGo) read(ctx context.Context, cons *kafka.Consumer, n int) ([]*kafka.Message, error) {
	var got []*kafka.Message
	for len(got) < n {
		if ctx.Err() != nil {
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, ctx.Err())
		}
		switch ev := cons.Poll(200).(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error != nil {
				return got, ev.TopicPartition.Error
			}
			got = append(got, ev)
		case kafka.Error:
			if ev.IsFatal() || ev.Code() != kafka.ErrTransport {
				return got, ev
			}
		}
	}
	return got, nil
}

func kmValues(ms []*kafka.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Value)
	}
	return out
}

func (c confluentGo) Consume(ctx context.Context, topic string, n int) ([]string, error) {
	// group.id is required by the consumer; Assign does not join the group.
	cons, err := kafka.NewConsumer(c.conf("group.id", "rewind-compat-unused", "enable.auto.commit", false))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	if err := cons.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		return nil, err
	}
	ms, err := c.read(ctx, cons, n)
	return kmValues(ms), err
}

func (c confluentGo) GroupConsume(ctx context.Context, topic, group string, n int) ([]string, error) {
	cons, err := kafka.NewConsumer(c.conf("group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", false))
	if err != nil {
		return nil, err
	}
	if err := cons.Subscribe(topic, nil); err != nil {
		cons.Close()
		return nil, err
	}
	ms, err := c.read(ctx, cons, n)
	if err == nil {
		if _, cerr := cons.CommitMessage(ms[n-1]); cerr != nil {
			err = fmt.Errorf("commit: %w", cerr)
		}
	}
	if cerr := cons.Close(); cerr != nil && err == nil { // leaves the group
		err = fmt.Errorf("close: %w", cerr)
	}
	return kmValues(ms), err
}
