package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// payload is random, so record values are incompressible. Values are
// slices of it at random positions: the load generator copies nothing per
// record.
var payload = func() []byte {
	b := make([]byte, 8<<20)
	r := rand.NewChaCha8([32]byte{'r', 'e', 'w', 'i', 'n', 'd'})
	r.Read(b)
	return b
}()

func value(rng *rand.Rand, size int) []byte {
	off := rng.IntN(len(payload) - size)
	return payload[off : off+size : off+size]
}

func acksOpt(s string) (kgo.Acks, error) {
	switch s {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "leader", "1":
		return kgo.LeaderAck(), nil
	case "none", "0":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("acks %q: want all, leader or none", s)
}

func compressionOpt(s string) (kgo.CompressionCodec, error) {
	switch s {
	case "none", "":
		return kgo.NoCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, snappy, lz4, zstd or gzip", s)
}

// producerOpts are the options of every producing client: the codec asked
// for (kgo would otherwise compress with snappy) and the acks.
func producerOpts(cfg *Config, t target, topic string) []kgo.Opt {
	acks, _ := acksOpt(cfg.Acks)
	codec, _ := compressionOpt(cfg.Compression)
	opts := append(clientConn(t),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(codec),
		kgo.RequiredAcks(acks),
	)
	if cfg.Acks != "all" && cfg.Acks != "-1" {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts
}

// rate is a throughput.
type rate struct{ bytes, records float64 } // per second

// produceSpec is one produce measurement.
type produceSpec struct {
	topic      string
	recordSize int
	producers  int
	duration   time.Duration // measured window ends here
	warmup     time.Duration // measured window starts here
	volume     int64         // > 0: send exactly this much and time all of it
	text       bool          // compressible values (recompress.go), else random
}

// produce runs spec.producers clients producing as fast as they can and
// returns the acknowledged rate: over the window [warmup, duration], or
// over the whole volume including the final flush.
func produce(ctx context.Context, cfg *Config, t target, spec produceSpec) (rate, error) {
	var acked, ackedRecs atomic.Int64
	var failed atomic.Pointer[error]
	pool := sync.Pool{New: func() any { return new(kgo.Record) }}
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				failed.CompareAndSwap(nil, &err)
			}
		} else {
			acked.Add(int64(len(r.Value)))
			ackedRecs.Add(1)
		}
		*r = kgo.Record{}
		pool.Put(r)
	}

	clients := make([]*kgo.Client, spec.producers)
	for i := range clients {
		cl, err := kgo.NewClient(producerOpts(cfg, t, spec.topic)...)
		if err != nil {
			return rate{}, err
		}
		defer cl.Close()
		clients[i] = cl
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			for pctx.Err() == nil && failed.Load() == nil {
				if spec.volume > 0 && sent.Add(int64(spec.recordSize)) > spec.volume {
					return
				}
				r := pool.Get().(*kgo.Record)
				if spec.text {
					r.Value = textValue(rng, spec.recordSize)
				} else {
					r.Value = value(rng, spec.recordSize)
				}
				cl.Produce(pctx, r, promise)
			}
		}()
	}

	var res rate
	if spec.volume > 0 {
		wg.Wait()
		for _, cl := range clients {
			if err := cl.Flush(ctx); err != nil {
				return rate{}, err
			}
		}
		el := time.Since(start).Seconds()
		res = rate{float64(acked.Load()) / el, float64(ackedRecs.Load()) / el}
	} else {
		if !sleepCtx(ctx, spec.warmup) {
			return rate{}, ctx.Err()
		}
		b0, r0, t0 := acked.Load(), ackedRecs.Load(), time.Now()
		if !sleepCtx(ctx, spec.duration-spec.warmup) {
			return rate{}, ctx.Err()
		}
		b1, r1, el := acked.Load(), ackedRecs.Load(), time.Since(t0).Seconds()
		res = rate{float64(b1-b0) / el, float64(r1-r0) / el}
		stop()
		wg.Wait()
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		for _, cl := range clients {
			cl.Flush(fctx)
		}
	}
	if e := failed.Load(); e != nil {
		return rate{}, fmt.Errorf("produce: %w", *e)
	}
	if res.bytes == 0 {
		return rate{}, fmt.Errorf("produce: nothing acknowledged in %v", spec.duration-spec.warmup)
	}
	return res, nil
}

