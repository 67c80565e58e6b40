package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization of the topic and config admin APIs (acl_checks.go).

// CreateTopics: CREATE on the cluster, else CREATE on each topic, else
// TOPIC_AUTHORIZATION_FAILED (a name repeated in the request is left to
// the handler's INVALID_REQUEST, as Kafka checks duplicates first); a
// created topic whose configs the principal may not DESCRIBE_CONFIGS is
// answered without them, config error TOPIC_AUTHORIZATION_FAILED.
func checkCreateTopics(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	var denied []kmsg.CreateTopicsRequestTopic
	if !r.allowedCluster(kmsg.ACLOperationCreate) {
		create := r.authCache(kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic)
		denied = split(&req.Topics, func(t *kmsg.CreateTopicsRequestTopic) string { return t.Topic },
			func(name string) bool { return seen[name] > 1 || create.ok(name) })
	}
	describe := r.authCache(kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic)
	post := func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreateTopicsResponse)
		for i := range cr.Topics {
			if t := &cr.Topics[i]; t.ErrorCode == 0 && !describe.ok(t.Topic) {
				t.Configs = nil
				t.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
			}
		}
		for _, t := range denied {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
			st.NumPartitions, st.ReplicationFactor = -1, -1
			st.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
			cr.Topics = append(cr.Topics, st)
		}
	}
	if len(req.Topics) == 0 && len(denied) > 0 {
		return respond(r, func(resp *kmsg.CreateTopicsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// DeleteTopics: DELETE on each topic, else TOPIC_AUTHORIZATION_FAILED
// with its name (v6 by id: with its id, and its name only if the
// principal may DESCRIBE it).
func checkDeleteTopics(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	del := r.authCache(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic)
	var denied []kmsg.DeleteTopicsResponseTopic
	deny := func(name *string, id [16]byte) {
		t := kmsg.NewDeleteTopicsResponseTopic()
		t.Topic, t.TopicID, t.ErrorCode = name, id, kerr.TopicAuthorizationFailed.Code
		denied = append(denied, t)
	}
	for _, d := range split(&req.TopicNames, func(s *string) string { return *s }, del.ok) {
		deny(kmsg.StringPtr(d), [16]byte{})
	}
	var idName map[[16]byte]string
	kept := req.Topics[:0]
	for _, t := range req.Topics {
		if t.Topic != nil && *t.Topic != "" {
			if !del.ok(*t.Topic) {
				deny(t.Topic, [16]byte{})
				continue
			}
		} else {
			if idName == nil {
				idName = map[[16]byte]string{}
				for _, m := range r.c.b.reg.list() {
					idName[m.ID] = m.Name
				}
			}
			if name, ok := idName[t.TopicID]; ok && !del.ok(name) {
				if r.allowedTopic(kmsg.ACLOperationDescribe, name) {
					deny(kmsg.StringPtr(name), t.TopicID)
				} else {
					deny(nil, t.TopicID)
				}
				continue
			}
		}
		kept = append(kept, t)
	}
	req.Topics = kept
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteTopicsResponse)
		dr.Topics = append(dr.Topics, denied...)
	}
	if len(req.Topics) == 0 && len(req.TopicNames) == 0 {
		return respond(r, func(resp *kmsg.DeleteTopicsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// DeleteRecords: DELETE on each topic, else TOPIC_AUTHORIZATION_FAILED.
func checkDeleteRecords(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	denied := split(&req.Topics, func(t *kmsg.DeleteRecordsRequestTopic) string { return t.Topic }, r.authCache(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic).ok)
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteRecordsResponse)
		for _, t := range denied {
			st := kmsg.NewDeleteRecordsResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewDeleteRecordsResponseTopicPartition()
				sp.Partition, sp.LowWatermark, sp.ErrorCode = p.Partition, -1, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			dr.Topics = append(dr.Topics, st)
		}
	}
	if len(req.Topics) == 0 {
		return respond(r, func(resp *kmsg.DeleteRecordsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// CreatePartitions: ALTER on each topic, else TOPIC_AUTHORIZATION_FAILED
// with Kafka's message.
func checkCreatePartitions(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	denied := split(&req.Topics, func(t *kmsg.CreatePartitionsRequestTopic) string { return t.Topic }, r.authCache(kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic).ok)
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreatePartitionsResponse)
		for _, t := range denied {
			st := kmsg.NewCreatePartitionsResponseTopic()
			st.Topic, st.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
			st.ErrorMessage = strp("The topic authorization is failed.")
			cr.Topics = append(cr.Topics, st)
		}
	}
	if len(req.Topics) == 0 {
		return respond(r, func(resp *kmsg.CreatePartitionsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// configAuth is the resource and error of a config resource's check
// (Kafka's ConfigHelper): the cluster for brokers, broker loggers and
// client metrics, else the topic or group.
func configAuth(rt kmsg.ConfigResourceType, name string) (kmsg.ACLResourceType, string, *kerr.Error, string) {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		return kmsg.ACLResourceTypeTopic, name, kerr.TopicAuthorizationFailed, "Topic authorization failed."
	case kmsg.ConfigResourceTypeGroupConfig:
		return kmsg.ACLResourceTypeGroup, name, kerr.GroupAuthorizationFailed, "Group authorization failed."
	}
	return kmsg.ACLResourceTypeCluster, "kafka-cluster", kerr.ClusterAuthorizationFailed, "Cluster authorization failed."
}

type configDenied struct {
	rt   kmsg.ConfigResourceType
	name string
	err  *kerr.Error
	msg  string
}

// splitConfigs keeps the resources op is allowed on.
func splitConfigs[T any](r *request, ts *[]T, op kmsg.ACLOperation, res func(*T) (kmsg.ConfigResourceType, string)) []configDenied {
	var denied []configDenied
	kept := (*ts)[:0]
	for _, t := range *ts {
		crt, name := res(&t)
		art, aname, e, msg := configAuth(crt, name)
		if r.allowed(op, art, aname) {
			kept = append(kept, t)
			continue
		}
		denied = append(denied, configDenied{crt, name, e, msg})
	}
	*ts = kept
	return denied
}

// DescribeConfigs: DESCRIBE_CONFIGS on each resource (configAuth), else
// its authorization error with Kafka's message.
func checkDescribeConfigs(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	denied := splitConfigs(r, &req.Resources, kmsg.ACLOperationDescribeConfigs, func(t *kmsg.DescribeConfigsRequestResource) (kmsg.ConfigResourceType, string) {
		return t.ResourceType, t.ResourceName
	})
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeConfigsResponse)
		for _, d := range denied {
			res := kmsg.NewDescribeConfigsResponseResource()
			res.ResourceType, res.ResourceName, res.ErrorCode, res.ErrorMessage = d.rt, d.name, d.err.Code, strp(d.msg)
			dr.Resources = append(dr.Resources, res)
		}
	}
	if len(req.Resources) == 0 {
		return respond(r, func(resp *kmsg.DescribeConfigsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// AlterConfigs: ALTER_CONFIGS on each resource, else its authorization
// error (no message, as Kafka).
func checkAlterConfigs(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	denied := splitConfigs(r, &req.Resources, kmsg.ACLOperationAlterConfigs, func(t *kmsg.AlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
		return t.ResourceType, t.ResourceName
	})
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		ar := resp.(*kmsg.AlterConfigsResponse)
		for _, d := range denied {
			res := kmsg.NewAlterConfigsResponseResource()
			res.ResourceType, res.ResourceName, res.ErrorCode = d.rt, d.name, d.err.Code
			ar.Resources = append(ar.Resources, res)
		}
	}
	if len(req.Resources) == 0 {
		return respond(r, func(resp *kmsg.AlterConfigsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// IncrementalAlterConfigs: as AlterConfigs.
func checkIncrementalAlterConfigs(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	denied := splitConfigs(r, &req.Resources, kmsg.ACLOperationAlterConfigs, func(t *kmsg.IncrementalAlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
		return t.ResourceType, t.ResourceName
	})
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		ar := resp.(*kmsg.IncrementalAlterConfigsResponse)
		for _, d := range denied {
			res := kmsg.NewIncrementalAlterConfigsResponseResource()
			res.ResourceType, res.ResourceName, res.ErrorCode = d.rt, d.name, d.err.Code
			ar.Resources = append(ar.Resources, res)
		}
	}
	if len(req.Resources) == 0 {
		return respond(r, func(resp *kmsg.IncrementalAlterConfigsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// DescribeProducers: READ on each topic, else TOPIC_AUTHORIZATION_FAILED.
func checkDescribeProducers(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	denied := split(&req.Topics, func(t *kmsg.DescribeProducersRequestTopic) string { return t.Topic }, r.authCache(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic).ok)
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeProducersResponse)
		for _, t := range denied {
			st := kmsg.NewDescribeProducersResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewDescribeProducersResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			dr.Topics = append(dr.Topics, st)
		}
	}
	if len(req.Topics) == 0 {
		return respond(r, func(resp *kmsg.DescribeProducersResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}
