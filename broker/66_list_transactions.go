package broker

import (
	"regexp"

	"github.com/rewindhq/rewind/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListTransactions: v0-2
//
// Every transactional id this coordinator knows, filtered by state names
// (unknown names are returned in UnknownStateFilters), producer ids,
// v1+ a minimum duration of the open transaction, and v2+ a transactional
// id pattern (RE2, matched against the whole id; an invalid one gets
// INVALID_REGULAR_EXPRESSION), as kafka-transactions.sh list and
// find-hanging use them. The answer is bounded by --max-response-memory:
// a list that would not fit closes the connection.

func init() { regKey(66, 0, 2, handleListTransactions) }

func handleListTransactions(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	f := txn.Filter{States: req.StateFilters, ProducerIDs: req.ProducerIDFilters, MinDurationMs: -1}
	if req.Version >= 1 {
		f.MinDurationMs = req.DurationFilterMillis
	}
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		re, err := regexp.Compile("^(?:" + *req.TransactionalIDPattern + ")$")
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return now(resp)
		}
		f.IDPattern = re
	}
	list, unknown := b.txn.List(f)
	var n respSize
	n.elems(len(list), sizeOf[kmsg.ListTransactionsResponseTransactionState](), 32)
	for _, l := range list {
		n.str(len(l.TransactionalID))
	}
	if err := r.reserveResponse("ListTransactions", n); err != nil {
		return reply{}, err
	}
	resp.UnknownStateFilters = unknown
	for _, l := range list {
		s := kmsg.NewListTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.TransactionState = l.TransactionalID, l.ProducerID, l.State.String()
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return now(resp)
}