// fill stores about bytes of recordSize records in topic, as fast as the
// configured producers can.
func fill(ctx context.Context, cfg *Config, t target, topic string, bytes int64) error {
	_, err := produce(ctx, cfg, t, produceSpec{topic: topic, recordSize: cfg.RecordSize, producers: cfg.Producers, volume: bytes})
	return err
}

// endOffsets returns the end offset of every partition of topic.
func endOffsets(ctx context.Context, t target, topic string) (map[int32]int64, error) {
	adm, cl, err := admin(t)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	lo, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends := map[int32]int64{}
	var lerr error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = o.Err
		}
		ends[o.Partition] = o.Offset
	})
	return ends, lerr
}

// consumeAll reads every record of topic from the start with cfg.Consumers
// clients, the partitions split between them, and returns the rate from
// the clients' creation to the last record.
func consumeAll(ctx context.Context, cfg *Config, t target, topic string) (rate, error) {
	ends, err := endOffsets(ctx, t, topic)
	if err != nil {
		return rate{}, err
	}
	return consume(ctx, cfg, t, topic, ends)
}

// consume reads topic from the start of each partition in ends to the
// offset given there.
func consume(ctx context.Context, cfg *Config, t target, topic string, ends map[int32]int64) (rate, error) {
	parts := slices.Sorted(func(yield func(int32) bool) {
		for p := range ends {
			if !yield(p) {
				return
			}
		}
	})
	n := min(cfg.Consumers, len(parts))
	var bytes, records atomic.Int64
	errs := make(chan error, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		assign := map[int32]kgo.Offset{}
		var want int64
		for j := i; j < len(parts); j += n {
			assign[parts[j]] = kgo.NewOffset().AtStart()
			want += ends[parts[j]]
		}
		cl, err := kgo.NewClient(append(clientConn(t),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))...)
		if err != nil {
			return rate{}, err
		}
		defer cl.Close()
		go func() {
			var got int64
			for got < want {
				fs := cl.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					errs <- err
					return
				}
				if err := fs.Err(); err != nil {
					errs <- fmt.Errorf("consume: %w", err)
					return
				}
				var b int64
				fs.EachRecord(func(r *kgo.Record) { b += int64(len(r.Value)) })
				got += int64(fs.NumRecords())
				bytes.Add(b)
				records.Add(int64(fs.NumRecords()))
			}
			errs <- nil
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			return rate{}, err
		}
	}
	el := time.Since(start).Seconds()
	return rate{float64(bytes.Load()) / el, float64(records.Load()) / el}, nil
}

// tail runs cfg.Consumers clients reading topic's new records while
// cfg.Producers write as fast as they can, and returns the rate consumed
// over the window [warmup, duration].
func tail(ctx context.Context, cfg *Config, t target, topic string, partitions int) (rate, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := min(cfg.Consumers, partitions)
	var bytes, records atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; i < n; i++ {
		assign := map[int32]kgo.Offset{}
		for p := i; p < partitions; p += n {
			assign[int32(p)] = kgo.NewOffset().AtStart() // the topic is new: the start is the tail
		}
		cl, err := kgo.NewClient(append(clientConn(t),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))...)
		if err != nil {
			return rate{}, err
		}
		defer cl.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				var b int64
				fs.EachRecord(func(r *kgo.Record) { b += int64(len(r.Value)) })
				bytes.Add(b)
				records.Add(int64(fs.NumRecords()))
			}
		}()
	}
	perr := make(chan error, 1)
	go func() {
		_, err := produce(ctx, cfg, t, produceSpec{topic: topic, recordSize: cfg.RecordSize, producers: cfg.Producers, duration: cfg.Duration + time.Second, warmup: cfg.Warmup})
		if ctx.Err() != nil {
			err = nil
		}
		perr <- err
	}()
	wait := func(d time.Duration) error {
		select {
		case err := <-perr:
			if err == nil {
				err = errors.New("tail: the producers stopped early")
			}
			return err
		case <-time.After(d):
			return ctx.Err()
		}
	}
	if err := wait(cfg.Warmup); err != nil {
		return rate{}, err
	}
	b0, r0, t0 := bytes.Load(), records.Load(), time.Now()
	if err := wait(cfg.Duration - cfg.Warmup); err != nil {
		return rate{}, err
	}
	el := time.Since(t0).Seconds()
	res := rate{float64(bytes.Load()-b0) / el, float64(records.Load()-r0) / el}
	cancel()
	if res.bytes == 0 {
		return rate{}, errors.New("tail: nothing consumed")
	}
	return res, nil
}

