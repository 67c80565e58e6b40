package broker

import (
	"strconv"

	"github.com/rewindhq/rewind/catalog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs: v1-4 (Kafka 4.0 removed v0, KIP-896)
//
// Topic resources list every topic config Rewind knows with its effective
// value and source (dynamic topic override or default); broker resources
// (node "0") list the broker settings that shape topics and groups, read
// only; client metrics resources are the telemetry subscriptions
// (configs_clientmetrics.go). Other resource types get INVALID_REQUEST.
//
// Each distinct resource (type and name) is answered once: Kafka answers
// every repetition alike, and every answer carries all the configs of the
// resource, so a request of tiny repeated resources would otherwise ask for
// a thousand times its size. The response is reserved in
// --max-response-memory (respmem.go); one that alone would exceed it closes
// the connection (no top-level error code).
//
// Version notes:
//   - IncludeSynonyms and Source since v1. v3: ConfigType and Documentation.
//   - v4: flexible.

func init() { regKey(32, 1, 4, handleDescribeConfigs) }

func handleDescribeConfigs(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	req.Resources = dedupConfigResources(req.Resources)
	var n respSize
	n.set(len(req.Resources))
	perResource := len(catalog.Defs())
	if bc := len(b.brokerConfigs()); bc > perResource {
		perResource = bc
	}
	for _, rr := range req.Resources {
		n.elems(1, sizeOf[kmsg.DescribeConfigsResponseResource](), 16)
		n.str(len(rr.ResourceName) + 100) // and the error message
		exists := false
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			_, exists = b.topicMeta(rr.ResourceName)
		case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeClientMetrics, kmsg.ConfigResourceTypeGroupConfig:
			exists = true
		}
		if exists {
			// Every config at most, each with two synonyms and its text
			// (name, value, documentation: a few hundred bytes).
			n.elems(perResource, sizeOf[kmsg.DescribeConfigsResponseResourceConfig]()+2*sizeOf[kmsg.DescribeConfigsResponseResourceConfigConfigSynonym](), 512)
		}
	}
	if err := r.reserveResponse("DescribeConfigs", n); err != nil {
		return reply{}, err
	}
	resp.Resources = make([]kmsg.DescribeConfigsResponseResource, 0, len(req.Resources))
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		// The names asked, in a set: a linear search per config would make
		// a long list cost its length times the configs.
		var wanted map[string]struct{}
		if rr.ConfigNames != nil {
			wanted = make(map[string]struct{}, min(len(rr.ConfigNames), 64))
			for _, name := range rr.ConfigNames {
				wanted[name] = struct{}{}
			}
		}
		want := func(name string) bool {
			if wanted == nil {
				return true
			}
			_, ok := wanted[name]
			return ok
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := b.topicMeta(rr.ResourceName)
			if !ok && catalog.ValidateTopicName(rr.ResourceName) != nil {
				// As Kafka: a name no topic can have is not merely unknown.
				res.ErrorCode = kerr.InvalidTopicException.Code
				res.ErrorMessage = strp("invalid topic name " + rr.ResourceName)
				break
			}
			if !ok {
				res.ErrorCode = kerr.UnknownTopicOrPartition.Code
				res.ErrorMessage = strp("unknown topic " + rr.ResourceName)
				break
			}
			for _, d := range catalog.Defs() {
				if !want(d.Name) || !t.Listed(d) {
					continue
				}
				c := kmsg.NewDescribeConfigsResponseResourceConfig()
				c.Name, c.Value = d.Name, strp(t.Config(d.Name))
				c.ConfigType = kmsg.ConfigType(d.Type)
				if req.IncludeDocumentation {
					c.Documentation = strp(d.Doc)
				}
				_, set := t.Configs[d.Name]
				c.IsDefault = !set
				c.Source = kmsg.ConfigSourceDefaultConfig
				if set {
					c.Source = kmsg.ConfigSourceDynamicTopicConfig
				}
				if req.IncludeSynonyms {
					if set {
						c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(d.Name, t.Configs[d.Name], kmsg.ConfigSourceDynamicTopicConfig))
					}
					if d.Broker != "" && !brokerSynonymUnset[d.Broker] {
						c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(d.Broker, d.Default, kmsg.ConfigSourceDefaultConfig))
					}
				}
				res.Configs = append(res.Configs, c)
			}
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				res.ErrorCode = kerr.InvalidRequest.Code
				res.ErrorMessage = strp("unknown broker " + rr.ResourceName)
				break
			}
			for _, bc := range b.brokerConfigs() {
				if !want(bc.name) {
					continue
				}
				c := kmsg.NewDescribeConfigsResponseResourceConfig()
				c.Name, c.Value, c.ReadOnly = bc.name, strp(bc.value), true
				c.Source = kmsg.ConfigSourceStaticBrokerConfig
				c.ConfigType = kmsg.ConfigType(bc.typ)
				if req.IncludeDocumentation {
					c.Documentation = strp(bc.doc)
				}
				res.Configs = append(res.Configs, c)
			}
		case kmsg.ConfigResourceTypeClientMetrics:
			describeClientMetrics(b, &res, want, req.IncludeSynonyms, req.IncludeDocumentation)
		case kmsg.ConfigResourceTypeGroupConfig:
			describeGroupConfigs(b, &res, want, req.IncludeSynonyms, req.IncludeDocumentation)
		default:
			res.ErrorCode = kerr.InvalidRequest.Code
			res.ErrorMessage = strp("unsupported resource type " + rr.ResourceType.String())
		}
		resp.Resources = append(resp.Resources, res)
	}
	return now(resp)
}

