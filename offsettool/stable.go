package offsettool

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A read_committed consumer (librdkafka's default, Kafka Streams, every
// exactly-once application) reads only up to a partition's last stable
// offset (LSO): the first offset of the oldest transaction still open
// there, or the high watermark when none is. And no consumer ever
// receives control records (the commit and abort markers that end a
// transaction, one offset each) nor, read_committed, aborted records. So
// "log end minus committed" can stay above zero for a consumer that has
// read everything it will ever get: the facts below say why.

// OpenTxn is a transaction open on a partition (DescribeProducers), with
// what its coordinator says of it.
type OpenTxn struct {
	ProducerID    int64 `json:"producer_id"`
	ProducerEpoch int16 `json:"producer_epoch"`
	// StartOffset is the transaction's first offset on the partition.
	StartOffset int64 `json:"start_offset"`
	// LastWrite is when the producer last wrote to the partition.
	LastWrite time.Time `json:"last_write"`
	// TransactionalID, State, Started and TimeoutMillis are the
	// coordinator's, when one has the producer id; empty otherwise.
	TransactionalID string    `json:"transactional_id,omitempty"`
	State           string    `json:"state,omitempty"`
	Started         time.Time `json:"started,omitzero"`
	TimeoutMillis   int32     `json:"timeout_ms,omitempty"`
	// Hanging: no coordinator holds this transaction on this partition,
	// so none will ever end it (`rewind transactions abort`).
	Hanging bool `json:"hanging"`
}

// UnreadableTail says that the offsets [From, To) hold no record any
// consumer of the group will receive: only markers and aborted records.
type UnreadableTail struct {
	From    int64 `json:"from"`
	To      int64 `json:"to"`
	Markers int64 `json:"markers"` // control records (commit and abort markers)
	Aborted int64 `json:"aborted"` // records of aborted transactions
}

// tailScanMax bounds the offsets scanned for an unreadable tail: markers
// after a consumer's last record are a few offsets, not thousands.
const tailScanMax = 1000

// stableOffsets lists the last stable offset of every partition of topics
// (ListOffsets with isolation level read_committed).
func (c *Client) stableOffsets(ctx context.Context, topics []string) (map[TopicPartition]int64, error) {
	out := map[TopicPartition]int64{}
	if len(topics) == 0 {
		return out, nil
	}
	l, err := c.adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list last stable offsets: %s", oneLine(err))
	}
	for t, ps := range l {
		for p, o := range ps {
			if o.Err == nil {
				out[TopicPartition{t, p}] = o.Offset
			}
		}
	}
	return out, nil
}

// addTxnFacts fills OpenTxns of every partition whose last stable offset
// is behind its log end, and Tail of every committed partition whose
// remaining offsets hold nothing a consumer receives. The facts only
// explain: what the cluster refuses to say (a broker before Kafka 3.0, a
// principal without DESCRIBE on the topics or transactional ids) is left
// out rather than failing the snapshot.
func (c *Client) addTxnFacts(ctx context.Context, s *GroupSnapshot) error {
	var behind []TopicPartition
	idx := map[TopicPartition]int{}
	for i, p := range s.Partitions {
		idx[p.TP()] = i
		if p.LastStable < p.LogEnd {
			behind = append(behind, p.TP())
		}
	}
	if len(behind) > 0 {
		open, _ := c.openTxns(ctx, behind)
		for tp, txns := range open {
			s.Partitions[idx[tp]].OpenTxns = txns
		}
	}
	scan := map[TopicPartition][2]int64{}
	for _, p := range s.Partitions {
		if p.HasCommit() && p.Committed >= p.LogStart && p.Committed < p.LogEnd && p.LastStable == p.LogEnd && p.LogEnd-p.Committed <= tailScanMax {
			scan[p.TP()] = [2]int64{p.Committed, p.LogEnd}
		}
	}
	tails, _ := c.unreadableTails(ctx, scan)
	for tp, t := range tails {
		s.Partitions[idx[tp]].Tail = &t
	}
	return nil
}

