package offsettool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewindhq/rewind/internal/logend"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ProduceOptions tune ProduceLines.
type ProduceOptions struct {
	Topic string
	// KeySeparator splits each line into key and value at its first
	// occurrence; empty means lines are values without keys. A line
	// without the separator is a value with no key.
	KeySeparator string
	Headers      []kgo.RecordHeader
	// Partition sends every record to one partition; -1 lets the default
	// partitioner choose (by key hash, as Kafka's Java client does).
	Partition int32
}

// ProduceResult counts what was produced.
type ProduceResult struct {
	Topic      string          `json:"topic"`
	Records    int64           `json:"records"`
	Partitions map[int32]int64 `json:"partitions"` // records per partition
}

// ParseHeader parses "key=value".
func ParseHeader(s string) (kgo.RecordHeader, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return kgo.RecordHeader{}, fmt.Errorf("--header %q: use key=value", s)
	}
	return kgo.RecordHeader{Key: k, Value: []byte(v)}, nil
}

// ProduceLines produces one record per line of r (acks=all, idempotent)
// and waits until every record is acknowledged.
func (c *Client) ProduceLines(ctx context.Context, r io.Reader, o ProduceOptions) (ProduceResult, error) {
	res := ProduceResult{Topic: o.Topic, Partitions: map[int32]int64{}}
	parts, err := c.topicPartitions(ctx, o.Topic)
	if err != nil {
		return res, err
	}
	extra := []kgo.Opt{kgo.ProducerLinger(5 * time.Millisecond)}
	if o.Partition >= 0 {
		if !containsInt32(parts[o.Topic], o.Partition) {
			return res, fmt.Errorf("%w: topic %q has no partition %d (it has %d)", ErrUnknownTopic, o.Topic, o.Partition, len(parts[o.Topic]))
		}
		extra = append(extra, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := c.newKgo(extra...)
	if err != nil {
		return res, err
	}
	defer cl.Close()

	var (
		mu       sync.Mutex
		firstErr error
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		rec := &kgo.Record{Topic: o.Topic, Value: []byte(line), Partition: o.Partition, Headers: o.Headers}
		if o.KeySeparator != "" {
			if k, v, ok := strings.Cut(line, o.KeySeparator); ok {
				rec.Key, rec.Value = []byte(k), []byte(v)
			}
		}
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			res.Records++
			res.Partitions[r.Partition]++
		})
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("reading input: %w", err)
	}
	if err := cl.Flush(ctx); err != nil {
		return res, fmt.Errorf("produce to %q: %s", o.Topic, oneLine(err))
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return res, fmt.Errorf("produce to %q: %d record(s) acknowledged, then: %s", o.Topic, res.Records, oneLine(firstErr))
	}
	return res, nil
}

// From is where consume starts (without a group, or for a group that has
// not committed).
type From struct {
	Kind   string // "oldest", "newest", "offset", "relative" (Offset < 0 from the end), "time"
	Offset int64
	Time   time.Time
}