// dedupConfigResources keeps the first of each (type, name), merging the
// config names of its repetitions (all of them if any asks for all).
func dedupConfigResources(rs []kmsg.DescribeConfigsRequestResource) []kmsg.DescribeConfigsRequestResource {
	if len(rs) < 2 {
		return rs
	}
	type key struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	first := make(map[key]int, min(len(rs), 1024))
	out := rs[:0]
	for _, r := range rs {
		k := key{r.ResourceType, r.ResourceName}
		i, dup := first[k]
		if !dup {
			first[k] = len(out)
			out = append(out, r)
			continue
		}
		switch {
		case out[i].ConfigNames == nil:
		case r.ConfigNames == nil:
			out[i].ConfigNames = nil
		default:
			out[i].ConfigNames = append(out[i].ConfigNames, r.ConfigNames...)
		}
	}
	clear(rs[len(out):])
	return out
}

func synonym(name, value string, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, strp(value), src
	return s
}

type brokerConfig struct {
	name, value, doc string
	typ              catalog.ConfigType
}

// brokerConfigs are the broker settings, under Kafka's names, that clients
// and tools commonly read.
func (b *Broker) brokerConfigs() []brokerConfig {
	ms := func(d interface{ Milliseconds() int64 }) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	c := b.cfg
	return []brokerConfig{
		{"auto.create.topics.enable", strconv.FormatBool(c.AutoCreateTopics), "Create topics named in Metadata requests (--auto-create-topics).", catalog.TypeBoolean},
		{"broker.id", "0", "The id of this broker.", catalog.TypeInt},
		{"group.initial.rebalance.delay.ms", ms(c.GroupInitialRebalanceDelay), "Wait before the first rebalance of an empty group (--group-initial-rebalance-delay).", catalog.TypeInt},
		{"group.max.session.timeout.ms", ms(c.GroupMaxSessionTimeout), "Largest session timeout a member may ask for.", catalog.TypeInt},
		{"group.min.session.timeout.ms", ms(c.GroupMinSessionTimeout), "Smallest session timeout a member may ask for.", catalog.TypeInt},
		{"message.max.bytes", "1048588", "Default largest record batch (topic max.message.bytes).", catalog.TypeInt},
		{"num.partitions", strconv.Itoa(int(c.DefaultPartitions)), "Partitions of auto-created topics (--default-partitions).", catalog.TypeInt},
		{"offsets.retention.minutes", strconv.FormatInt(int64(c.OffsetsRetention.Minutes()), 10), "Committed offsets of an empty group are kept this long.", catalog.TypeInt},
		{"offsets.topic.num.partitions", strconv.Itoa(int(c.OffsetsTopicPartitions)), "Partitions of the internal " + OffsetsTopic + " topic.", catalog.TypeInt},
		{"socket.request.max.bytes", strconv.Itoa(int(c.MaxRequestBytes)), "Largest request accepted (--max-request-bytes).", catalog.TypeInt},
	}
}

// brokerSynonymUnset are the broker configs whose Kafka definition has no
// default of its own (the value comes from a coarser unit: log.retention.hours,
// log.roll.hours), or none at all (log.flush.interval.ms, log.roll.jitter.ms):
// Kafka lists a synonym only when it has a value, so a topic's synonyms
// never name these unless an operator set them, and Rewind has no broker
// setting for any.
var brokerSynonymUnset = map[string]bool{
	"log.retention.ms": true, "log.roll.ms": true, "log.flush.interval.ms": true, "log.roll.jitter.ms": true,
}
