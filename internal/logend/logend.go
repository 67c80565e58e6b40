// Package logend decides when a reader has read a set of partitions to
// the end offsets it was given, for readers that must stop there (a
// migration's copy and verification, `rewind consume --to-end`).
//
// Counting returned records is not enough: a partition's last offsets may
// hold no record a client is handed. A transaction's commit or abort
// marker at the log end is a control record (kgo drops it unless
// KeepControlRecords), read_committed skips an aborted transaction's
// records, and compaction can remove a tombstone at the end of a cleaned
// segment. So readers keep control records and report every record they
// see with Seen (control records included), and after each poll call Poll:
// after a silence of Idle with partitions still pending, the cluster is
// asked for their end offsets. One that answers and still reaches every
// pending end is given one more silence (it may have only just come back)
// and then counts as read to the end; one that does not answer within a
// second is waited for; a partition that now ends before its end offset
// was truncated or created again, and is an error.
package logend

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultIdle is the silence after which the cluster is asked whether the
// pending partitions have ended.
const DefaultIdle = 5 * time.Second

// Tracker follows the partitions still to be read to their end. It is not
// safe for concurrent use.
type Tracker struct {
	// Idle is the silence before the cluster is asked; zero means
	// DefaultIdle.
	Idle time.Duration

	pending        map[string]map[int32]int64
	n              int
	last, answered time.Time
}

// New returns a tracker with no partition pending.
func New() *Tracker {
	return &Tracker{pending: map[string]map[int32]int64{}, last: time.Now()}
}

// Add makes topic/part pending until a record at end-1 or later is seen.
// A partition whose reading starts at or past end is not added.
func (t *Tracker) Add(topic string, part int32, from, end int64) {
	if from >= end {
		return
	}
	if t.pending[topic] == nil {
		t.pending[topic] = map[int32]int64{}
	}
	if _, ok := t.pending[topic][part]; !ok {
		t.n++
	}
	t.pending[topic][part] = end
}

// End is the end offset of a pending partition.
func (t *Tracker) End(topic string, part int32) (int64, bool) {
	e, ok := t.pending[topic][part]
	return e, ok
}

// Left is the number of partitions not yet read to their end.
func (t *Tracker) Left() int { return t.n }

// Touch restarts the silence, for a reader that has not started to fetch
// yet (a group member waiting for its assignment).
func (t *Tracker) Touch() { t.last, t.answered = time.Now(), time.Time{} }

// Seen records that a record (control records included) at offset was
// read from topic/part; the partition is done once offset reaches its
// end-1.
func (t *Tracker) Seen(topic string, part int32, offset int64) {
	e, ok := t.pending[topic][part]
	if !ok {
		return
	}
	t.last, t.answered = time.Now(), time.Time{}
	if offset+1 >= e {
		delete(t.pending[topic], part)
		t.n--
	}
}

// Poll is called after every poll of cl. It returns true once the pending
// partitions count as read to their end after a silence (see the package
// doc), or an error for a partition that ends before its end offset.
func (t *Tracker) Poll(ctx context.Context, cl *kgo.Client) (bool, error) {
	if t.n == 0 {
		return true, nil
	}
	idle := t.Idle
	if idle <= 0 {
		idle = DefaultIdle
	}
	if time.Since(t.last) <= idle {
		return false, nil
	}
	done, err := t.ended(ctx, cl)
	switch {
	case err != nil:
		return false, err
	case !done:
		// Not answering: wait for it as long as ctx allows.
		t.last, t.answered = time.Now(), time.Time{}
	case t.answered.IsZero():
		// Answering now, maybe only just back: give its fetches
		// another window before taking the end.
		t.last, t.answered = time.Now(), time.Now()
	default:
		return true, nil
	}
	return false, nil
}

// ended asks the cluster whether the pending partitions still reach their
// ends. A cluster that does not answer within a second is not done.
func (t *Tracker) ended(ctx context.Context, cl *kgo.Client) (bool, error) {
	var topics []string
	for tp, ps := range t.pending {
		if len(ps) > 0 {
			topics = append(topics, tp)
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
	for tp, ps := range t.pending {
		for p, end := range ps {
			e, ok := ends.Lookup(tp, p)
			if !ok {
				return false, nil
			}
			if e.Offset < end {
				return false, fmt.Errorf("read %s/%d: it ends at %d now, before %d", tp, p, e.Offset, end)
			}
		}
	}
	return true, nil
}
