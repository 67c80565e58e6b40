package differential

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterID is the cluster id c's broker reports in Metadata.
func clusterID(t *testing.T, c *conn) string {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	resp, err := c.send(req)
	if err != nil {
		t.Fatal(err)
	}
	return *resp.(*kmsg.MetadataResponse).ClusterID
}

// TestApiVersionsV5: the cluster id and node id a v5 client sends
// (KIP-1242): both this broker's, another cluster's or node's
// (REBOOTSTRAP_REQUIRED), one without the other (INVALID_REQUEST), and a
// bad software name before them.
func TestApiVersionsV5(t *testing.T) {
	p := newPair(t)
	if _, hi, _ := p.common(kmsg.NewPtrApiVersionsRequest()); hi < 5 {
		t.Skipf("ApiVersions v5 is not served by both (newest common v%d)", hi)
	}
	kcid, rcid := clusterID(t, p.kafka), clusterID(t, p.rewind)
	req := func(cid *string, node int32, software string) *kmsg.ApiVersionsRequest {
		r := kmsg.NewPtrApiVersionsRequest()
		r.ClientSoftwareName, r.ClientSoftwareVersion = software, "1"
		r.ClusterID, r.NodeID = cid, node
		return r
	}
	// The key list and the features are compared by TestApiVersions.
	drop := func(k, r kmsg.Response) {
		for _, resp := range []kmsg.Response{k, r} {
			a := resp.(*kmsg.ApiVersionsResponse)
			a.ApiKeys, a.SupportedFeatures, a.FinalizedFeatures, a.FinalizedFeaturesEpoch = nil, nil, nil, 0
		}
	}
	fixEach := func(scenario string, kreq, rreq *kmsg.ApiVersionsRequest) {
		kreq.SetVersion(5)
		rreq.SetVersion(5)
		k, kerr := p.kafka.send(kreq)
		r, rerr := p.rewind.send(rreq)
		if kerr != nil || rerr != nil {
			t.Fatalf("%s: kafka %v, rewind %v", scenario, kerr, rerr)
		}
		ka, ra := k.(*kmsg.ApiVersionsResponse), r.(*kmsg.ApiVersionsResponse)
		if (len(ka.ApiKeys) == 0) != (len(ra.ApiKeys) == 0) {
			p.report(scenario+"/ApiVersions_v5", []difference{{"len(ApiKeys) == 0", fmt.Sprint(len(ka.ApiKeys) == 0), fmt.Sprint(len(ra.ApiKeys) == 0)}})
		}
		if (ka.FinalizedFeaturesEpoch == -1) != (ra.FinalizedFeaturesEpoch == -1) {
			p.report(scenario+"/ApiVersions_v5", []difference{{"FinalizedFeaturesEpoch == -1", fmt.Sprint(ka.FinalizedFeaturesEpoch == -1), fmt.Sprint(ra.FinalizedFeaturesEpoch == -1)}})
		}
		drop(k, r)
		p.report(scenario+"/ApiVersions_v5", diff(k, r))
	}
	fixEach("ApiVersions/v5 this cluster and node", req(&kcid, p.kafkaNode, "diff"), req(&rcid, p.rewindNode, "diff"))
	fixEach("ApiVersions/v5 this cluster, another node", req(&kcid, p.kafkaNode+5, "diff"), req(&rcid, p.rewindNode+5, "diff"))
	other := "AAAAAAAAAAAAAAAAAAAAAA"
	p.compare("ApiVersions/v5 another cluster", req(&other, p.kafkaNode, "diff"), 5, func(k, r kmsg.Response) {
		r.(*kmsg.ApiVersionsResponse).FinalizedFeaturesEpoch = k.(*kmsg.ApiVersionsResponse).FinalizedFeaturesEpoch
	})
	fixEach("ApiVersions/v5 cluster id only", req(&kcid, -1, "diff"), req(&rcid, -1, "diff"))
	p.compare("ApiVersions/v5 node id only", req(nil, 1, "diff"), 5, nil)
	p.compare("ApiVersions/v5 bad software, cluster id only", req(&other, -1, "-bad"), 5, nil)
	p.compare("ApiVersions/v4", req(nil, -1, "diff"), 4, drop)
}

