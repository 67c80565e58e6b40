package broker

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Requests the broker does not serve.
//
// Apache Kafka closes the connection on a request whose API key it does
// not know, that its listener does not serve (the controller's APIs on a
// broker) or whose version is outside the API's range, ApiVersions aside
// (SocketServer.parseRequestHeader: InvalidRequestException). Rewind does
// the same for those.
//
// A request of an API that Kafka 4.x serves on a broker but Rewind does
// not implement is different: Kafka would answer it, so a client that
// sends it without looking at ApiVersions first (Sarama with a configured
// Version, scripts) would otherwise see only an EOF. It is answered with
// the API's response carrying UNSUPPORTED_VERSION in its top-level error
// code, which is what Kafka's AbstractRequest.getErrorResponse gives for
// an UnsupportedVersionException, so the client reports "the version of
// API is not supported". An API whose response has no top-level error
// code (its errors are per resource: CreateAcls, AlterClientQuotas...)
// cannot say it without echoing the request's resources, and an empty
// answer would read as success: its connection is closed, as for an
// unknown key.
//
// Either way the broker logs it at WARN once per client id and API, so a
// user sees which client asked for what, without a log line per request.

// kafkaBrokerAPIs are the keys Apache Kafka 4.4 lists in ApiVersions on a
// broker listener (test/differential TestApiVersions prints them).
var kafkaBrokerAPIs = func() map[int16]bool {
	m := map[int16]bool{}
	for _, k := range []int16{
		0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
		25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
		45, 46, 47, 48, 49, 50, 51, 55, 57, 60, 61, 64, 65, 66, 68, 69, 74, 75, 76, 77,
		78, 79, 80, 81, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94,
	} {
		m[k] = true
	}
	return m
}()

// unservedResponse is the answer to a request of key at ver that Rewind
// does not implement, or nil when the connection must be closed.
func unservedResponse(key, ver int16) kmsg.Response {
	if !kafkaBrokerAPIs[key] {
		return nil
	}
	req := kmsg.RequestForKey(key)
	if req == nil || ver < 0 || ver > req.MaxVersion() {
		return nil
	}
	resp := req.ResponseKind()
	f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 {
		return nil
	}
	f.SetInt(int64(kerr.UnsupportedVersion.Code))
	resp.SetVersion(ver)
	return resp
}

// unservedLog remembers which client asked which unserved API, to log it
// once. It is bounded: past maxUnservedLogged pairs, further ones are
// logged through a rate-limited line instead (a client can send any
// client id).
type unservedLog struct {
	mu   sync.Mutex
	seen map[unservedKey]struct{}
	rest rateLog
}

type unservedKey struct {
	client string
	key    int16
}

const maxUnservedLogged = 4096

// note logs at WARN, the first time for this client and API, that a
// request of key at ver was not served and how it was refused.
func (c *conn) noteUnserved(clientID string, key, ver int16, answered bool) {
	u := &c.b.unserved
	how := "connection closed, as Kafka does for an API or version it does not serve"
	if answered {
		how = "answered UNSUPPORTED_VERSION"
	}
	api := kmsg.NameForKey(key)
	if api == "Unknown" {
		api = fmt.Sprintf("unknown API key %d", key)
	}
	u.mu.Lock()
	k := unservedKey{clientID, key}
	_, dup := u.seen[k]
	full := !dup && len(u.seen) >= maxUnservedLogged
	if !dup && !full {
		if u.seen == nil {
			u.seen = map[unservedKey]struct{}{}
		}
		u.seen[k] = struct{}{}
	}
	u.mu.Unlock()
	switch {
	case dup:
		c.log.Debug("request not served", "client_id", clientID, "api", api, "version", ver, "outcome", how)
	case full:
		u.rest.warn("request not served (further clients not logged each)", "client_id", clientID, "api", api, "version", ver, "outcome", how)
	default:
		c.log.Warn("request not served", "client_id", clientID, "api", api, "version", ver, "outcome", how)
	}
}