// latencies are end-to-end record latencies, from the time a record was
// due to be produced to the time a consumer polled it.
type latencies struct{ p50, p99, p999 time.Duration }

// endToEnd produces cfg.RecordSize records at a fixed rate (bytes/s) to a
// one-partition topic while one consumer tails it. Each value carries the
// time the record was due, not when Produce was called, so a stalled
// producer shows up as latency instead of hiding it (coordinated
// omission). Records due during the warmup are not counted.
func endToEnd(ctx context.Context, cfg *Config, t target, topic string, bytesPerSec float64) (latencies, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	interval := time.Duration(float64(time.Second) * float64(cfg.RecordSize) / bytesPerSec)
	if interval <= 0 {
		return latencies{}, fmt.Errorf("latency rate %.0f B/s is too high", bytesPerSec)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(t.addrs()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return latencies{}, err
	}
	defer cons.Close()
	opts := append(producerOpts(cfg, t, topic), kgo.ProducerLinger(0))
	prod, err := kgo.NewClient(opts...)
	if err != nil {
		return latencies{}, err
	}
	defer prod.Close()

	start := time.Now()
	countFrom := start.Add(cfg.Warmup).UnixNano()
	total := int64(cfg.Duration / interval)
	var failed atomic.Pointer[error]
	// Records and their values are reused once acknowledged, so the load
	// generator makes no garbage per record.
	pool := sync.Pool{New: func() any { return &kgo.Record{Value: make([]byte, cfg.RecordSize)} }}
	promise := func(r *kgo.Record, err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			failed.CompareAndSwap(nil, &err)
		}
		v := r.Value
		*r = kgo.Record{Value: v}
		pool.Put(r)
	}
	go func() {
		rng := rand.New(rand.NewPCG(1, uint64(start.UnixNano())))
		for sent := int64(0); sent < total && ctx.Err() == nil; {
			due := min(total, int64(time.Since(start)/interval)+1)
			for ; sent < due; sent++ {
				r := pool.Get().(*kgo.Record)
				copy(r.Value, value(rng, cfg.RecordSize))
				binary.BigEndian.PutUint64(r.Value, uint64(start.Add(time.Duration(sent)*interval).UnixNano()))
				prod.Produce(ctx, r, promise)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()

	lat := make([]time.Duration, 0, total)
	deadline := start.Add(cfg.Duration + 10*time.Second)
	for got := int64(0); got < total; {
		pctx, pcancel := context.WithDeadline(ctx, deadline)
		fs := cons.PollFetches(pctx)
		pcancel()
		now := time.Now().UnixNano()
		if time.Now().After(deadline) {
			return latencies{}, fmt.Errorf("latency: consumed %d of %d records before the deadline", got, total)
		}
		if err := fs.Err(); err != nil {
			return latencies{}, fmt.Errorf("latency: consume: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if due := int64(binary.BigEndian.Uint64(r.Value)); due >= countFrom {
				lat = append(lat, time.Duration(now-due))
			}
		})
		if e := failed.Load(); e != nil {
			return latencies{}, fmt.Errorf("latency: produce: %w", *e)
		}
	}
	if len(lat) == 0 {
		return latencies{}, errors.New("latency: no records after the warmup")
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	return latencies{q(0.50), q(0.99), q(0.999)}, nil
}

// sleepCtx sleeps for d unless ctx ends first; it reports whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
