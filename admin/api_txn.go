package admin

import (
	"net/http"

	"github.com/rewindhq/rewind/broker"
)

// The console's transactions view: every transaction open on a partition,
// from the broker in process (Broker.OpenTransactions, the partitions'
// producer state), never through a Kafka client on loopback.

// txnView is GET /api/v1/transactions.
type txnView struct {
	Open []broker.OpenTxn `json:"open"`
}

func (s *Server) transactions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, txnView{Open: s.b.OpenTransactions()})
}
