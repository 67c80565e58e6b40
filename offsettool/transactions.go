package offsettool

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transaction tools follow Apache Kafka's kafka-transactions.sh
// (org.apache.kafka.tools.TransactionsCommand): list, describe,
// find-hanging and abort, over the same requests (ListTransactions,
// DescribeTransactions, DescribeProducers, WriteTxnMarkers), so they work
// against any Kafka 3.0+ cluster as well as Rewind.

// Errors of the transaction tools, for errors.Is.
var (
	ErrUnknownTransaction = errors.New("unknown transactional id")
	ErrNoOpenTransaction  = errors.New("no open transaction")
	ErrUnsupported        = errors.New("the cluster does not serve this request")
)

// TxnStates are the transaction states Kafka names (TransactionState in
// Kafka's transaction coordinator), the values ListTransactions filters on.
var TxnStates = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "PrepareEpochFence", "Dead"}

// API keys the transaction tools need, with the first version that has
// the fields they use.
const (
	keyInitProducerID       = 22
	keyAddOffsetsToTxn      = 25
	keyEndTxn               = 26
	keyWriteTxnMarkers      = 27
	keyTxnOffsetCommit      = 28
	keyDescribeProducers    = 61
	keyDescribeTransactions = 65
	keyListTransactions     = 66
)

// requireAPI fails with ErrUnsupported, naming the request, when a broker
// does not serve key at version min or above. kgo would otherwise fail
// with "broker is too old" or, worse for a filter field, silently send an
// older version without it (an unfiltered listing).
func (c *Client) requireAPI(ctx context.Context, key, min int16, what string) error {
	vs, err := c.adm.ApiVersions(ctx)
	if err != nil {
		return fmt.Errorf("api versions: %s", oneLine(err))
	}
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			return fmt.Errorf("api versions of broker %d: %s", v.NodeID, oneLine(v.Err))
		}
		max, ok := v.KeyMaxVersion(key)
		name := kmsg.NameForKey(key)
		switch {
		case !ok:
			return fmt.Errorf("%w: broker %d does not serve %s (%s); transactions need Apache Kafka 3.0 or later, or a Rewind that serves them", ErrUnsupported, v.NodeID, name, what)
		case max < min:
			return fmt.Errorf("%w: broker %d serves %s up to v%d, %s needs v%d", ErrUnsupported, v.NodeID, name, max, what, min)
		}
	}
	return nil
}

// ListedTxn is one row of `rewind transactions list`.
type ListedTxn struct {
	TransactionalID string `json:"transactional_id"`
	Coordinator     int32  `json:"coordinator"`
	ProducerID      int64  `json:"producer_id"`
	State           string `json:"state"`
}

// TxnListOptions filter ListTransactions as the request does.
type TxnListOptions struct {
	// States keeps transactions in one of these states (Kafka's names,
	// see TxnStates); none keeps all.
	States []string
	// ProducerIDs keeps transactions of these producer ids.
	ProducerIDs []int64
	// MinDuration, when positive, keeps transactions running longer than
	// this (ListTransactions v1, Kafka 3.8+).
	MinDuration time.Duration
	// Pattern, when set, keeps transactional ids matching this RE2
	// regular expression (ListTransactions v2, Kafka 4.1+).
	Pattern string
}

// TxnOpen reports whether a transaction in state is still open: records
// or markers of it may be pending on its partitions.
func TxnOpen(state string) bool {
	switch state {
	case "Ongoing", "PrepareCommit", "PrepareAbort", "PrepareEpochFence":
		return true
	}
	return false
}

// CanonicalTxnState returns Kafka's spelling of a state given in any case,
// or an error listing the valid ones.
func CanonicalTxnState(s string) (string, error) {
	for _, st := range TxnStates {
		if strings.EqualFold(s, st) {
			return st, nil
		}
	}
	return "", fmt.Errorf("transaction state %q: use one of %s", s, strings.Join(TxnStates, ", "))
}

