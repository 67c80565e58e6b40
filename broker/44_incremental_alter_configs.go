package broker

import (
	"strings"

	"github.com/rewindhq/rewind/catalog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs: v0-1
//
// SET and DELETE change one topic config; APPEND and SUBTRACT work on list
// configs (cleanup.policy). A config named twice in one resource is an
// INVALID_REQUEST. Broker configs are static.
//
// As Kafka (ConfigAdminManager.preprocess), every occurrence of a resource
// named more than once gets INVALID_REQUEST and changes nothing. The
// response is reserved in --max-response-memory (respmem.go); a request
// whose response alone would exceed it closes the connection and changes
// nothing.

func init() { regKey(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	repeated := repeatedResources(req.Resources, func(r *kmsg.IncrementalAlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
		return r.ResourceType, r.ResourceName
	})
	var n respSize
	n.set(len(req.Resources))
	n.elems(len(req.Resources), sizeOf[kmsg.IncrementalAlterConfigsResponseResource](), 128) // with a message
	for _, rr := range req.Resources {
		n.str(len(rr.ResourceName))
	}
	if err := r.reserveResponse("IncrementalAlterConfigs", n); err != nil {
		return reply{}, err
	}
	resp.Resources = make([]kmsg.IncrementalAlterConfigsResponseResource, 0, len(req.Resources))
	for _, rr := range req.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		if repeated[configResource{rr.ResourceType, rr.ResourceName}] {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, resourceTwice
		} else {
			res.ErrorCode, res.ErrorMessage = incrementalAlter(b, rr, req.ValidateOnly)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return now(resp)
}

func incrementalAlter(b *Broker, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, *string) {
	if rr.ResourceType == kmsg.ConfigResourceTypeClientMetrics {
		return incrementalAlterClientMetrics(b, rr, validateOnly)
	}
	if rr.ResourceType == kmsg.ConfigResourceTypeGroupConfig {
		return incrementalAlterGroupConfigs(b, rr, validateOnly)
	}
	if rr.ResourceType != kmsg.ConfigResourceTypeTopic {
		return kerr.InvalidRequest.Code, strp("only topic configs can be altered; broker settings are command-line flags")
	}
	meta, ok := b.topicMeta(rr.ResourceName)
	if !ok {
		return kerr.UnknownTopicOrPartition.Code, strp("unknown topic " + rr.ResourceName)
	}
	cfgs := map[string]string{}
	for k, v := range meta.Configs {
		cfgs[k] = v
	}
	seen := map[string]bool{}
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return kerr.InvalidRequest.Code, strp("config " + c.Name + " is changed twice in one request")
		}
		seen[c.Name] = true
		d, known := catalog.Def(c.Name)
		if !known {
			return kerr.InvalidConfig.Code, strp("unknown topic config name: " + c.Name)
		}
		val := ""
		if c.Value != nil {
			val = *c.Value
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				// Kafka refuses a SET without a value as a malformed
				// request, not as a bad config (DELETE is how to unset).
				return kerr.InvalidRequest.Code, strp("null value not supported for SET of " + c.Name)
			}
			cfgs[c.Name] = val
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cfgs, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if d.Type != catalog.TypeList {
				return kerr.InvalidConfig.Code, strp(c.Name + " is not a list config")
			}
			cfgs[c.Name] = applyListOp(meta.Config(c.Name), val, c.Op)
		default:
			return kerr.InvalidRequest.Code, strp("unknown config operation")
		}
	}
	return alterTopicConfigs(b, rr.ResourceName, cfgs, validateOnly)
}

// applyListOp applies APPEND or SUBTRACT of the items of val to the list
// cur.
func applyListOp(cur, val string, op kmsg.IncrementalAlterConfigOp) string {
	items := splitList(cur)
	for _, v := range splitList(val) {
		i := indexOf(items, v)
		if op == kmsg.IncrementalAlterConfigOpAppend && i < 0 {
			items = append(items, v)
		} else if op == kmsg.IncrementalAlterConfigOpSubtract && i >= 0 {
			items = append(items[:i], items[i+1:]...)
		}
	}
	return strings.Join(items, ",")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}