// TestDescribeClusterVersions: every endpoint type at every version both
// serve (2 is the controllers', which a broker listener does not serve),
// and v2's IncludeFencedBrokers.
func TestDescribeClusterVersions(t *testing.T) {
	p := newPair(t)
	lo, hi, _ := p.common(kmsg.NewPtrDescribeClusterRequest())
	for v := lo; v <= hi; v++ {
		for _, et := range []int8{0, 1, 2, 3} {
			if v == 0 && et != 1 {
				continue // v0 has no endpoint type
			}
			req := kmsg.NewPtrDescribeClusterRequest()
			req.EndpointType = et
			p.compare("DescribeCluster/endpoint type "+string(rune('0'+et)), req, v, nil)
		}
		if v >= 2 {
			req := kmsg.NewPtrDescribeClusterRequest()
			req.IncludeFencedBrokers = true
			p.compare("DescribeCluster/include fenced brokers", req, v, nil)
		}
	}
}

// TestFindCoordinatorShare: key type 2 (share groups, KIP-932), well
// formed (group:topic id:partition) or not, at v6 and below: Rewind has no
// share coordinator, and answers as a Kafka without one.
func TestFindCoordinatorShare(t *testing.T) {
	p := newPair(t)
	v4 := func(k, r kmsg.Response) { // as TestFindCoordinator
		for _, resp := range []*kmsg.FindCoordinatorResponse{k.(*kmsg.FindCoordinatorResponse), r.(*kmsg.FindCoordinatorResponse)} {
			resp.NodeID = 0
		}
	}
	lo, hi, _ := p.common(kmsg.NewPtrFindCoordinatorRequest())
	for v := max(lo, 4); v <= hi; v++ {
		p.compare("FindCoordinator/share key", findCoordinatorReq(2, name("sg")+":AAAAAAAAAAAAAAAAAAAAAA:0"), v, v4)
		p.compare("FindCoordinator/malformed share key", findCoordinatorReq(2, name("sg")), v, v4)
	}
}

// TestMetadataTopicIDs: Metadata at its newest version asking by unknown
// topic id, and by the id of a topic that exists.
func TestMetadataTopicIDs(t *testing.T) {
	p := newPair(t)
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = [16]byte{9, 9, 9}
	req.Topics = append(req.Topics, rt)
	p.compare("Metadata/unknown topic id", req, -1, nil)
}

// TestProduceTopicIDs: Produce v13 names topics by id only (KIP-516): a
// topic's own id (each broker's, see conn.withTopicIDs), an id no topic
// has (UNKNOWN_TOPIC_ID), with acks=1 and acks=0.
func TestProduceTopicIDs(t *testing.T) {
	p := newPair(t)
	if _, hi, _ := p.common(kmsg.NewPtrProduceRequest()); hi < 13 {
		t.Skipf("Produce v13 is not served by both (newest common v%d)", hi)
	}
	tp := name("byid")
	p.mustCreate(tp, 2)
	p.waitTopic(tp, 2)
	p.compare("Produce/v13 by topic id", produceReq(tp, 1, -1, 1000, 1001), 13, nil)
	unknown := produceReq("", 0, 1, 1000)
	unknown.Topics[0].TopicID = [16]byte{7, 7, 7}
	p.compare("Produce/v13 unknown topic id", unknown, 13, nil)
	both := produceReq(tp, 0, 1, 2000)
	both.Topics = append(both.Topics, unknown.Topics[0])
	p.compare("Produce/v13 known and unknown topic ids", both, 13, nil)
	p.compare("Produce/after v13", listReq(tp, 0, -1, -1, 0), -1, nil)
}

