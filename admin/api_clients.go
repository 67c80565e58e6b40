package admin

import (
	"errors"
	"net/http"

	"github.com/rewindhq/rewind/clientmetrics"
)

// The console's clients view: what each client reports about itself
// through client telemetry (KIP-714), as the broker received it. Only a
// backend that receives pushes has it (the in-process broker); the
// monitor of a remote cluster reads Kafka through the protocol, and
// clients push to their brokers, not to it.

type telemetrySource interface {
	ClientTelemetry() []clientmetrics.Client
}

// clientsView is GET /api/v1/clients.
type clientsView struct {
	Clients []clientmetrics.Client `json:"clients"`
}

func (s *Server) clients(w http.ResponseWriter, _ *http.Request) {
	src, ok := s.b.(telemetrySource)
	if !ok {
		writeError(w, http.StatusNotImplemented, errors.New("client telemetry is received by the brokers the clients push to; this console reads its cluster through the Kafka protocol and has none"))
		return
	}
	writeJSON(w, http.StatusOK, clientsView{Clients: src.ClientTelemetry()})
}
