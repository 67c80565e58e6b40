package offsettool

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// DefaultMaxTxnTimeout is find-hanging's default --max-transaction-timeout,
// kafka-transactions.sh's 15 minutes (Kafka's transaction.max.timeout.ms
// default): a transaction open longer than the longest timeout a
// coordinator allows should have been aborted by it.
const DefaultMaxTxnTimeout = 15 * time.Minute

// HangingOptions scope FindHanging.
type HangingOptions struct {
	// Topics limits the search; empty with BrokerID -1 is refused, as
	// kafka-transactions.sh refuses an unscoped search.
	Topics []TopicSelection
	// BrokerID limits the search to partitions with a replica on that
	// broker; -1 for any.
	BrokerID int32
	// MaxTimeout: only transactions whose producer last wrote longer ago
	// than this are candidates; 0 takes every open transaction (the CLI
	// defaults to DefaultMaxTxnTimeout).
	MaxTimeout time.Duration
}

// HangingTxn is a transaction open on a partition that no coordinator will
// close: the partition's last stable offset cannot move past it until it
// is aborted (`rewind transactions abort`).
type HangingTxn struct {
	ProducerState
	// DurationMillis is the time since the producer last wrote to the
	// partition (kafka-transactions.sh's Duration, in minutes there).
	DurationMillis int64 `json:"duration_ms"`
	// TransactionalID is the id that has the producer id now, if any.
	TransactionalID string `json:"transactional_id,omitempty"`
	// Why says why no coordinator will write the marker.
	Why string `json:"why"`
}

