package broker

import (
	"net"

	"github.com/rewindhq/rewind/clientmetrics"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// GetTelemetrySubscriptions: v0 and PushTelemetry: v0 (KIP-714)
//
// Rewind is a broker with a client telemetry receiver: it advertises both
// APIs (Apache Kafka does only when a ClientTelemetry metrics reporter is
// configured) and keeps what clients push (package clientmetrics) for
// /metrics and the console. Which clients push which metrics, and how
// often, is set by CLIENT_METRICS config resources, as on Kafka; without
// one that matches, a client is told to push nothing. Rewind asks for
// cumulative values (DeltaTemporality false), so each push holds the
// current totals. Neither API is authorized (Kafka checks none): a
// client reports only about itself, under an instance id the broker
// handed out.

func init() {
	regKey(71, 0, 0, handleGetTelemetrySubscriptions)
	regKey(72, 0, 0, handlePushTelemetry)
}

func (r *request) clientInfo() clientmetrics.ClientInfo {
	info := clientmetrics.ClientInfo{
		ClientID: r.clientID, Principal: r.c.principal(),
		SoftwareName: r.c.swName, SoftwareVersion: r.c.swVersion,
	}
	if a, ok := r.c.nc.RemoteAddr().(*net.TCPAddr); ok {
		info.Address, info.Port = a.IP.String(), a.Port
	}
	return info
}

func handleGetTelemetrySubscriptions(r *request) (reply, error) {
	req := r.kreq.(*kmsg.GetTelemetrySubscriptionsRequest)
	resp := req.ResponseKind().(*kmsg.GetTelemetrySubscriptionsResponse)
	sub, cerr := r.c.b.cm.GetSubscriptions(req.ClientInstanceID, r.clientInfo())
	if cerr != nil {
		resp.ErrorCode = cerr.Err.Code
		return now(resp)
	}
	r.c.telemetryID = sub.InstanceID
	resp.ClientInstanceID = sub.InstanceID
	resp.SubscriptionID = sub.SubscriptionID
	resp.AcceptedCompressionTypes = clientmetrics.AcceptedCompression
	resp.PushIntervalMillis = sub.IntervalMs
	resp.TelemetryMaxBytes = sub.MaxBytes
	resp.DeltaTemporality = false
	resp.RequestedMetrics = sub.Metrics
	if resp.RequestedMetrics == nil {
		resp.RequestedMetrics = []string{}
	}
	return now(resp)
}

func handlePushTelemetry(r *request) (reply, error) {
	req := r.kreq.(*kmsg.PushTelemetryRequest)
	resp := req.ResponseKind().(*kmsg.PushTelemetryResponse)
	cm, info := r.c.b.cm, r.clientInfo()
	if req.ClientInstanceID != ([16]byte{}) {
		r.c.telemetryID = req.ClientInstanceID
	}
	// Off the read loop: decoding a push costs up to a few milliseconds.
	return reply{later: func() (kmsg.Response, error) {
		if cerr := cm.Push(req.ClientInstanceID, info, req.SubscriptionID, req.Terminating, req.CompressionType, req.Metrics); cerr != nil {
			resp.ErrorCode = cerr.Err.Code
		}
		return resp, nil
	}}, nil
}

// ClientTelemetry is what every client instance known to the broker last
// pushed, for the console and /metrics.
func (b *Broker) ClientTelemetry() []clientmetrics.Client { return b.cm.Clients() }