// ParseFrom accepts oldest|newest (also earliest|latest|start|end), an
// offset, -N (kcat's relative start: the last N records of each
// partition), an RFC 3339 time, s@<unix ms> (kcat's), or a duration
// meaning that long ago ("90m").
func ParseFrom(s string, now time.Time) (From, error) {
	switch strings.ToLower(s) {
	case "oldest", "earliest", "start", "beginning":
		return From{Kind: "oldest"}, nil
	case "newest", "latest", "end":
		return From{Kind: "newest"}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			// kcat's -o -N: N records before the end of each partition.
			return From{Kind: "relative", Offset: n}, nil
		}
		return From{Kind: "offset", Offset: n}, nil
	}
	if ms, ok := strings.CutPrefix(s, "s@"); ok { // kcat's -o s@<unix ms>
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil && n >= 0 {
			return From{Kind: "time", Time: time.UnixMilli(n)}, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return From{Kind: "time", Time: t}, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d > 0 {
		return From{Kind: "time", Time: now.Add(-d)}, nil
	}
	return From{}, fmt.Errorf("--from %q: use oldest, newest, an offset (42), -N for the last N records of each partition (-5), an RFC 3339 time (2026-01-02T15:04:05Z), s@<unix ms> or a duration ago (90m)", s)
}

func (f From) offset() kgo.Offset {
	switch f.Kind {
	case "newest":
		return kgo.NewOffset().AtEnd()
	case "offset":
		return kgo.NewOffset().At(f.Offset)
	case "relative":
		return kgo.NewOffset().AtEnd().Relative(f.Offset)
	case "time":
		return kgo.NewOffset().AfterMilli(f.Time.UnixMilli())
	}
	return kgo.NewOffset().AtStart()
}

// ConsumeOptions tune Consume.
type ConsumeOptions struct {
	Topic      string
	Partitions []int32 // empty: all; not with Group
	From       From
	// Group consumes as a member of this consumer group: its committed
	// offsets win over From, and what is handed to fn is committed.
	Group string
	Count int  // stop after this many records (0: no limit)
	ToEnd bool // stop at the end of every partition as it was at the start
	// Progress, if set, is called after each batch with the number read.
	Progress func(n int)
}

// consumeIdle is the silence after which ToEnd asks the cluster whether
// the partitions still pending have ended (logend); tests raise it to see
// that a partition ends by its records alone.
var consumeIdle = logend.DefaultIdle

// Consume reads records and hands each to fn until Count, ToEnd or ctx
// ends it. It returns the number of records handed to fn.
func (c *Client) Consume(ctx context.Context, o ConsumeOptions, fn func(*kgo.Record) error) (int, error) {
	if o.Group != "" && len(o.Partitions) > 0 {
		return 0, errors.New("--partition and --group cannot be combined: a group member is assigned partitions by the group")
	}
	sels := []TopicSelection{{Topic: o.Topic, Partitions: o.Partitions}}
	tps, err := c.resolveSelections(ctx, sels)
	if err != nil {
		return 0, err
	}
	start, end, err := c.bounds(ctx, []string{o.Topic})
	if err != nil {
		return 0, err
	}
	// Where each partition starts, so ToEnd knows when it is done and an
	// out-of-range --from offset is refused rather than silently reset.
	begin := map[int32]int64{}
	var byTime map[TopicPartition]int64
	if o.From.Kind == "time" {
		snap := GroupSnapshot{}
		for _, tp := range tps {
			snap.Partitions = append(snap.Partitions, Partition{Topic: tp.Topic, Partition: tp.Partition})
		}
		if byTime, err = c.ResolveTimes(ctx, snap, o.From.Time); err != nil {
			return 0, err
		}
	}
	var committed map[int32]int64
	if o.Group != "" {
		committed = map[int32]int64{}
		fetched, err := c.adm.FetchOffsetsForTopics(ctx, o.Group, o.Topic)
		if err == nil {
			for p, r := range fetched[o.Topic] {
				if r.Err == nil && r.At >= 0 {
					committed[p] = r.At
				}
			}
		}
	}
	lastEnd := map[int32]int64{}
	for _, tp := range tps {
		s, err := listed(start, tp)
		if err != nil {
			return 0, err
		}
		e, err := listed(end, tp)
		if err != nil {
			return 0, err
		}
		lastEnd[tp.Partition] = e
		b := s
		switch o.From.Kind {
		case "newest":
			b = e
		case "offset":
			if o.Group == "" && (o.From.Offset < s || o.From.Offset > e) {
				return 0, fmt.Errorf("%w: --from %d is outside %s [%d, %d]; pick an offset in that range (and --partition)", ErrOutOfRange, o.From.Offset, tp, s, e)
			}
			b = min(max(o.From.Offset, s), e)
		case "time":
			if v := byTime[tp]; v >= 0 {
				b = v
			} else {
				b = e
			}
		}
		if cm, ok := committed[tp.Partition]; ok && cm >= s && cm <= e {
			b = cm
		}
		begin[tp.Partition] = b
	}

	var opts []kgo.Opt
	var assigned atomic.Bool // a group member fetches only once assigned
	if o.Group != "" {
		opts = append(opts,
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { assigned.Store(true) }),
			kgo.ConsumerGroup(o.Group),
			kgo.ConsumeTopics(o.Topic),
			kgo.ConsumeResetOffset(o.From.offset()),
			kgo.AutoCommitMarks(),
		)
	} else {
		parts := map[int32]kgo.Offset{}
		for _, tp := range tps {
			parts[tp.Partition] = o.From.offset()
			if o.From.Kind == "offset" {
				parts[tp.Partition] = kgo.NewOffset().At(begin[tp.Partition])
			}
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: parts}))
	}
	// Control records are kept: a transaction's marker at a partition's
	// end is the only record at its last offset, and ToEnd waits for it
	// (logend). They are not handed to fn.
	opts = append(opts, kgo.FetchMaxWait(500*time.Millisecond), kgo.KeepControlRecords())
	cl, err := c.newKgo(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()

	ends := logend.New()
	ends.Idle = consumeIdle
	for p, b := range begin {
		ends.Add(o.Topic, p, b, lastEnd[p])
	}
	n := 0
	finished := func() bool {
		return (o.Count > 0 && n >= o.Count) || (o.ToEnd && ends.Left() == 0)
	}
	var runErr error
	for !finished() {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if o.ToEnd {
			// Wake at least once a second to see whether a silent
			// partition has ended.
			pctx, cancel = context.WithTimeout(ctx, time.Second)
		}
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(_ string, p int32, err error) {
			// A retriable error (a coordinator still loading on a
			// fresh cluster) is retried by kgo, which reports it too.
			if err == context.DeadlineExceeded || err == context.Canceled || kerr.IsRetriable(err) {
				return
			}
			if runErr == nil {
				runErr = fmt.Errorf("consume %s/%d: %s", o.Topic, p, oneLine(err))
			}
		})
		if runErr != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			if runErr != nil || finished() {
				return
			}
			if !r.Attrs.IsControl() {
				if err := fn(r); err != nil {
					runErr = err
					return
				}
				n++
			}
			if o.Group != "" {
				// A marker read is committed past, as a Java
				// consumer's position is: no lag of 1 is left at
				// a partition ending in one.
				cl.MarkCommitRecords(r)
			}
			ends.Seen(r.Topic, r.Partition, r.Offset)
		})
		if o.Progress != nil {
			o.Progress(n)
		}
		if runErr == nil && o.ToEnd {
			if o.Group != "" && !assigned.Load() {
				ends.Touch()
			}
			if done, err := ends.Poll(ctx, cl); err != nil {
				runErr = fmt.Errorf("consume %s", oneLine(err))
			} else if done {
				break
			}
		}
	}
	if o.Group != "" {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := cl.CommitMarkedOffsets(cctx)
		cancel()
		if err != nil && runErr == nil {
			runErr = fmt.Errorf("commit offsets for group %q: %s", o.Group, oneLine(err))
		}
	}
	return n, runErr
}

// RecordJSON is a record as `rewind consume --output json` prints it.
type RecordJSON struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Key       *string           `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers"`
}

// ToJSON converts a record for JSON output.
func ToJSON(r *kgo.Record) RecordJSON {
	j := RecordJSON{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(), Value: string(r.Value), Headers: map[string]string{}}
	if r.Key != nil {
		k := string(r.Key)
		j.Key = &k
	}
	for _, h := range r.Headers {
		j.Headers[h.Key] = string(h.Value)
	}
	return j
}