// openTxns describes the open transactions of the partitions, oldest
// first, with their coordinator's view.
func (c *Client) openTxns(ctx context.Context, tps []TopicPartition) (map[TopicPartition][]OpenTxn, error) {
	ps, err := c.DescribeProducers(ctx, tps)
	if err != nil {
		return nil, err
	}
	out := map[TopicPartition][]OpenTxn{}
	pids := map[int64]bool{}
	var ids []int64
	for _, p := range ps {
		if !p.Open() {
			continue
		}
		out[p.TP()] = append(out[p.TP()], OpenTxn{ProducerID: p.ProducerID, ProducerEpoch: p.ProducerEpoch,
			StartOffset: p.TxnStartOffset, LastWrite: p.LastTimestamp, Hanging: true})
		if !pids[p.ProducerID] {
			pids[p.ProducerID] = true
			ids = append(ids, p.ProducerID)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	// Who holds each producer id: without ListTransactions (Kafka before
	// 3.0, or no DESCRIBE on the ids) the producers are named without
	// their transactional id, and none is called hanging.
	unknown := func() map[TopicPartition][]OpenTxn {
		for _, txns := range out {
			for i := range txns {
				txns[i].Hanging = false
			}
		}
		return out
	}
	listed, err := c.ListTransactions(ctx, TxnListOptions{ProducerIDs: ids})
	if err != nil {
		return unknown(), err
	}
	var txnIDs []string
	for _, l := range listed {
		if pids[l.ProducerID] {
			txnIDs = append(txnIDs, l.TransactionalID)
		}
	}
	if len(txnIDs) == 0 {
		return out, nil
	}
	ds, err := c.adm.DescribeTransactions(ctx, txnIDs...)
	if err != nil && len(ds) == 0 {
		return unknown(), fmt.Errorf("describe transactions: %s", oneLine(err))
	}
	for tp, txns := range out {
		for i := range txns {
			o := &txns[i]
			for _, d := range ds {
				if d.Err != nil || d.ProducerID != o.ProducerID {
					continue
				}
				o.TransactionalID, o.State, o.TimeoutMillis = d.TxnID, d.State, d.TimeoutMillis
				if d.StartTimestamp >= 0 {
					o.Started = time.UnixMilli(d.StartTimestamp)
				}
				_, in := d.Topics[tp.Topic][tp.Partition]
				o.Hanging = !in
			}
		}
		sort.Slice(txns, func(i, j int) bool { return txns[i].StartOffset < txns[j].StartOffset })
	}
	return out, nil
}

// unreadableTails reads each partition's offsets [from, to) with control
// records kept (read_uncommitted, so aborted records come too) and returns
// the partitions where none of them is a record a consumer receives. A
// partition is settled at its first deliverable record (a non
// transactional one, or one its producer commits), or at its end; what is
// not settled within a few seconds is left out.
func (c *Client) unreadableTails(ctx context.Context, scan map[TopicPartition][2]int64) (map[TopicPartition]UnreadableTail, error) {
	out := map[TopicPartition]UnreadableTail{}
	if len(scan) == 0 {
		return out, nil
	}
	parts := map[string]map[int32]kgo.Offset{}
	type state struct {
		tail    UnreadableTail
		pending map[int64]int64 // producer id -> its transactional records not yet ended
		done    bool
	}
	st := map[TopicPartition]*state{}
	for tp, r := range scan {
		if parts[tp.Topic] == nil {
			parts[tp.Topic] = map[int32]kgo.Offset{}
		}
		parts[tp.Topic][tp.Partition] = kgo.NewOffset().At(r[0])
		st[tp] = &state{tail: UnreadableTail{From: r[0], To: r[1]}, pending: map[int64]int64{}}
	}
	cl, err := c.newKgo(kgo.ConsumePartitions(parts), kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond), kgo.FetchMaxPartitionBytes(256<<10))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	left := len(st)
	for left > 0 && sctx.Err() == nil {
		fs := cl.PollFetches(sctx)
		fs.EachRecord(func(r *kgo.Record) {
			s := st[TopicPartition{r.Topic, r.Partition}]
			if s == nil || s.done {
				return
			}
			if r.Offset >= s.tail.To {
				s.done = true
				left--
				return
			}
			switch {
			case r.Attrs.IsControl():
				s.tail.Markers++
				var k kmsg.ControlRecordKey
				if k.ReadFrom(r.Key) == nil && k.Type == 0 { // ABORT
					s.tail.Aborted += s.pending[r.ProducerID]
					delete(s.pending, r.ProducerID)
				} else if s.pending[r.ProducerID] > 0 { // COMMIT: its records are read
					s.done, left = true, left-1
					s.pending = nil
					return
				}
			case r.Attrs.IsTransactional():
				s.pending[r.ProducerID]++
			default:
				s.done, left = true, left-1
				s.pending = nil
				return
			}
			if r.Offset+1 >= s.tail.To {
				s.done, left = true, left-1
				if len(s.pending) == 0 {
					out[TopicPartition{r.Topic, r.Partition}] = s.tail
				}
			}
		})
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !kerr.IsRetriable(err) {
				ferr = fmt.Errorf("reading %s/%d: %s", t, p, oneLine(err))
			}
		})
		if ferr != nil {
			return nil, ferr
		}
	}
	return out, nil
}
