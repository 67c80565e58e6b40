package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/storage"
)

// Transactions: how many small transactions a second the broker carries,
// and how fast a read_committed consumer reads transactional data.
//
//	txn/s      cfg.Producers transactional producers, each in a loop:
//	           begin, 10 records of 100 B over 4 partitions (so each
//	           transaction adds 4 partitions and gets 4 markers), commit
//	           (EndTxn, which waits for the markers). Counted over the
//	           window [warmup, duration].
//	consume    about ConsumeBytes/4 of cfg.RecordSize records written in
//	           transactions of 100 records over 8 partitions, one in ten
//	           aborted, then read from the start with read_committed to
//	           the end (markers and aborted records skipped by the client
//	           as Kafka's consumers do): committed bytes / s.
const (
	txnRecords    = 10
	txnPartitions = 4
	txnValueSize  = 100
)

func (r *runner) txn(ctx context.Context) error {
	rewind := r.rewind(storage.FsyncAlways)
	if why := r.rewindTxnSupport(ctx, rewind); why != "" {
		r.logf("transactions: Rewind not measured: %s", why)
		rewind.skip = true
	}
	name := fmt.Sprintf("transactions, %d records of %s over %d partitions, %d producers, %s", txnRecords, sizeName(txnValueSize), txnPartitions, r.cfg.Producers, fsyncName(storage.FsyncAlways, r.external()))
	res, err := r.ab(ctx, name, []system{rewind, kfakeSystem(), r.kafkaSystem(false), r.kafkaSync()}, func(t target) ([]float64, error) {
		topic, err := createTopic(ctx, t, "txn", txnPartitions)
		if err != nil {
			return nil, err
		}
		defer deleteTopic(t, topic)
		rate, p99, err := txnRate(ctx, &r.cfg, t, topic)
		return []float64{rate, ms(p99)}, err
	})
	if err != nil {
		return err
	}
	r.add(newFigure(name, "txn/s", res[0][0], res[1][0], 0, "", goal{}).withKafka(res[2][0], res[3][0]))
	r.add(newFigure(name+", p99 latency", "ms", res[0][1], res[1][1], 0, "", goal{}).withKafka(res[2][1], res[3][1]))

	const parts = 8
	stored := r.cfg.ConsumeBytes / 4
	name = fmt.Sprintf("consume read_committed %s, %s stored in transactions of 100 (1 in 10 aborted), %d partitions", sizeName(r.cfg.RecordSize), bytesName(stored), parts)
	res, err = r.ab(ctx, name, []system{rewind, kfakeSystem(), r.kafkaSystem(false)}, func(t target) ([]float64, error) {
		topic, err := createTopic(ctx, t, "txnread", parts)
		if err != nil {
			return nil, err
		}
		defer deleteTopic(t, topic)
		if err := fillTxn(ctx, &r.cfg, t, topic, parts, stored); err != nil {
			return nil, err
		}
		rt, err := consumeCommitted(ctx, &r.cfg, t, topic)
		return []float64{rt.bytes / mb}, err
	})
	if err != nil {
		return err
	}
	r.add(newFigure(name, "MB/s", res[0][0], res[1][0], r.tcpLimit(), "tcp", goal{}).withKafka(res[2][0], nil))
	return nil
}

// rewindTxnSupport starts the Rewind system once and returns why it cannot
// be measured here ("" when it lists EndTxn in ApiVersions).
func (r *runner) rewindTxnSupport(ctx context.Context, s system) string {
	t, err := s.start()
	if err != nil {
		return err.Error()
	}
	defer t.close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.addrs()...))
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return err.Error()
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 26 { // EndTxn
			return ""
		}
	}
	return "it does not serve transactions (no EndTxn in ApiVersions)"
}

var txnSeq atomic.Int64

// txnProducer is a transactional client of t producing to topic with the
// partition chosen by the record.
// Transactions need acks=all and idempotence whatever cfg.Acks says.
func txnProducer(cfg *Config, t target, topic string) (*kgo.Client, error) {
	codec, _ := compressionOpt(cfg.Compression)
	return kgo.NewClient(
		kgo.SeedBrokers(t.addrs()...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(codec),
		kgo.TransactionalID(fmt.Sprintf("%s-txn-%d", topic, txnSeq.Add(1))),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0))
}

