package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs: v0-2
//
// Replaces a topic's whole set of config overrides (configs not named
// return to their defaults), as Kafka's legacy AlterConfigs does. Broker
// configs are static: INVALID_REQUEST.
//
// As Kafka (ConfigAdminManager.preprocess), every occurrence of a resource
// named more than once, and a resource naming a config twice, get
// INVALID_REQUEST and change nothing. The response is reserved in
// --max-response-memory (respmem.go); a request whose response alone would
// exceed it closes the connection and changes nothing.

func init() { regKey(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	repeated := repeatedResources(req.Resources, func(r *kmsg.AlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
		return r.ResourceType, r.ResourceName
	})
	var n respSize
	n.set(len(req.Resources))
	n.elems(len(req.Resources), sizeOf[kmsg.AlterConfigsResponseResource](), 128) // with a message
	for _, rr := range req.Resources {
		n.str(len(rr.ResourceName))
	}
	if err := r.reserveResponse("AlterConfigs", n); err != nil {
		return reply{}, err
	}
	resp.Resources = make([]kmsg.AlterConfigsResponseResource, 0, len(req.Resources))
	for _, rr := range req.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		if repeated[configResource{rr.ResourceType, rr.ResourceName}] {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, resourceTwice
			resp.Resources = append(resp.Resources, res)
			continue
		}
		if rr.ResourceType != kmsg.ConfigResourceTypeTopic && rr.ResourceType != kmsg.ConfigResourceTypeClientMetrics && rr.ResourceType != kmsg.ConfigResourceTypeGroupConfig {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, strp("only topic configs can be altered; broker settings are command-line flags")
			resp.Resources = append(resp.Resources, res)
			continue
		}
		cfgs := map[string]string{}
		named := map[string]bool{}
		twice := false
		for _, c := range rr.Configs {
			twice = twice || named[c.Name]
			named[c.Name] = true
			if c.Value != nil {
				cfgs[c.Name] = *c.Value
			}
		}
		if twice {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, configKeyTwice
			resp.Resources = append(resp.Resources, res)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeClientMetrics:
			res.ErrorCode, res.ErrorMessage = alterClientMetrics(b, rr.ResourceName, cfgs, req.ValidateOnly)
		case kmsg.ConfigResourceTypeGroupConfig:
			res.ErrorCode, res.ErrorMessage = alterGroupConfigs(b, rr.ResourceName, cfgs, req.ValidateOnly)
		default:
			res.ErrorCode, res.ErrorMessage = alterTopicConfigs(b, rr.ResourceName, cfgs, req.ValidateOnly)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return now(resp)
}

var (
	resourceTwice  = strp("Each resource must appear at most once.")
	configKeyTwice = strp("Error due to duplicate config keys")
)

// configResource names a resource of the config APIs.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// repeatedResources returns the resources named more than once in rs (nil
// if none).
func repeatedResources[R any](rs []R, key func(*R) (kmsg.ConfigResourceType, string)) map[configResource]bool {
	if len(rs) < 2 {
		return nil
	}
	seen := make(map[configResource]bool, min(len(rs), 1024))
	var repeated map[configResource]bool
	for i := range rs {
		t, n := key(&rs[i])
		k := configResource{t, n}
		if seen[k] {
			if repeated == nil {
				repeated = map[configResource]bool{}
			}
			repeated[k] = true
		}
		seen[k] = true
	}
	return repeated
}

func alterTopicConfigs(b *Broker, name string, cfgs map[string]string, validateOnly bool) (int16, *string) {
	meta, ok := b.topicMeta(name)
	switch {
	case !ok:
		return kerr.UnknownTopicOrPartition.Code, strp("unknown topic " + name)
	case meta.Internal:
		return kerr.InvalidRequest.Code, strp("internal topic " + name + " cannot be changed")
	}
	return catalogErrorCode(b.reg.setConfigs(name, cfgs, validateOnly))
}
