package broker

import (
	"cmp"
	"slices"
	"time"

	"github.com/rewindhq/rewind/txn"
)

// OpenTxn is an open transaction as the console shows it: on one
// partition, from the partition's producer state (what DescribeProducers
// answers), with what the transaction coordinator and the group
// coordinator hold for its producer.
type OpenTxn struct {
	// Topic and Partition are where it is open; empty for a transaction
	// that holds group offsets and has written no record yet.
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	ProducerID    int64  `json:"producer_id"`
	ProducerEpoch int16  `json:"producer_epoch"`
	// StartOffset is the transaction's first offset on the partition;
	// LastStable and HighWatermark are the partition's: read_committed
	// consumers stop at LastStable, the first offset of its oldest open
	// transaction.
	StartOffset   int64     `json:"start_offset"`
	LastStable    int64     `json:"last_stable"`
	HighWatermark int64     `json:"high_watermark"`
	LastWrite     time.Time `json:"last_write"`
	// TransactionalID and State are the transaction coordinator's for the
	// producer id; TransactionalID is empty when no transactional id has
	// it: a hanging transaction, which no coordinator will end.
	TransactionalID string `json:"transactional_id"`
	State           string `json:"state,omitempty"`
	// GroupOffsets are the offsets the transaction committed for groups
	// (TxnOffsetCommit), pending until it ends: a commit applies them, an
	// abort drops them.
	GroupOffsets []TxnGroupOffset `json:"group_offsets"`
}

// TxnGroupOffset is one group offset an open transaction holds.
type TxnGroupOffset struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// OpenTransactions lists every transaction open on a partition, by topic
// and partition, oldest first within a partition, then the transactions
// holding group offsets that are open on no partition yet.
func (b *Broker) OpenTransactions() []OpenTxn {
	out := []OpenTxn{}
	for _, t := range b.reg.all() {
		for p, l := range t.parts {
			var open []OpenTxn
			for _, ps := range l.Producers() {
				if ps.TxnStartOffset >= 0 {
					open = append(open, OpenTxn{Topic: t.meta.Name, Partition: int32(p), ProducerID: ps.ProducerID, ProducerEpoch: ps.ProducerEpoch,
						StartOffset: ps.TxnStartOffset, LastWrite: time.UnixMilli(ps.LastTimestamp)})
				}
			}
			if len(open) == 0 {
				continue
			}
			lso, hw := l.LastStableOffset(), l.HighWatermark()
			for i := range open {
				open[i].LastStable, open[i].HighWatermark = lso, hw
			}
			slices.SortFunc(open, func(a, b OpenTxn) int { return cmp.Compare(a.StartOffset, b.StartOffset) })
			out = append(out, open...)
		}
	}
	held := map[int64][]TxnGroupOffset{}
	epochs := map[int64]int16{}
	for _, g := range b.grp.Groups() {
		for _, o := range b.grp.PendingTxnOffsets(g.Name) {
			held[o.ProducerID] = append(held[o.ProducerID], TxnGroupOffset{Group: g.Name, Topic: o.Topic, Partition: o.Partition, Offset: o.Offset})
			epochs[o.ProducerID] = o.ProducerEpoch
		}
	}
	seen := map[int64]bool{}
	for _, o := range out {
		seen[o.ProducerID] = true
	}
	var offsetsOnly []OpenTxn
	for pid, offs := range held {
		if !seen[pid] {
			offsetsOnly = append(offsetsOnly, OpenTxn{Partition: -1, ProducerID: pid, ProducerEpoch: epochs[pid], StartOffset: -1, LastStable: -1, HighWatermark: -1})
			seen[pid] = true
		}
		slices.SortFunc(offs, func(a, b TxnGroupOffset) int {
			return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
	}
	slices.SortFunc(offsetsOnly, func(a, b OpenTxn) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	out = append(out, offsetsOnly...)
	var pids []int64
	for pid := range seen {
		pids = append(pids, pid)
	}
	ids := map[int64]txn.Listing{}
	if len(pids) > 0 && b.txn != nil {
		ls, _ := b.txn.List(txn.Filter{ProducerIDs: pids, MinDurationMs: -1})
		for _, l := range ls {
			ids[l.ProducerID] = l
		}
	}
	for i := range out {
		o := &out[i]
		if l, ok := ids[o.ProducerID]; ok {
			o.TransactionalID, o.State = l.TransactionalID, l.State.String()
		}
		o.GroupOffsets = held[o.ProducerID]
		if o.GroupOffsets == nil {
			o.GroupOffsets = []TxnGroupOffset{}
		}
	}
	return out
}
