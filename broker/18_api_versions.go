package broker

import (
	"sort"

	"github.com/rewindhq/rewind/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions: v0-5
//
// Lists exactly the keys registered with regKey and their version ranges.
// A request above v5 is answered in v0 form with UNSUPPORTED_VERSION and our
// ApiVersions range (KIP-511), so the client retries with a version we have.
// v3 validates the client software name and version as Kafka does, and
// lists the feature levels the code implements (SupportedFeatures) and
// runs (FinalizedFeatures): group.version 1 (the KIP-848 consumer group
// protocol, as Kafka 4.x) and transaction.version 2 (KIP-890 part 2), which
// makes clients such as kgo bump the epoch at every EndTxn v5 and let
// Produce v12 add partitions itself; clients that never read features
// (EndTxn below v5) are served as transaction.version 1.
//
// v4 is v3 (it tells the broker the client handles UNSUPPORTED_VERSION
// with the ApiVersions range, KIP-511). v5 (KIP-1242) carries the cluster
// id and node id the client believes it is talking to: one without the
// other is INVALID_REQUEST, either not this broker's REBOOTSTRAP_REQUIRED,
// with no keys and no features, as Kafka 4.4 answers.

func init() { regKey(18, 0, 5, handleApiVersions) }

// feature is a feature flag with the levels the code supports and the
// level it runs.
type feature struct {
	name     string
	min, max int16
	level    int16
}

var features = []feature{
	// group.version 1: Kafka 4's consumer group protocol (KIP-848,
	// ConsumerGroupHeartbeat and ConsumerGroupDescribe) is enabled, as
	// Kafka 4.x finalizes it by default (GroupVersion GV_1).
	{name: "group.version", min: 0, max: 1, level: 1},
	{name: "transaction.version", min: 0, max: txn.TV2, level: txn.TV2},
	// share.version 2: share groups (KIP-932) with ShareFetch v2's
	// record-limit mode and renew acknowledgements (KIP-1206, KIP-1222),
	// as Kafka 4.4 finalizes it.
	{name: "share.version", min: 0, max: 2, level: 2},
}

func apiKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, a := range apis {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, a.advertisedMin, a.max
		keys = append(keys, ak)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

func unsupportedApiVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	a := apis[18]
	ak := kmsg.NewApiVersionsResponseApiKey()
	ak.ApiKey, ak.MinVersion, ak.MaxVersion = 18, a.min, a.max
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{ak}
	return resp
}

func handleApiVersions(r *request) (reply, error) {
	req := r.kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!validSoftware(req.ClientSoftwareName) || !validSoftware(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return now(resp)
	}
	if req.Version >= 5 && (req.ClusterID != nil || req.NodeID != -1) {
		b := r.c.b
		switch {
		case req.ClusterID == nil || req.NodeID == -1:
			resp.ErrorCode = kerr.InvalidRequest.Code
			return now(resp)
		case *req.ClusterID != b.reg.cat.ClusterID() || req.NodeID != b.cfg.NodeID:
			resp.ErrorCode = kerr.RebootstrapRequired.Code
			return now(resp)
		}
	}
	resp.ApiKeys = apiKeys()
	if req.Version >= 3 {
		r.c.swName, r.c.swVersion = req.ClientSoftwareName, req.ClientSoftwareVersion
		for _, f := range features {
			sf := kmsg.NewApiVersionsResponseSupportedFeature()
			sf.Name, sf.MinVersion, sf.MaxVersion = f.name, f.min, f.max
			resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
			ff := kmsg.NewApiVersionsResponseFinalizedFeature()
			ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = f.name, f.level, f.level
			resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
		}
		// The levels never change on a running node, so one epoch does
		// (Kafka's is the metadata offset of the last feature change).
		resp.FinalizedFeaturesEpoch = 1
	}
	return now(resp)
}

// validSoftware matches Kafka's [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
func validSoftware(s string) bool {
	if s == "" {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