// TestUpdateFeatures: updates of the features both brokers finalize (to
// the level running, an unsupported one, a negative one, a downgrade
// without the upgrade type for it, an upgrade typed as a downgrade), of
// features Kafka has and Rewind does not, of an unknown feature, unknown
// upgrade types, two updates of which one fails, and none, at every
// version both serve. Every update that Kafka could make is validate_only,
// so the reference keeps its levels for the rest of the suite.
func TestUpdateFeatures(t *testing.T) {
	p := newPair(t)
	type upd struct {
		feature string
		level   int16
		typ     int8 // v1+; v0 sends AllowDowngrade for 2 and 3 (which Kafka ignores)
	}
	req := func(validate bool, us ...upd) *kmsg.UpdateFeaturesRequest {
		r := kmsg.NewPtrUpdateFeaturesRequest()
		r.TimeoutMillis, r.ValidateOnly = 30000, validate
		for _, u := range us {
			fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
			fu.Feature, fu.MaxVersionLevel, fu.UpgradeType = u.feature, u.level, u.typ
			fu.AllowDowngrade = u.typ == 2 || u.typ == 3
			r.FeatureUpdates = append(r.FeatureUpdates, fu)
		}
		return r
	}
	cases := []struct {
		name     string
		validate bool
		updates  []upd
	}{
		{"levels running", false, []upd{{"transaction.version", 2, 1}, {"group.version", 1, 1}}},
		{"none", false, nil},
		{"above the supported range", false, []upd{{"transaction.version", 3, 1}}},
		{"above the range as a downgrade", false, []upd{{"group.version", 2, 2}}},
		{"negative", false, []upd{{"transaction.version", -1, 1}}},
		{"downgrade typed as upgrade", false, []upd{{"transaction.version", 1, 1}}},
		{"unknown feature", false, []upd{{"rewind.nope.version", 1, 1}}},
		{"unknown upgrade type 0", false, []upd{{"transaction.version", 2, 0}}},
		{"unknown upgrade type 4", false, []upd{{"transaction.version", 2, 4}}},
		{"one of two fails", false, []upd{{"group.version", 1, 1}, {"rewind.nope.version", 1, 1}}},
		{"safe downgrade", true, []upd{{"transaction.version", 1, 2}}},
		{"unsafe downgrade", true, []upd{{"group.version", 0, 3}}},
		{"share.version", true, []upd{{"share.version", 1, 1}}},
		{"metadata.version", true, []upd{{"metadata.version", 1, 1}}},
	}
	lo, hi, ok := p.common(kmsg.NewPtrUpdateFeaturesRequest())
	if !ok {
		t.Fatal("UpdateFeatures: no common version")
	}
	// The messages are compared too (compare zeroes every ErrorMessage),
	// but where Rewind refuses what Kafka has or does (the known
	// differences), each broker's own node id as "N".
	ownMessage := map[string]bool{"safe downgrade": true, "unsafe downgrade": true, "share.version": true, "metadata.version": true}
	message := func(resp kmsg.Response, node int32) string {
		m := resp.(*kmsg.UpdateFeaturesResponse).ErrorMessage
		if m == nil {
			return "null"
		}
		return strings.ReplaceAll(*m, fmt.Sprintf("controller %d ", node), "controller N ")
	}
	for v := lo; v <= hi; v++ {
		for _, c := range cases {
			p.compare("UpdateFeatures/"+c.name, req(c.validate, c.updates...), v, nil)
			if ownMessage[c.name] && (v > 0 || !strings.Contains(c.name, "downgrade")) {
				continue // v0 has no downgrades: refused alike
			}
			k, r, kerr, rerr := p.both(req(c.validate, c.updates...), v)
			if kerr != nil || rerr != nil {
				t.Fatalf("UpdateFeatures %s v%d: kafka %v, rewind %v", c.name, v, kerr, rerr)
			}
			if km, rm := message(k, p.kafkaNode), message(r, p.rewindNode); km != rm {
				p.report(fmt.Sprintf("UpdateFeatures/%s message/UpdateFeatures_v%d", c.name, v), []difference{{"ErrorMessage", km, rm}})
			}
		}
	}
}

// TestUnregister: UnregisterBroker and UnregisterController of ids no
// node has (codes and messages).
func TestUnregister(t *testing.T) {
	p := newPair(t)
	for _, id := range []int32{9, -1, 12345} {
		ub := kmsg.NewPtrUnregisterBrokerRequest()
		ub.BrokerID = id
		uc := kmsg.NewPtrUnregisterControllerRequest()
		uc.ControllerID = id
		for _, req := range []kmsg.Request{ub, uc} {
			name := fmt.Sprintf("Unregister/id %d", id)
			p.compare(name, req, -1, nil)
			k, r, kerr, rerr := p.both(req, -1)
			if kerr != nil || rerr != nil {
				t.Fatalf("%s: kafka %v, rewind %v", name, kerr, rerr)
			}
			msg := func(resp kmsg.Response) string {
				switch x := resp.(type) {
				case *kmsg.UnregisterBrokerResponse:
					return deref(x.ErrorMessage)
				case *kmsg.UnregisterControllerResponse:
					return deref(x.ErrorMessage)
				}
				return ""
			}
			if km, rm := msg(k), msg(r); km != rm {
				p.report(fmt.Sprintf("%s message/%s_v0", name, kmsg.NameForKey(req.Key())), []difference{{"ErrorMessage", km, rm}})
			}
		}
	}
}
