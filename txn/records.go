package txn

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// __transaction_state holds one record per change of a transactional id,
// in Kafka's own format (kmsg.TxnMetadataKey and TxnMetadataValue), so the
// topic is compacted to the last record of each id and Kafka's tools read
// it unchanged:
//
//	key:   | version int16 = 0 | transactional id string |
//	value: | version int16 | producer id | epoch | timeout ms | state int8 |
//	       | partitions (null when Empty) | last update ms | start ms |
//	       | v1+ tags: 0 previous producer id, 1 next producer id,
//	       |           2 client transaction version, 3 next producer epoch |
//
// Version 1 of the value (flexible, with the tags) is written from
// transaction.version 1 on, version 0 below it, as Kafka does. A tombstone
// (value nil) is written when an id expires.

// encode returns the key and value of t for id.
func encode(id string, t transit, level int16) (key, value []byte) {
	k := kmsg.NewTxnMetadataKey()
	k.TransactionalID = id
	v := kmsg.NewTxnMetadataValue()
	if level >= TV1 {
		v.Version = 1
	}
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = t.producerID, t.epoch, t.timeoutMs
	v.State = kmsg.TransactionState(t.state)
	v.LastUpdateTimestamp, v.StartTimestamp = t.updateMs, t.startMs
	v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion = t.prevProducerID, t.nextProducerID, t.tv
	if t.state != Empty {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		for _, p := range sortedParts(t.parts) {
			if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != p.Topic {
				tt := kmsg.NewTxnMetadataValueTopic()
				tt.Topic = p.Topic
				v.Topics = append(v.Topics, tt)
			}
			tt := &v.Topics[len(v.Topics)-1]
			tt.Partitions = append(tt.Partitions, p.Partition)
		}
	}
	return k.AppendTo(nil), v.AppendTo(nil)
}

// decodeKey returns the id of a key; ok is false for key versions this
// coordinator does not know (skipped, as Kafka skips them).
func decodeKey(key []byte) (id string, ok bool, err error) {
	if len(key) < 2 {
		return "", false, fmt.Errorf("txn: key of %d bytes", len(key))
	}
	if binary.BigEndian.Uint16(key) != 0 {
		return "", false, nil
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", false, fmt.Errorf("txn: key: %w", err)
	}
	return k.TransactionalID, true, nil
}

func decodeValue(id string, value []byte) (*meta, error) {
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("txn: value of %q: %w", id, err)
	}
	if v.Version > 1 {
		return nil, fmt.Errorf("txn: value of %q has unknown version %d", id, v.Version)
	}
	st := State(v.State)
	if st < Empty || st > PrepareEpochFence {
		return nil, fmt.Errorf("txn: value of %q has unknown state %d", id, v.State)
	}
	m := newMeta(id, v.ProducerID, v.TimeoutMillis, v.LastUpdateTimestamp)
	m.prevProducerID, m.nextProducerID = v.PreviousProducerID, v.NextProducerID
	m.epoch, m.state, m.startMs, m.tv = v.ProducerEpoch, st, v.StartTimestamp, v.ClientTransactionVersion
	if st != Empty {
		for _, t := range v.Topics {
			for _, p := range t.Partitions {
				m.parts[Partition{t.Topic, p}] = struct{}{}
			}
		}
	}
	return m, nil
}
