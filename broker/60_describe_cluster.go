package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster: v0-2
//
// One broker, --node-id, which is also the controller. v1 EndpointType
// must be 1 (brokers): 2 (controllers) is MISMATCHED_ENDPOINT_TYPE, as a
// Kafka broker listener answers it (controllers are not exposed
// separately), any other UNSUPPORTED_ENDPOINT_TYPE. v2: the broker is
// never fenced, so IncludeFencedBrokers changes nothing.
//
// IncludeClusterAuthorizedOperations: the bit field of the cluster
// operations the principal may do, or 0 without DESCRIBE on the cluster,
// as Kafka's AuthHelper computes it (every cluster operation without an
// authorizer); not asked, the schema's default (INT32_MIN). DescribeCluster
// itself needs no ACL.

func init() { regKey(60, 0, 2, handleDescribeCluster) }

func handleDescribeCluster(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		if req.EndpointType == 2 {
			resp.ErrorCode = kerr.MismatchedEndpointType.Code
		}
		return now(resp)
	}
	resp.EndpointType = 1
	resp.ClusterID = b.reg.cat.ClusterID()
	resp.ControllerID = r.c.b.cfg.NodeID
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = r.c.b.cfg.NodeID, r.c.advHost(), r.c.advPort()
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = r.clusterAuthorizedOperations()
	}
	return now(resp)
}
