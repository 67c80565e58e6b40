package admin

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization of the console and /api/v1: every request is served by a
// copy of the Server whose Broker is a view of the request's principal
// (authzView), which refuses a change with the Kafka error a Kafka client
// gets for the matching API (before calling the broker, so a refused
// change changes nothing) and leaves out of what it lists what the
// principal may not DESCRIBE:
//
//	POST   /groups/{g}/reset             OffsetCommit: READ on the group and on each topic
//	DELETE /groups/{g}                   DeleteGroups: DELETE on the group
//	DELETE /groups/{g}/offsets           OffsetDelete: DELETE on the group, READ on each topic
//	POST   /topics                       CreateTopics: CREATE on the cluster or the topic
//	DELETE /topics/{t}                   DeleteTopics: DELETE on the topic
//	POST   /topics/{t}/partitions        CreatePartitions: ALTER on the topic
//	POST   /topics/{t}/configs           IncrementalAlterConfigs: ALTER_CONFIGS on the topic
//	GET    /topics/{t}/configs           DescribeConfigs: DESCRIBE_CONFIGS on the topic
//	POST   /topics/{t}/records           Produce: WRITE on the topic
//	GET    /topics/{t}/records           Fetch: READ on the topic
//	POST   /topics/{t}/partitions/{p}/repair   ALTER on the cluster (no Kafka API repairs a log)
//	GET    /clients                      DESCRIBE on the cluster (the clients' pushed telemetry)
//	GET    /topics, /groups, /transactions, /overview   only what the principal may DESCRIBE
//	GET    /topics/{t}, /groups/{g}/...   DESCRIBE on it (403 otherwise, existing or not, as
//	                                     Kafka's TOPIC_AUTHORIZATION_FAILED says nothing of existence)
//
// A group's committed offsets, history and lag leave out the topics the
// principal may not DESCRIBE, as OffsetFetch does. Without --authorizer
// everything is allowed, as on the Kafka listeners.

// Authorizer is what the admin listener asks the broker's ACLs.
// *broker.AdminAPI implements it.
type Authorizer interface {
	Authorize(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool
}

type authzView struct {
	Broker
	az        Authorizer
	principal string
	host      string
}

func (v *authzView) ok(op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	return v.az.Authorize(v.principal, v.host, op, rt, name)
}

func (v *authzView) topicOK(op kmsg.ACLOperation, name string) bool {
	return v.ok(op, kmsg.ACLResourceTypeTopic, name)
}

func (v *authzView) groupOK(op kmsg.ACLOperation, name string) bool {
	return v.ok(op, kmsg.ACLResourceTypeGroup, name)
}

// refused is the error of a change the principal may not make.
func (v *authzView) refused(e *kerr.Error, op kmsg.ACLOperation, what string) error {
	return &broker.KafkaError{Err: e, Message: fmt.Sprintf("%s may not %s %s (ACLs: rewind acl --list)", v.principal, op, what)}
}

func (v *authzView) Topics() []broker.TopicInfo {
	var out []broker.TopicInfo
	for _, t := range v.Broker.Topics() {
		if v.topicOK(kmsg.ACLOperationDescribe, t.Name) {
			out = append(out, t)
		}
	}
	return out
}

func (v *authzView) Topic(name string) (broker.TopicInfo, bool) {
	if !v.topicOK(kmsg.ACLOperationDescribe, name) {
		return broker.TopicInfo{}, false
	}
	return v.Broker.Topic(name)
}

func (v *authzView) TopicConfigs(name string) ([]broker.TopicConfig, error) {
	if !v.topicOK(kmsg.ACLOperationDescribeConfigs, name) {
		return nil, v.refused(kerr.TopicAuthorizationFailed, kmsg.ACLOperationDescribeConfigs, "topic "+name)
	}
	return v.Broker.TopicConfigs(name)
}

func (v *authzView) CreateTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string, validateOnly bool) (broker.TopicInfo, error) {
	if !v.ok(kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, "kafka-cluster") && !v.topicOK(kmsg.ACLOperationCreate, name) {
		return broker.TopicInfo{}, v.refused(kerr.TopicAuthorizationFailed, kmsg.ACLOperationCreate, "topic "+name)
	}
	return v.Broker.CreateTopic(ctx, name, partitions, rf, configs, validateOnly)
}

func (v *authzView) DeleteTopic(ctx context.Context, name string) error {
	if !v.topicOK(kmsg.ACLOperationDelete, name) {
		return v.refused(kerr.TopicAuthorizationFailed, kmsg.ACLOperationDelete, "topic "+name)
	}
	return v.Broker.DeleteTopic(ctx, name)
}

