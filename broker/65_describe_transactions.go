package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions: v0
//
// The state of each transactional id named (kafka-transactions.sh
// describe): TRANSACTIONAL_ID_NOT_FOUND for an unknown one. Each distinct
// id is answered once.

func init() { regKey(65, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	ids := dedupStrings(req.TransactionalIDs)
	var n respSize
	n.elems(len(ids), sizeOf[kmsg.DescribeTransactionsResponseTransactionState](), 64)
	for _, id := range ids {
		n.str(len(id))
	}
	if err := r.reserveResponse("DescribeTransactions", n); err != nil {
		return reply{}, err
	}
	for _, id := range ids {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = id
		d, err := b.txn.Describe(id)
		if err != nil {
			s.ErrorCode = err.Code
			resp.TransactionStates = append(resp.TransactionStates, s)
			continue
		}
		s.State, s.TimeoutMillis, s.StartTimestamp = d.State.String(), d.TimeoutMs, d.StartMs
		s.ProducerID, s.ProducerEpoch = d.ProducerID, d.ProducerEpoch
		for _, p := range d.Partitions {
			if k := len(s.Topics); k == 0 || s.Topics[k-1].Topic != p.Topic {
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic = p.Topic
				s.Topics = append(s.Topics, t)
			}
			t := &s.Topics[len(s.Topics)-1]
			t.Partitions = append(t.Partitions, p.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return now(resp)
}