// FindHanging finds open transactions that no coordinator will complete,
// as kafka-transactions.sh find-hanging does: DescribeProducers over the
// partitions gives the open transactions whose producer last wrote more
// than MaxTimeout ago; ListTransactions filtered on their producer ids
// and DescribeTransactions say whether a coordinator still has that
// transaction with this partition in it. Those it has not are hanging.
func (c *Client) FindHanging(ctx context.Context, o HangingOptions) ([]HangingTxn, error) {
	if len(o.Topics) == 0 && o.BrokerID < 0 {
		return nil, errors.New("find-hanging needs --topic or --broker-id to limit the search, as kafka-transactions.sh does")
	}
	tps, err := c.hangingScope(ctx, o)
	if err != nil {
		return nil, err
	}
	producers, err := c.DescribeProducers(ctx, tps)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var cands []ProducerState
	pids := map[int64]bool{}
	for _, p := range producers {
		if p.Open() && now.Sub(p.LastTimestamp) > o.MaxTimeout {
			cands = append(cands, p)
			pids[p.ProducerID] = true
		}
	}
	out := []HangingTxn{}
	if len(cands) == 0 {
		return out, nil
	}
	var ids []int64
	for pid := range pids {
		ids = append(ids, pid)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	listed, err := c.ListTransactions(ctx, TxnListOptions{ProducerIDs: ids})
	if err != nil {
		return nil, err
	}
	txnOf := map[int64]string{}
	var txnIDs []string
	for _, l := range listed {
		if pids[l.ProducerID] { // a broker may ignore the filter
			txnOf[l.ProducerID] = l.TransactionalID
			txnIDs = append(txnIDs, l.TransactionalID)
		}
	}
	descs := map[string]kadm.DescribedTransaction{}
	if len(txnIDs) > 0 {
		ds, err := c.adm.DescribeTransactions(ctx, txnIDs...)
		if err != nil && len(ds) == 0 {
			return nil, fmt.Errorf("describe transactions: %s", oneLine(err))
		}
		for _, id := range txnIDs {
			d, ok := ds[id]
			switch {
			case !ok:
				return nil, fmt.Errorf("describe transaction %q: no coordinator answered for it", id)
			case errors.Is(d.Err, kerr.TransactionalIDNotFound):
				// No state: the transaction hangs (below).
			case d.Err != nil:
				return nil, fmt.Errorf("describe transaction %q: %s", id, oneLine(d.Err))
			default:
				descs[id] = d
			}
		}
	}
	for _, p := range cands {
		h := HangingTxn{ProducerState: p, DurationMillis: now.Sub(p.LastTimestamp).Milliseconds()}
		id, ok := txnOf[p.ProducerID]
		if !ok {
			h.Why = fmt.Sprintf("no transactional id uses producer id %d: no coordinator will write its marker", p.ProducerID)
			out = append(out, h)
			continue
		}
		h.TransactionalID = id
		d, ok := descs[id]
		if !ok {
			h.Why = fmt.Sprintf("transactional id %q has no coordinator state: no coordinator will write its marker", id)
			out = append(out, h)
			continue
		}
		// DescribeTransactions lists the partitions of an ongoing
		// transaction and, while preparing, those still waiting for their
		// marker: the coordinator will close those itself.
		if _, in := d.Topics[p.Topic][p.Partition]; !in {
			h.Why = fmt.Sprintf("transactional id %q (producer id %d, epoch %d) is %s and its transaction does not include %s: its coordinator will not write a marker there", id, d.ProducerID, d.ProducerEpoch, d.State, p.TP())
			out = append(out, h)
		}
	}
	return out, nil
}

// hangingScope lists the partitions FindHanging searches.
func (c *Client) hangingScope(ctx context.Context, o HangingOptions) ([]TopicPartition, error) {
	if len(o.Topics) > 0 && o.BrokerID < 0 {
		return c.resolveSelections(ctx, o.Topics)
	}
	var names []string
	for _, s := range o.Topics {
		names = append(names, s.Topic)
	}
	tds, err := c.adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("metadata: %s", oneLine(err))
	}
	want := map[TopicPartition]bool{}
	if len(o.Topics) > 0 {
		sel, err := c.resolveSelections(ctx, o.Topics)
		if err != nil {
			return nil, err
		}
		for _, tp := range sel {
			want[tp] = true
		}
	}
	var out []TopicPartition
	for _, td := range tds {
		if td.Err != nil {
			continue
		}
		for _, pd := range td.Partitions {
			tp := TopicPartition{td.Topic, pd.Partition}
			if len(want) > 0 && !want[tp] {
				continue
			}
			if containsInt32(pd.Replicas, o.BrokerID) {
				out = append(out, tp)
			}
		}
	}
	sortTPs(out)
	return out, nil
}

// AbortSpec names the transaction `rewind transactions abort` aborts on
// one partition: by the offset it starts at (DescribeProducers finds its
// producer), or by its producer id, epoch and coordinator epoch.
type AbortSpec struct {
	TopicPartition
	// StartOffset is the first offset of the open transaction; -1 to
	// name it by producer instead.
	StartOffset      int64
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
}

// Aborted is the result of an abort.
type Aborted struct {
	TopicPartition
	ProducerID       int64 `json:"producer_id"`
	ProducerEpoch    int16 `json:"producer_epoch"`
	CoordinatorEpoch int32 `json:"coordinator_epoch"`
	// StartOffset is where the aborted transaction began, -1 if unknown
	// (aborted by producer id).
	StartOffset int64 `json:"start_offset"`
}