func (v *authzView) AddPartitions(ctx context.Context, name string, total int32, validateOnly bool) error {
	if !v.topicOK(kmsg.ACLOperationAlter, name) {
		return v.refused(kerr.TopicAuthorizationFailed, kmsg.ACLOperationAlter, "topic "+name)
	}
	return v.Broker.AddPartitions(ctx, name, total, validateOnly)
}

func (v *authzView) AlterTopicConfigs(ctx context.Context, name string, set map[string]string, del []string, validateOnly bool) error {
	if !v.topicOK(kmsg.ACLOperationAlterConfigs, name) {
		return v.refused(kerr.TopicAuthorizationFailed, kmsg.ACLOperationAlterConfigs, "topic "+name)
	}
	return v.Broker.AlterTopicConfigs(ctx, name, set, del, validateOnly)
}

func (v *authzView) Produce(ctx context.Context, topic string, partition int32, recs []storage.Record) (broker.Produced, error) {
	if !v.topicOK(kmsg.ACLOperationWrite, topic) {
		return broker.Produced{}, v.refused(kerr.TopicAuthorizationFailed, kmsg.ACLOperationWrite, "topic "+topic)
	}
	return v.Broker.Produce(ctx, topic, partition, recs)
}

func (v *authzView) RepairPartition(topic string, partition int32, dryRun bool) (broker.RepairResult, error) {
	if !v.ok(kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, "kafka-cluster") {
		return broker.RepairResult{}, v.refused(kerr.ClusterAuthorizationFailed, kmsg.ACLOperationAlter, "the cluster")
	}
	return v.Broker.RepairPartition(topic, partition, dryRun)
}

func (v *authzView) Groups() []group.Summary {
	var out []group.Summary
	for _, g := range v.Broker.Groups() {
		if v.groupOK(kmsg.ACLOperationDescribe, g.Name) {
			out = append(out, g)
		}
	}
	return out
}

func (v *authzView) ConsumerGroupNames() []string {
	var out []string
	for _, g := range v.Broker.ConsumerGroupNames() {
		if v.groupOK(kmsg.ACLOperationDescribe, g) {
			out = append(out, g)
		}
	}
	return out
}

func (v *authzView) DescribeGroup(ctx context.Context, name string) (broker.GroupDescription, error) {
	if !v.groupOK(kmsg.ACLOperationDescribe, name) {
		return broker.GroupDescription{}, v.refused(kerr.GroupAuthorizationFailed, kmsg.ACLOperationDescribe, "group "+name)
	}
	return v.Broker.DescribeGroup(ctx, name)
}

// describable keeps the topics of a group's offsets the principal may
// DESCRIBE (OffsetFetch's filter); none of a group it may not DESCRIBE.
func (v *authzView) describable(g string, m map[string]map[int32]group.OffsetInfo) map[string]map[int32]group.OffsetInfo {
	if m == nil {
		return nil
	}
	if !v.groupOK(kmsg.ACLOperationDescribe, g) {
		return nil
	}
	maps.DeleteFunc(m, func(t string, _ map[int32]group.OffsetInfo) bool { return !v.topicOK(kmsg.ACLOperationDescribe, t) })
	return m
}

func (v *authzView) Committed(g string) map[string]map[int32]group.OffsetInfo {
	return v.describable(g, v.Broker.Committed(g))
}

func (v *authzView) CommittedAt(g string, t time.Time) map[string]map[int32]group.OffsetInfo {
	return v.describable(g, v.Broker.CommittedAt(g, t))
}

func (v *authzView) History(g string) []group.Commit {
	if !v.groupOK(kmsg.ACLOperationDescribe, g) {
		return nil
	}
	var out []group.Commit
	for _, c := range v.Broker.History(g) {
		if v.topicOK(kmsg.ACLOperationDescribe, c.Topic) {
			out = append(out, c)
		}
	}
	return out
}

func (v *authzView) CommitOffsets(ctx context.Context, g string, offsets map[string]map[int32]int64) error {
	if !v.groupOK(kmsg.ACLOperationRead, g) {
		return v.refused(kerr.GroupAuthorizationFailed, kmsg.ACLOperationRead, "group "+g)
	}
	for t := range offsets {
		if !v.topicOK(kmsg.ACLOperationRead, t) {
			return v.refused(kerr.TopicAuthorizationFailed, kmsg.ACLOperationRead, "topic "+t)
		}
	}
	return v.Broker.CommitOffsets(ctx, g, offsets)
}

