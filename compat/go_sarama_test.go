package compat

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
)

func init() {
	register(client{
		name: "Sarama", slug: "sarama", lang: "Go", order: 20,
		available: func() error { return nil },
		version: func(context.Context, *env) string {
			return modVersion("github.com/IBM/sarama") + " (config.Version " + sarama.DefaultVersion.String() + ", its default)"
		},
		newDriver: func(e *env) driver { return saramaDriver{addrs: []string{e.addr}} },
	})
}

// saramaDriver drives IBM/sarama with its default config (protocol version
// sarama.DefaultVersion) and acks=all.
type saramaDriver struct{ addrs []string }

func (saramaDriver) config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "rewind-compat-sarama"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	return cfg
}

func (s saramaDriver) Create(ctx context.Context, topics []string, partitions int) error {
	adm, err := sarama.NewClusterAdmin(s.addrs, s.config())
	if err != nil {
		return err
	}
	defer adm.Close()
	for _, tp := range topics {
		if err := adm.CreateTopic(tp, &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1}, false); err != nil {
			return fmt.Errorf("CreateTopic %s: %w", tp, err)
		}
	}
	return nil
}

func (s saramaDriver) Metadata(ctx context.Context) ([]string, error) {
	cl, err := sarama.NewClient(s.addrs, s.config())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := cl.RefreshMetadata(); err != nil {
		return nil, err
	}
	return cl.Topics()
}

var saramaCodecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

func (s saramaDriver) Produce(ctx context.Context, topic, codec string, values []string) error {
	cfg := s.config()
	cfg.Producer.Compression = saramaCodecs[codec]
	p, err := sarama.NewSyncProducer(s.addrs, cfg)
	if err != nil {
		return err
	}
	msgs := make([]*sarama.ProducerMessage, len(values))
	for i, v := range values {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}
	}
	err = p.SendMessages(msgs)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) && len(perrs) > 0 {
		return fmt.Errorf("%d of %d messages failed, first: %w", len(perrs), len(msgs), perrs[0].Err)
	}
	return err
}

func (s saramaDriver) Consume(ctx context.Context, topic string, n int) ([]string, error) {
	c, err := sarama.NewConsumer(s.addrs, s.config())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var got []string
	for len(got) < n {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case e := <-pc.Errors():
			return got, e
		case <-ctx.Done():
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, ctx.Err())
		}
	}
	return got, nil
}

func (s saramaDriver) GroupConsume(ctx context.Context, topic, group string, n int) ([]string, error) {
	cfg := s.config()
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup(s.addrs, group, cfg)
	if err != nil {
		return nil, err
	}
	h := &saramaHandler{n: n, done: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := cg.Consume(cctx, []string{topic}, h); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var cerr error
	select {
	case <-h.done:
	case cerr = <-cg.Errors():
	case cerr = <-errc:
	case <-ctx.Done():
		cerr = fmt.Errorf("read %d of %d records: %w", h.count(), n, ctx.Err())
	}
	cancel()
	if err := cg.Close(); err != nil && cerr == nil {
		cerr = fmt.Errorf("close: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if cerr == nil && h.commitErr != nil {
		cerr = h.commitErr
	}
	return h.got, cerr
}

type saramaHandler struct {
	n         int
	mu        sync.Mutex
	got       []string
	commitErr error
	done      chan struct{}
}

func (h *saramaHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.mu.Lock()
			if len(h.got) < h.n {
				h.got = append(h.got, string(m.Value))
				sess.MarkMessage(m, "")
				if len(h.got) == h.n {
					sess.Commit() // synchronous with auto-commit off
					close(h.done)
				}
			}
			h.mu.Unlock()
		case <-sess.Context().Done():
			return nil
		}
	}
}
