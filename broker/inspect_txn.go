package broker

import (
	"cmp"
	"slices"
	"time"
)

// OpenTxn is a transaction open on one partition, as the console shows it,
// from the partition's producer state (what DescribeProducers answers).
type OpenTxn struct {
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
}

// OpenTransactions lists every transaction open on a partition, by topic
// and partition, oldest first within a partition.
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
	return out
}
