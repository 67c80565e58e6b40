package broker

import (
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListConfigResources: v0-1 (v0 was ListClientMetricsResources)
//
// v0 lists the client metrics subscriptions; v1 lists the resources of
// the types asked (none: every type) as Kafka 4.x does: client metrics
// subscriptions, this broker, and every topic, internal ones included.
// Groups are listed only when they have configs of their own, which
// Rewind's groups never have. Broker loggers, which Rewind has no configs
// for, are not listed. A type outside these is UNSUPPORTED_VERSION, as
// Kafka answers it. Needs DESCRIBE_CONFIGS on the cluster.

func init() {
	regKey(74, 0, 1, handleListConfigResources)
	regAuth(74, checkListConfigResources)
}

func handleListConfigResources(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.ListConfigResourcesRequest)
	resp := req.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	types := map[kmsg.ConfigResourceType]bool{}
	for _, t := range req.ResourceTypes {
		switch rt := kmsg.ConfigResourceType(t); rt {
		case kmsg.ConfigResourceTypeClientMetrics, kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeTopic,
			kmsg.ConfigResourceTypeGroupConfig, kmsg.ConfigResourceTypeBrokerLogger:
			types[rt] = true
		default:
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			return now(resp)
		}
	}
	all := req.Version >= 1 && len(types) == 0
	want := func(t kmsg.ConfigResourceType) bool {
		if req.Version == 0 {
			return t == kmsg.ConfigResourceTypeClientMetrics
		}
		return all || types[t]
	}
	var names []string
	if want(kmsg.ConfigResourceTypeTopic) {
		for _, t := range b.reg.list() {
			names = append(names, t.Name)
		}
		sort.Strings(names)
	}
	var subs []string
	if want(kmsg.ConfigResourceTypeClientMetrics) {
		subs = b.cm.Names()
	}
	var groups []string
	if want(kmsg.ConfigResourceTypeGroupConfig) {
		groups = b.gcfg.Groups() // the groups with configs (configs_group.go)
	}
	var n respSize
	n.elems(len(names)+len(subs)+len(groups)+1, sizeOf[kmsg.ListConfigResourcesResponseConfigResource](), 0)
	for _, list := range [][]string{names, subs, groups} {
		for _, s := range list {
			n.str(len(s))
		}
	}
	if err := r.reserveResponse("ListConfigResources", n); err != nil {
		return reply{}, err
	}
	add := func(name string, t kmsg.ConfigResourceType) {
		cr := kmsg.NewListConfigResourcesResponseConfigResource()
		cr.Name, cr.Type = name, int8(t)
		resp.ConfigResources = append(resp.ConfigResources, cr)
	}
	for _, s := range subs {
		add(s, kmsg.ConfigResourceTypeClientMetrics)
	}
	for _, g := range groups {
		add(g, kmsg.ConfigResourceTypeGroupConfig)
	}
	if want(kmsg.ConfigResourceTypeBroker) {
		add(strconv.Itoa(int(b.cfg.NodeID)), kmsg.ConfigResourceTypeBroker)
	}
	for _, s := range names {
		add(s, kmsg.ConfigResourceTypeTopic)
	}
	return now(resp)
}

// checkListConfigResources: DESCRIBE_CONFIGS on the cluster.
func checkListConfigResources(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationDescribeConfigs) {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.ListConfigResourcesResponse) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}), nil, nil
}