// ListTransactions lists the transactional ids every coordinator knows,
// sorted by id.
func (c *Client) ListTransactions(ctx context.Context, o TxnListOptions) ([]ListedTxn, error) {
	req := kmsg.NewPtrListTransactionsRequest()
	req.ProducerIDFilters = o.ProducerIDs
	min := int16(0)
	for _, s := range o.States {
		st, err := CanonicalTxnState(s)
		if err != nil {
			return nil, err
		}
		req.StateFilters = append(req.StateFilters, st)
	}
	if o.MinDuration > 0 {
		req.DurationFilterMillis = o.MinDuration.Milliseconds()
		min = 1
	}
	if o.Pattern != "" {
		if _, err := regexp.Compile(o.Pattern); err != nil {
			return nil, fmt.Errorf("transactional id pattern %q: %v", o.Pattern, err)
		}
		req.TransactionalIDPattern = &o.Pattern
		min = 2
	}
	what := "listing transactions"
	switch min {
	case 1:
		what = "the duration filter"
	case 2:
		what = "the transactional id pattern"
	}
	if err := c.requireAPI(ctx, keyListTransactions, min, what); err != nil {
		return nil, err
	}
	out := []ListedTxn{}
	for _, shard := range c.kcl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return nil, fmt.Errorf("list transactions on broker %d: %s", shard.Meta.NodeID, oneLine(shard.Err))
		}
		resp := shard.Resp.(*kmsg.ListTransactionsResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, fmt.Errorf("list transactions on broker %d: %s", shard.Meta.NodeID, oneLine(err))
		}
		for _, t := range resp.TransactionStates {
			out = append(out, ListedTxn{TransactionalID: t.TransactionalID, Coordinator: shard.Meta.NodeID,
				ProducerID: t.ProducerID, State: t.TransactionState})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out, nil
}

// TxnDescription is `rewind transactions describe`: the coordinator's
// state of one transactional id.
type TxnDescription struct {
	TransactionalID string `json:"transactional_id"`
	Coordinator     int32  `json:"coordinator"`
	ProducerID      int64  `json:"producer_id"`
	ProducerEpoch   int16  `json:"producer_epoch"`
	State           string `json:"state"`
	TimeoutMillis   int32  `json:"timeout_ms"`
	// Started is when the current transaction began, or once complete
	// the last one; nil when the coordinator has none (Kafka answers -1,
	// kafka-transactions.sh prints None).
	Started *time.Time `json:"started"`
	// DurationMillis is how long the transaction has been open, at the
	// time of the answer; nil unless it is open (Ongoing, Prepare*).
	DurationMillis *int64 `json:"duration_ms"`
	// Partitions are the partitions of the transaction (for PrepareCommit
	// and PrepareAbort, those whose markers are not written yet).
	Partitions []TopicPartition `json:"partitions"`
}

// DescribeTransactions describes transactional ids in the order given.
// An id no coordinator knows fails with ErrUnknownTransaction.
func (c *Client) DescribeTransactions(ctx context.Context, ids ...string) ([]TxnDescription, error) {
	if len(ids) == 0 {
		return nil, errors.New("name a transactional id to describe; list them with `rewind transactions list`")
	}
	if err := c.requireAPI(ctx, keyDescribeTransactions, 0, "describing transactions"); err != nil {
		return nil, err
	}
	ds, err := c.adm.DescribeTransactions(ctx, ids...)
	if err != nil && len(ds) == 0 {
		return nil, fmt.Errorf("describe transactions: %s", oneLine(err))
	}
	now := time.Now()
	out := make([]TxnDescription, 0, len(ids))
	for _, id := range ids {
		d, ok := ds[id]
		if !ok {
			if err != nil {
				return nil, fmt.Errorf("describe transaction %q: %s", id, oneLine(err))
			}
			return nil, fmt.Errorf("describe transaction %q: no coordinator answered for it", id)
		}
		switch {
		case errors.Is(d.Err, kerr.TransactionalIDNotFound):
			return nil, fmt.Errorf("%w %q: no coordinator has state for it (never used, or expired after transactional.id.expiration.ms); list them with `rewind transactions list`", ErrUnknownTransaction, id)
		case d.Err != nil:
			return nil, fmt.Errorf("describe transaction %q: %s", id, oneLine(d.Err))
		}
		td := TxnDescription{TransactionalID: id, Coordinator: d.Coordinator, ProducerID: d.ProducerID,
			ProducerEpoch: d.ProducerEpoch, State: d.State, TimeoutMillis: d.TimeoutMillis, Partitions: []TopicPartition{}}
		if d.StartTimestamp >= 0 {
			st := time.UnixMilli(d.StartTimestamp)
			td.Started = &st
			if TxnOpen(d.State) {
				dur := now.Sub(st).Milliseconds()
				td.DurationMillis = &dur
			}
		}
		for t, ps := range d.Topics {
			for p := range ps {
				td.Partitions = append(td.Partitions, TopicPartition{t, p})
			}
		}
		sortTPs(td.Partitions)
		out = append(out, td)
	}
	return out, nil
}

