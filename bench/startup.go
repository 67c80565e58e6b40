package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const startTopic = "bench-start"

// seedPartitions creates startTopic with n partitions on t and writes one
// small record to each, so every partition has a segment on disk.
func seedPartitions(ctx context.Context, t target, n int) error {
	adm, cl, err := admin(t)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := adm.CreateTopic(ctx, int32(n), 1, nil, startTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create %d partitions: %w", n, err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(t.addrs()...), kgo.DefaultProduceTopic(startTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return err
	}
	defer prod.Close()
	recs := make([]*kgo.Record, n)
	for p := range recs {
		recs[p] = &kgo.Record{Partition: int32(p), Value: []byte("seed")}
	}
	return prod.ProduceSync(ctx, recs...).FirstErr()
}

// ready waits until t answers Metadata for startTopic with every partition.
func ready(ctx context.Context, addrs []string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		md, err := adm.Metadata(ctx, startTopic)
		if err == nil {
			if td, ok := md.Topics[startTopic]; ok && td.Err == nil && len(td.Partitions) == n {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("not ready: %w", ctx.Err())
		}
		time.Sleep(time.Millisecond)
	}
}

// startup measures start-to-ready with n partitions on disk after a clean
// shutdown: from opening the data directory to the first Metadata response
// listing every partition. Rewind runs in this process; kfake in its
// kfakepeer process with its DataDir persistence, timed from inside it
// (kfake.NewCluster, as the peer reports it) plus the wait from its ready
// line to the Metadata answer, so that starting a process is not counted.
// Rounds alternate Rewind, kfake; kf is nil when the run has no kfake.
func startup(ctx context.Context, cfg *Config, p peer, root string, n int) (rw, kf []float64, err error) {
	rdir := filepath.Join(root, "start-rewind")
	kdir := filepath.Join(root, "start-kfake")
	defer os.RemoveAll(rdir)
	defer os.RemoveAll(kdir)
	bopts := func(c *broker.Config) { c.MaxPartitions = int32(max(n, 10000)) }

	openR := func() (*broker.Broker, error) { return openRewind(rdir, storage.FsyncAlways, bopts) }
	openK := func() (*peerTarget, error) { return p.start("--data-dir", kdir) }
	b, err := openR()
	if err != nil {
		return nil, nil, err
	}
	err = seedPartitions(ctx, &rewindTarget{b: b}, n)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("rewind: %w", err)
	}
	if p.ok() {
		c, err := openK()
		if err != nil {
			return nil, nil, err
		}
		err = seedPartitions(ctx, c, n)
		if cerr := c.close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, nil, fmt.Errorf("kfake: %w", err)
		}
	}

	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for i := 0; i < cfg.Rounds; i++ {
		settle()
		start := time.Now()
		b, err := openR()
		if err != nil {
			return nil, nil, err
		}
		err = ready(rctx, []string{b.Addr()}, n)
		el := time.Since(start)
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, nil, fmt.Errorf("rewind: %w", err)
		}
		rw = append(rw, ms(el))

		if !p.ok() {
			continue
		}
		settle()
		c, err := openK()
		if err != nil {
			return nil, nil, err
		}
		err = ready(rctx, c.addrs(), n)
		el = c.startup + time.Since(c.readyAt)
		if cerr := c.close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, nil, fmt.Errorf("kfake: %w", err)
		}
		kf = append(kf, ms(el))
	}
	return rw, kf, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