// txnRate runs cfg.Producers transactional producers committing small
// transactions as fast as they can and returns the commits per second over
// [warmup, duration] and the p99 time of a whole transaction.
func txnRate(ctx context.Context, cfg *Config, t target, topic string) (float64, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done atomic.Int64
	var measuring atomic.Bool
	var wg sync.WaitGroup
	lats := make([][]time.Duration, cfg.Producers)
	errs := make(chan error, cfg.Producers)
	defer wg.Wait()
	for i := range cfg.Producers {
		cl, err := txnProducer(cfg, t, topic)
		if err != nil {
			return 0, 0, err
		}
		defer cl.Close()
		rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
		// The first transaction finds the coordinator and gets the
		// producer id (Kafka also creates __transaction_state on first
		// use): not counted, not even in the warmup.
		if err := oneTxn(ctx, cl, rng, topic, txnPartitions, txnRecords, txnValueSize, true); err != nil {
			return 0, 0, fmt.Errorf("first transaction: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				if err := oneTxn(ctx, cl, rng, topic, txnPartitions, txnRecords, txnValueSize, true); err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				if measuring.Load() {
					lats[i] = append(lats[i], time.Since(start))
				}
				done.Add(1)
			}
		}()
	}
	wait := func(d time.Duration) error {
		select {
		case err := <-errs:
			return err
		case <-time.After(d):
			return ctx.Err()
		}
	}
	if err := wait(cfg.Warmup); err != nil {
		return 0, 0, err
	}
	measuring.Store(true)
	n0, t0 := done.Load(), time.Now()
	if err := wait(cfg.Duration - cfg.Warmup); err != nil {
		return 0, 0, err
	}
	// A broker slower than one transaction per window is measured over a
	// longer one, up to a minute, rather than reported as 0 or failed.
	for extra := time.Now(); done.Load() == n0 && time.Since(extra) < time.Minute; {
		if err := wait(50 * time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
	rate := float64(done.Load()-n0) / time.Since(t0).Seconds()
	measuring.Store(false)
	cancel()
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return 0, 0, errors.New("transactions: none committed in a minute")
	}
	return rate, quantile(all, 0.99), nil
}

// oneTxn produces n records of size bytes over partitions in one
// transaction and commits or aborts it.
func oneTxn(ctx context.Context, cl *kgo.Client, rng *rand.Rand, topic string, partitions, n, size int, commit bool) error {
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	var perr atomic.Pointer[error]
	for j := range n {
		r := &kgo.Record{Topic: topic, Partition: int32(j % partitions), Value: value(rng, size)}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				perr.CompareAndSwap(nil, &err)
			}
		})
	}
	// EndTransaction does not flush: the records must be acknowledged (in
	// the log, aborted ones too) before EndTxn.
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if e := perr.Load(); e != nil {
		commit = false
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		return fmt.Errorf("end transaction (commit=%v): %w", commit, err)
	}
	if e := perr.Load(); e != nil {
		return fmt.Errorf("transactional produce: %w", *e)
	}
	return nil
}

// fillTxn stores about bytes of cfg.RecordSize records in topic in
// transactions of 100 records over all partitions, every tenth aborted,
// from cfg.Producers transactional producers.
func fillTxn(ctx context.Context, cfg *Config, t target, topic string, partitions int, bytes int64) error {
	const perTxn = 100
	txns := max(1, bytes/int64(cfg.RecordSize*perTxn))
	var next atomic.Int64
	errs := make(chan error, cfg.Producers)
	for i := range cfg.Producers {
		cl, err := txnProducer(cfg, t, topic)
		if err != nil {
			return err
		}
		defer cl.Close()
		go func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for {
				k := next.Add(1)
				if k > txns {
					errs <- nil
					return
				}
				if err := oneTxn(ctx, cl, rng, topic, partitions, perTxn, cfg.RecordSize, k%10 != 0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var first error
	for range cfg.Producers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// consumeCommitted reads topic from the start to its end with read_committed,
// the partitions split between cfg.Consumers clients, and returns the rate
// of committed bytes from the clients' creation to the end. A partition is
// read to its end when a record (control records kept, so that the
// trailing marker counts) at its last offset arrived.
func consumeCommitted(ctx context.Context, cfg *Config, t target, topic string) (rate, error) {
	ends, err := endOffsets(ctx, t, topic)
	if err != nil {
		return rate{}, err
	}
	parts := slices.Sorted(func(yield func(int32) bool) {
		for p, e := range ends {
			if e > 0 && !yield(p) {
				return
			}
		}
	})
	n := min(cfg.Consumers, len(parts))
	var bytes, records atomic.Int64
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		assign := map[int32]kgo.Offset{}
		left := map[int32]int64{}
		for j := i; j < len(parts); j += n {
			assign[parts[j]] = kgo.NewOffset().AtStart()
			left[parts[j]] = ends[parts[j]]
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(t.addrs()...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
		if err != nil {
			return rate{}, err
		}
		defer cl.Close()
		go func() {
			for len(left) > 0 {
				fs := cl.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					errs <- err
					return
				}
				if err := fs.Err(); err != nil {
					errs <- fmt.Errorf("consume read_committed: %w", err)
					return
				}
				var b, recs int64
				fs.EachRecord(func(r *kgo.Record) {
					if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
						delete(left, r.Partition)
					}
					if !r.Attrs.IsControl() {
						b += int64(len(r.Value))
						recs++
					}
				})
				bytes.Add(b)
				records.Add(recs)
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return rate{}, err
		}
	}
	el := time.Since(start).Seconds()
	return rate{float64(bytes.Load()) / el, float64(records.Load()) / el}, nil
}