// ProducerState is one active producer of a partition, as DescribeProducers
// reports it (kafka-transactions.sh describe-producers).
type ProducerState struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	ProducerID    int64  `json:"producer_id"`
	ProducerEpoch int16  `json:"producer_epoch"`
	// CoordinatorEpoch is the epoch of the coordinator that wrote the
	// producer's last marker here, -1 if none has.
	CoordinatorEpoch int32     `json:"coordinator_epoch"`
	LastSequence     int32     `json:"last_sequence"`
	LastTimestamp    time.Time `json:"last_timestamp"`
	// TxnStartOffset is the first offset of the producer's open
	// transaction on the partition, -1 when none is open.
	TxnStartOffset int64 `json:"txn_start_offset"`
}

// Open reports whether the producer has a transaction open on the
// partition.
func (p ProducerState) Open() bool { return p.TxnStartOffset >= 0 }

// TP names the producer's partition.
func (p ProducerState) TP() TopicPartition { return TopicPartition{p.Topic, p.Partition} }

// describeProducersBatch bounds one DescribeProducers request, as
// kafka-transactions.sh does (MAX_BATCH_SIZE 500).
const describeProducersBatch = 500

// DescribeProducers lists the active producers of each partition, sorted
// by partition then producer id.
func (c *Client) DescribeProducers(ctx context.Context, tps []TopicPartition) ([]ProducerState, error) {
	if err := c.requireAPI(ctx, keyDescribeProducers, 0, "describing producers"); err != nil {
		return nil, err
	}
	var out []ProducerState
	for len(tps) > 0 {
		n := min(len(tps), describeProducersBatch)
		batch := tps[:n]
		tps = tps[n:]
		set := kadm.TopicsSet{}
		for _, tp := range batch {
			set.Add(tp.Topic, tp.Partition)
		}
		ds, err := c.adm.DescribeProducers(ctx, set)
		if err != nil {
			return nil, fmt.Errorf("describe producers: %s", oneLine(err))
		}
		for _, tp := range batch {
			dp, ok := ds[tp.Topic].Partitions[tp.Partition]
			if !ok {
				return nil, fmt.Errorf("describe producers of %s: no broker answered for it", tp)
			}
			if dp.Err != nil {
				return nil, fmt.Errorf("describe producers of %s: %s", tp, oneLine(dp.Err))
			}
			for _, p := range dp.ActiveProducers.Sorted() {
				out = append(out, ProducerState{Topic: tp.Topic, Partition: tp.Partition, ProducerID: p.ProducerID,
					ProducerEpoch: p.ProducerEpoch, CoordinatorEpoch: p.CoordinatorEpoch, LastSequence: p.LastSequence,
					LastTimestamp: time.UnixMilli(p.LastTimestamp), TxnStartOffset: p.CurrentTxnStartOffset})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.ProducerID < b.ProducerID
	})
	if out == nil {
		out = []ProducerState{}
	}
	return out, nil
}

// ResolvePartitions expands topic selections into their partitions,
// failing with ErrUnknownTopic for a topic or partition that does not
// exist.
func (c *Client) ResolvePartitions(ctx context.Context, sels []TopicSelection) ([]TopicPartition, error) {
	return c.resolveSelections(ctx, sels)
}