// AbortTransaction writes an abort marker for the producer's open
// transaction on the partition (WriteTxnMarkers, as Kafka's
// Admin.abortTransaction and kafka-transactions.sh abort do). The
// partition's last stable offset then moves past it and read_committed
// consumers go on; the records of the transaction are never returned to
// them.
func (c *Client) AbortTransaction(ctx context.Context, s AbortSpec) (Aborted, error) {
	if err := c.requireAPI(ctx, keyWriteTxnMarkers, 0, "writing an abort marker"); err != nil {
		return Aborted{}, err
	}
	if _, err := c.resolveSelections(ctx, []TopicSelection{{Topic: s.Topic, Partitions: []int32{s.Partition}}}); err != nil {
		return Aborted{}, err
	}
	a := Aborted{TopicPartition: s.TopicPartition, ProducerID: s.ProducerID, ProducerEpoch: s.ProducerEpoch,
		CoordinatorEpoch: s.CoordinatorEpoch, StartOffset: -1}
	if s.StartOffset >= 0 {
		ps, err := c.DescribeProducers(ctx, []TopicPartition{s.TopicPartition})
		if err != nil {
			return Aborted{}, fmt.Errorf("validating the producer state of %s: %w", s.TopicPartition, err)
		}
		var open []string
		found := false
		for _, p := range ps {
			if !p.Open() {
				continue
			}
			open = append(open, fmt.Sprint(p.TxnStartOffset))
			if p.TxnStartOffset == s.StartOffset && !found {
				found = true
				a.ProducerID, a.ProducerEpoch, a.CoordinatorEpoch = p.ProducerID, p.ProducerEpoch, p.CoordinatorEpoch
			}
		}
		if !found {
			hint := "it has no open transaction"
			if len(open) > 0 {
				hint = "its open transactions start at offset(s) " + strings.Join(open, ", ")
			}
			return Aborted{}, fmt.Errorf("%w starts at offset %d on %s: %s (see `rewind transactions find-hanging --topic %s`)", ErrNoOpenTransaction, s.StartOffset, s.TopicPartition, hint, s.Topic)
		}
		a.StartOffset = s.StartOffset
	}
	// A producer whose transaction hung before its first marker has no
	// coordinator epoch (-1 in DescribeProducers): 0 is at most any
	// coordinator epoch, as kafka-transactions.sh reasons.
	if a.CoordinatorEpoch < 0 {
		a.CoordinatorEpoch = 0
	}
	set := kadm.TopicsSet{}
	set.Add(s.Topic, s.Partition)
	rs, err := c.adm.WriteTxnMarkers(ctx, kadm.TxnMarkers{ProducerID: a.ProducerID, ProducerEpoch: a.ProducerEpoch,
		Commit: false, CoordinatorEpoch: a.CoordinatorEpoch, Topics: set})
	if err != nil {
		return Aborted{}, fmt.Errorf("abort transaction of producer %d on %s: %s", a.ProducerID, s.TopicPartition, oneLine(err))
	}
	pr, ok := rs[a.ProducerID].Topics[s.Topic].Partitions[s.Partition]
	if !ok {
		return Aborted{}, fmt.Errorf("abort transaction of producer %d on %s: the broker's answer does not name the partition", a.ProducerID, s.TopicPartition)
	}
	switch {
	case pr.Err == nil:
		return a, nil
	case errors.Is(pr.Err, kerr.InvalidProducerEpoch):
		return Aborted{}, fmt.Errorf("abort transaction of producer %d on %s: producer epoch %d is older than the partition's (INVALID_PRODUCER_EPOCH); use --start-offset to take the current one", a.ProducerID, s.TopicPartition, a.ProducerEpoch)
	case errors.Is(pr.Err, kerr.TransactionCoordinatorFenced):
		return Aborted{}, fmt.Errorf("abort transaction of producer %d on %s: coordinator epoch %d is older than the one that last wrote a marker there (TRANSACTION_COORDINATOR_FENCED); use --start-offset to take the current one", a.ProducerID, s.TopicPartition, a.CoordinatorEpoch)
	case errors.Is(pr.Err, kerr.ClusterAuthorizationFailed):
		return Aborted{}, fmt.Errorf("abort transaction of producer %d on %s: not authorized (CLUSTER_AUTHORIZATION_FAILED): writing markers needs ClusterAction on the cluster", a.ProducerID, s.TopicPartition)
	default:
		return Aborted{}, fmt.Errorf("abort transaction of producer %d on %s: %s", a.ProducerID, s.TopicPartition, oneLine(pr.Err))
	}
}
