package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// span is the offsets [from, to) of one partition to read.
type span struct{ from, to int64 }

// idleEnd is how long fetches may return nothing for every partition still
// being read before they count as read to their end: records at the very
// end of a log can be gone (a compacted tombstone, an aborted
// transaction's last records) so that no record at to-1 will ever come.
// Silence alone does not say that, so the cluster is asked first (see
// idleDone): one that does not answer (restarting, unreachable) or whose
// partitions end before the spans do is waited for or reported, never taken
// as the end of the copy.
var idleEnd = 5 * time.Second

// idleDone says whether the pending partitions count as read to their end
// after a silence: the cluster answers ListOffsets for them and each still
// reaches its span's end. A cluster that does not answer within a second is
// not done (the caller waits on); a partition that ends before its span is
// an error (it was truncated, or deleted and created again).
func idleDone(ctx context.Context, cl *kgo.Client, pending map[string]map[int32]span) (bool, error) {
	var topics []string
	for t, ps := range pending {
		if len(ps) > 0 {
			topics = append(topics, t)
		}
	}
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(lctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, nil
	}
	for t, ps := range pending {
		for p, s := range ps {
			e, ok := ends.Lookup(t, p)
			if !ok {
				return false, nil
			}
			if e.Offset < s.to {
				return false, fmt.Errorf("read %s/%d: it ends at %d now, before %d", t, p, e.Offset, s.to)
			}
		}
	}
	return true, nil
}

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
	var answered time.Time // when the cluster first answered in a silence
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
		switch {
		case progressed:
			last, answered = time.Now(), time.Time{}
		case time.Since(last) > idleEnd:
			done, err := idleDone(ctx, cl, pending)
			if err != nil {
				return err
			}
			switch {
			case !done:
				// Not answering: wait for it as long as ctx allows.
				last, answered = time.Now(), time.Time{}
			case answered.IsZero():
				// Answering now, maybe only just back: give its
				// fetches another window before taking the end.
				last, answered = time.Now(), time.Now()
			default:
				return nil
			}
		}
	}
	return nil
}
