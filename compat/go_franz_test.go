package compat

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register(client{
		name: "franz-go", slug: "franz", lang: "Go", order: 10,
		available: func() error { return nil },
		version: func(context.Context, *env) string {
			return modVersion("github.com/twmb/franz-go") + " (kadm " + modVersion("github.com/twmb/franz-go/pkg/kadm") + ")"
		},
		newDriver: func(e *env) driver { return franz{addr: e.addr} },
	})
}

var (
	modOnce     sync.Once
	modVersions map[string]string
)

// modVersion is the version of a module this package builds against, from
// go list in the compat module's directory (test binaries carry no
// dependency list in their build info).
func modVersion(path string) string {
	modOnce.Do(func() {
		modVersions = map[string]string{}
		mods := []string{"github.com/twmb/franz-go", "github.com/twmb/franz-go/pkg/kadm", "github.com/IBM/sarama",
			"github.com/segmentio/kafka-go", "github.com/confluentinc/confluent-kafka-go/v2"}
		cmd := exec.Command(goTool(), append([]string{"list", "-m", "-f", "{{.Path}} {{.Version}}"}, mods...)...)
		out, _ := cmd.Output()
		for _, l := range lines(string(out)) {
			if p, v, ok := strings.Cut(l, " "); ok {
				modVersions[p] = v
			}
		}
	})
	if v, ok := modVersions[path]; ok {
		return v
	}
	return "unknown"
}

// franz drives franz-go with its defaults (idempotent producer, acks=all).
type franz struct{ addr string }

func (f franz) client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(f.addr)}, opts...)...)
}

func (f franz) Create(ctx context.Context, topics []string, partitions int) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, int32(partitions), 1, nil, topics...)
	if err != nil {
		return err
	}
	return resp.Error()
}

func (f franz) Metadata(ctx context.Context) ([]string, error) {
	cl, err := f.client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	return td.Names(), td.Error()
}

var franzCodecs = map[string]kgo.CompressionCodec{
	"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

func (f franz) Produce(ctx context.Context, topic, codec string, values []string) error {
	cl, err := f.client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(franzCodecs[codec]), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: []byte(v), Partition: 0}
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

func (f franz) poll(ctx context.Context, cl *kgo.Client, n int) ([]*kgo.Record, error) {
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, ctx.Err())
		}
		var errs []error
		fs.EachError(func(t string, p int32, err error) { errs = append(errs, fmt.Errorf("fetch %s/%d: %w", t, p, err)) })
		if len(errs) > 0 {
			return got, errors.Join(errs...)
		}
		got = append(got, fs.Records()...)
	}
	return got[:n], nil
}

func recValues(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func (f franz) Consume(ctx context.Context, topic string, n int) ([]string, error) {
	cl, err := f.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	recs, err := f.poll(ctx, cl, n)
	return recValues(recs), err
}

func (f franz) GroupConsume(ctx context.Context, topic, group string, n int) ([]string, error) {
	cl, err := f.client(kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		return nil, err
	}
	defer cl.Close() // leaves the group
	recs, err := f.poll(ctx, cl, n)
	if err != nil {
		return recValues(recs), err
	}
	if err := cl.CommitRecords(ctx, recs[n-1]); err != nil {
		return recValues(recs), fmt.Errorf("commit: %w", err)
	}
	return recValues(recs), nil
}
