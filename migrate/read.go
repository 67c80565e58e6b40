package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// span is the offsets [from, to) of one partition to read.
type span struct{ from, to int64 }

// idleEnd is how long fetches may return nothing for every partition still
// being read before they count as read to their end: records at the very
// end of a log can be gone (a compacted tombstone, an aborted
// transaction's last records) so that no record at to-1 will ever come.
var idleEnd = 5 * time.Second

// readSpans reads every span with read_committed, control records
// included (they say how far a partition is read), and hands each record
// below its span's end to fn in offset order per partition. It returns
// once every partition is read to its end.
func readSpans(ctx context.Context, opts []kgo.Opt, spans map[string]map[int32]span, fn func(*kgo.Record) error) error {
	parts := map[string]map[int32]kgo.Offset{}
	pending := map[string]map[int32]span{}
	n := 0
	for t, ps := range spans {
		for p, s := range ps {
			if s.from >= s.to {
				continue
			}
			if parts[t] == nil {
				parts[t], pending[t] = map[int32]kgo.Offset{}, map[int32]span{}
			}
			parts[t][p] = kgo.NewOffset().At(s.from)
			pending[t][p] = s
			n++
		}
	}
	if n == 0 {
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
	last := time.Now()
	for n > 0 {
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
		progressed := false
		var rerr error
		fs.EachRecord(func(r *kgo.Record) {
			if rerr != nil {
				return
			}
			s, ok := pending[r.Topic][r.Partition]
			if !ok {
				return
			}
			progressed = true
			if r.Offset < s.to {
				if rerr = fn(r); rerr != nil {
					return
				}
			}
			if r.Offset+1 >= s.to {
				delete(pending[r.Topic], r.Partition)
				n--
			}
		})
		if rerr != nil {
			return rerr
		}
		if progressed {
			last = time.Now()
		} else if time.Since(last) > idleEnd {
			return nil
		}
	}
	return nil
}
