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

func init() { regKey(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		if rr.ResourceType != kmsg.ConfigResourceTypeTopic {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, strp("only topic configs can be altered; broker settings are command-line flags")
			resp.Resources = append(resp.Resources, res)
			continue
		}
		cfgs := map[string]string{}
		for _, c := range rr.Configs {
			if c.Value != nil {
				cfgs[c.Name] = *c.Value
			}
		}
		res.ErrorCode, res.ErrorMessage = alterTopicConfigs(b, rr.ResourceName, cfgs, req.ValidateOnly)
		resp.Resources = append(resp.Resources, res)
	}
	return now(resp)
}

func alterTopicConfigs(b *Broker, name string, cfgs map[string]string, validateOnly bool) (int16, *string) {
	meta, ok := b.topicMeta(name)
	switch {
	case !ok:
		return kerr.UnknownTopicOrPartition.Code, strp("unknown topic " + name)
	case meta.Internal:
		return kerr.InvalidRequest.Code, strp("internal topic " + name + " cannot be changed")
	}
	return catalogErrorCode(b.setTopicConfigs(name, cfgs, validateOnly))
}
