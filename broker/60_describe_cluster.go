package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster: v0-1
//
// One broker, node 0, which is also the controller. v1 EndpointType must be
// 1 (brokers); controllers are not exposed separately.

func init() { regKey(60, 0, 1, handleDescribeCluster) }

func handleDescribeCluster(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return now(resp)
	}
	resp.EndpointType = 1
	resp.ClusterID = b.reg.cat.ClusterID()
	resp.ControllerID = r.c.b.cfg.NodeID
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = r.c.b.cfg.NodeID, r.c.advHost(), r.c.advPort()
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	return now(resp)
}
