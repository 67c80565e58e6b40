package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/rewindhq/rewind/internal/logend"
	"github.com/twmb/franz-go/pkg/kgo"
)

// span is the offsets [from, to) of one partition to read.
type span struct{ from, to int64 }

// readSpans reads every span with read_committed, control records
// included (they say how far a partition is read), and hands each record
// below its span's end to fn in offset order per partition. It returns
// once every partition is read to its end: records at the very end of a
// log can be gone (a compacted tombstone, an aborted transaction's last
// records) so that no record at to-1 will ever come, and logend decides
// that end after a silence by asking the cluster, never from silence
// alone (a cluster restarting or unreachable is waited for).
func readSpans(ctx context.Context, opts []kgo.Opt, spans map[string]map[int32]span, fn func(*kgo.Record) error) error {
	parts := map[string]map[int32]kgo.Offset{}
	ends := logend.New()
	for t, ps := range spans {
		for p, s := range ps {
			if s.from >= s.to {
				continue
			}
			if parts[t] == nil {
				parts[t] = map[int32]kgo.Offset{}
			}
			parts[t][p] = kgo.NewOffset().At(s.from)
			ends.Add(t, p, s.from, s.to)
		}
	}
	if ends.Left() == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumePartitions(parts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500*time.Millisecond),
		// A partition whose start moved past the span (retention) is
		// read from its new start; the gap shows in the verification.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ends.Left() > 0 {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if err == context.DeadlineExceeded || err == context.Canceled {
				return
			}
			if ferr == nil {
				ferr = fmt.Errorf("read %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var rerr error
		fs.EachRecord(func(r *kgo.Record) {
			if rerr != nil {
				return
			}
			end, ok := ends.End(r.Topic, r.Partition)
			if !ok {
				return
			}
			if r.Offset < end {
				rerr = fn(r)
			}
			ends.Seen(r.Topic, r.Partition, r.Offset)
		})
		if rerr != nil {
			return rerr
		}
		if done, err := ends.Poll(ctx, cl); err != nil || done {
			return err
		}
	}
	return nil
}