func (v *authzView) DeleteGroup(ctx context.Context, g string) error {
	if !v.groupOK(kmsg.ACLOperationDelete, g) {
		return v.refused(kerr.GroupAuthorizationFailed, kmsg.ACLOperationDelete, "group "+g)
	}
	return v.Broker.DeleteGroup(ctx, g)
}

func (v *authzView) DeleteOffsets(ctx context.Context, g string, parts map[string][]int32) error {
	if !v.groupOK(kmsg.ACLOperationDelete, g) {
		return v.refused(kerr.GroupAuthorizationFailed, kmsg.ACLOperationDelete, "group "+g)
	}
	for t := range parts {
		if !v.topicOK(kmsg.ACLOperationRead, t) {
			return v.refused(kerr.TopicAuthorizationFailed, kmsg.ACLOperationRead, "topic "+t)
		}
	}
	return v.Broker.DeleteOffsets(ctx, g, parts)
}

func (v *authzView) OpenTransactions() []broker.OpenTxn {
	out := []broker.OpenTxn{}
	for _, t := range v.Broker.OpenTransactions() {
		// ListTransactions and DescribeProducers: the transactional id
		// (a hanging transaction has none: the topic's READ).
		if t.TransactionalID != "" && !v.ok(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, t.TransactionalID) {
			continue
		}
		if t.Topic != "" && !v.topicOK(kmsg.ACLOperationDescribe, t.Topic) {
			continue
		}
		out = append(out, t)
	}
	return out
}

func (v *authzView) LagStatus(g string) lageval.GroupStatus {
	st := v.Broker.LagStatus(g)
	if !v.groupOK(kmsg.ACLOperationDescribe, g) {
		return lageval.GroupStatus{Group: g, Partitions: []lageval.PartitionStatus{}}
	}
	kept := st.Partitions[:0]
	st.TotalLag, st.MaxLag = 0, nil
	for _, p := range st.Partitions {
		if v.topicOK(kmsg.ACLOperationDescribe, p.Topic) {
			kept = append(kept, p)
			st.TotalLag += p.CurrentLag
		}
	}
	st.Partitions, st.TotalPartitions = kept, len(kept)
	for i := range kept {
		if st.MaxLag == nil || kept[i].CurrentLag > st.MaxLag.CurrentLag {
			st.MaxLag = &kept[i]
		}
	}
	return st
}

func (v *authzView) LagWindows(g string) map[lageval.TopicPartition][]lageval.Commit {
	w := v.Broker.LagWindows(g)
	if !v.groupOK(kmsg.ACLOperationDescribe, g) {
		return nil
	}
	maps.DeleteFunc(w, func(tp lageval.TopicPartition, _ []lageval.Commit) bool {
		return !v.topicOK(kmsg.ACLOperationDescribe, tp.Topic)
	})
	return w
}

// routeCheck is the ACL a route needs before its handler runs, from its
// path values (nil: none beyond what the view checks).
type routeCheck func(v *authzView, r *http.Request) error

func needTopic(op kmsg.ACLOperation) routeCheck {
	return func(v *authzView, r *http.Request) error {
		if t := r.PathValue("topic"); !v.topicOK(op, t) {
			return v.refused(kerr.TopicAuthorizationFailed, op, "topic "+t)
		}
		return nil
	}
}

func needGroup(op kmsg.ACLOperation) routeCheck {
	return func(v *authzView, r *http.Request) error {
		if g := r.PathValue("group"); !v.groupOK(op, g) {
			return v.refused(kerr.GroupAuthorizationFailed, op, "group "+g)
		}
		return nil
	}
}

func needCluster(op kmsg.ACLOperation) routeCheck {
	return func(v *authzView, r *http.Request) error {
		if !v.ok(op, kmsg.ACLResourceTypeCluster, "kafka-cluster") {
			return v.refused(kerr.ClusterAuthorizationFailed, op, "the cluster")
		}
		return nil
	}
}

// authorized serves h with a copy of s whose Broker is r's principal's
// view, after check.
func (s *Server) authorized(check routeCheck, h func(*Server, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		v := &authzView{Broker: s.b, az: s.az, principal: requestPrincipal(r), host: host}
		if check != nil {
			if err := check(v, r); err != nil {
				writeErr(w, err)
				return
			}
		}
		c := *s
		c.b = v
		h(&c, w, r)
	}
}
