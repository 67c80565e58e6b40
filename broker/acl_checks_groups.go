package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization of the group, coordinator and transaction APIs
// (acl_checks.go).

func init() {
	regAuth(8, checkOffsetCommit)
	regAuth(9, checkOffsetFetch)
	regAuth(10, checkFindCoordinator)
	regAuth(11, groupRead(func(r *request) string { return r.kreq.(*kmsg.JoinGroupRequest).Group }, func(resp kmsg.Response) {
		jr := resp.(*kmsg.JoinGroupResponse)
		jr.ErrorCode, jr.Generation, jr.LeaderID, jr.MemberID = kerr.GroupAuthorizationFailed.Code, -1, "", ""
		jr.Protocol = nil
		if jr.Version < 7 {
			jr.Protocol = strp("")
		}
	}))
	syncRead := groupRead(func(r *request) string { return r.kreq.(*kmsg.SyncGroupRequest).Group }, func(resp kmsg.Response) {
		resp.(*kmsg.SyncGroupResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code
	})
	regAuth(14, func(r *request) (kmsg.Response, func(kmsg.Response), error) {
		// v5+ without protocol type and name: Kafka answers
		// INCONSISTENT_GROUP_PROTOCOL before it authorizes (the handler's).
		if req := r.kreq.(*kmsg.SyncGroupRequest); req.Version >= 5 && (req.ProtocolType == nil || req.Protocol == nil) {
			return nil, nil, nil
		}
		return syncRead(r)
	})
	regAuth(12, groupRead(func(r *request) string { return r.kreq.(*kmsg.HeartbeatRequest).Group }, func(resp kmsg.Response) {
		resp.(*kmsg.HeartbeatResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code
	}))
	regAuth(13, groupRead(func(r *request) string { return r.kreq.(*kmsg.LeaveGroupRequest).Group }, func(resp kmsg.Response) {
		resp.(*kmsg.LeaveGroupResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code
	}))
	regAuth(68, checkConsumerGroupHeartbeat)
	regAuth(15, checkDescribeGroups)
	regAuth(16, checkListGroups)
	regAuth(42, checkDeleteGroups)
	regAuth(47, checkOffsetDelete)
	regAuth(69, checkConsumerGroupDescribe)
	regAuth(76, checkShareGroupHeartbeat)
	regAuth(77, checkShareGroupDescribe)
	regAuth(22, checkInitProducerID)
	regAuth(24, checkAddPartitionsToTxn)
	regAuth(25, checkAddOffsetsToTxn)
	regAuth(26, checkEndTxn)
	regAuth(27, checkWriteTxnMarkers)
	regAuth(28, checkTxnOffsetCommit)
	regAuth(65, checkDescribeTransactions)
	regAuth(66, checkListTransactions)
}

// groupRead is the check of JoinGroup, SyncGroup, Heartbeat, LeaveGroup
// and ConsumerGroupHeartbeat: READ on the group, else the request is
// answered with GROUP_AUTHORIZATION_FAILED (set by deny).
func groupRead(group func(*request) string, deny func(kmsg.Response)) authCheck {
	return func(r *request) (kmsg.Response, func(kmsg.Response), error) {
		if r.allowedGroup(kmsg.ACLOperationRead, group(r)) {
			return nil, nil, nil
		}
		resp := r.kreq.ResponseKind()
		deny(resp)
		return resp, nil, nil
	}
}

// ConsumerGroupHeartbeat: READ on the group, else
// GROUP_AUTHORIZATION_FAILED; then DESCRIBE on every subscribed topic
// name, else TOPIC_AUTHORIZATION_FAILED (no message, as Kafka) and the
// heartbeat is not handled.
func checkConsumerGroupHeartbeat(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	code := r.groupReadTopicsDescribe(req.Group, req.SubscribedTopicNames)
	if code == 0 {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.ConsumerGroupHeartbeatResponse) { resp.ErrorCode = code }), nil, nil
}

// groupReadTopicsDescribe is the check of a heartbeat that subscribes:
// READ on the group, else GROUP_AUTHORIZATION_FAILED; DESCRIBE on each
// topic, else TOPIC_AUTHORIZATION_FAILED; 0 when both pass.
func (r *request) groupReadTopicsDescribe(group string, topics []string) int16 {
	if !r.allowedGroup(kmsg.ACLOperationRead, group) {
		return kerr.GroupAuthorizationFailed.Code
	}
	describe := r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	for _, t := range topics {
		if !describe.ok(t) {
			return kerr.TopicAuthorizationFailed.Code
		}
	}
	return 0
}

// ShareGroupHeartbeat: READ on the group, else GROUP_AUTHORIZATION_FAILED;
// then DESCRIBE on every subscribed topic, else TOPIC_AUTHORIZATION_FAILED.
// ShareFetch and ShareAcknowledge check READ on the group and on each
// topic themselves (78_share_fetch.go, 79_share_acknowledge.go).
func checkShareGroupHeartbeat(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.ShareGroupHeartbeatRequest)
	code := r.groupReadTopicsDescribe(req.GroupID, req.SubscribedTopicNames)
	if code == 0 {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.ShareGroupHeartbeatResponse) { resp.ErrorCode = code }), nil, nil
}

// ShareGroupDescribe: DESCRIBE on each group, else
// GROUP_AUTHORIZATION_FAILED for it.
func checkShareGroupDescribe(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.ShareGroupDescribeRequest)
	denied := split(&req.GroupIDs, func(g *string) string { return *g }, r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup).ok)
	if len(denied) == 0 && !req.IncludeAuthorizedOperations {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		dr := resp.(*kmsg.ShareGroupDescribeResponse)
		if req.IncludeAuthorizedOperations {
			for i := range dr.Groups {
				if g := &dr.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = r.authorizedOps(kmsg.ACLResourceTypeGroup, g.GroupID, groupOperations)
				}
			}
		}
		for _, g := range denied {
			d := kmsg.NewShareGroupDescribeResponseGroup()
			d.GroupID, d.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			dr.Groups = append(dr.Groups, d)
		}
	}
	if len(req.GroupIDs) == 0 && len(denied) > 0 {
		return respond(r, func(resp *kmsg.ShareGroupDescribeResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// topicNames resolves topic ids (requests of the versions that name
// topics by id).
func (r *request) topicNames() map[[16]byte]string {
	m := map[[16]byte]string{}
	for _, t := range r.c.b.reg.list() {
		m[t.ID] = t.Name
	}
	return m
}

// OffsetCommit: READ on the group, else every partition
// GROUP_AUTHORIZATION_FAILED; READ on each topic, else
// TOPIC_AUTHORIZATION_FAILED; nothing authorized: not committed.
func checkOffsetCommit(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	all := func(resp *kmsg.OffsetCommitResponse, ts []kmsg.OffsetCommitRequestTopic, code int16) {
		for _, t := range ts {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
	if !r.allowedGroup(kmsg.ACLOperationRead, req.Group) {
		return respond(r, func(resp *kmsg.OffsetCommitResponse) { all(resp, req.Topics, kerr.GroupAuthorizationFailed.Code) }), nil, nil
	}
	read := r.authCache(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic).ok
	denied := split(&req.Topics, func(t *kmsg.OffsetCommitRequestTopic) string {
		if req.Version < 10 {
			return t.Topic
		}
		n, _ := r.c.b.reg.byID(t.TopicID) // v10+: by id; unknown ones are the handler's
		return n
	}, func(n string) bool { return (req.Version >= 10 && n == "") || read(n) })
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		all(resp.(*kmsg.OffsetCommitResponse), denied, kerr.TopicAuthorizationFailed.Code)
	}
	if len(req.Topics) == 0 {
		return respond(r, func(resp *kmsg.OffsetCommitResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// OffsetFetch: DESCRIBE on the group, else GROUP_AUTHORIZATION_FAILED
// (v8+: that group's error); of all a group's offsets (no topics asked)
// only the topics the principal may DESCRIBE; a topic asked for without
// DESCRIBE gets TOPIC_AUTHORIZATION_FAILED per partition, offset -1.
func checkOffsetFetch(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	describe := r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	if req.Version < 8 {
		if !r.allowedGroup(kmsg.ACLOperationDescribe, req.Group) {
			return respond(r, func(resp *kmsg.OffsetFetchResponse) {
				resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
				if resp.Version < 2 { // no top-level error: on each partition
					for _, t := range req.Topics {
						st := kmsg.NewOffsetFetchResponseTopic()
						st.Topic = t.Topic
						for _, p := range t.Partitions {
							sp := kmsg.NewOffsetFetchResponseTopicPartition()
							sp.Partition, sp.Offset, sp.ErrorCode = p, -1, kerr.GroupAuthorizationFailed.Code
							st.Partitions = append(st.Partitions, sp)
						}
						resp.Topics = append(resp.Topics, st)
					}
				}
			}), nil, nil
		}
		if req.Topics == nil {
			return nil, func(resp kmsg.Response) {
				fr := resp.(*kmsg.OffsetFetchResponse)
				fr.Topics = keepTopics(fr.Topics, func(t *kmsg.OffsetFetchResponseTopic) string { return t.Topic }, describe.ok)
			}, nil
		}
		denied := split(&req.Topics, func(t *kmsg.OffsetFetchRequestTopic) string { return t.Topic }, describe.ok)
		if len(denied) == 0 {
			return nil, nil, nil
		}
		return nil, func(resp kmsg.Response) {
			fr := resp.(*kmsg.OffsetFetchResponse)
			if fr.ErrorCode != 0 {
				return
			}
			for _, t := range denied {
				st := kmsg.NewOffsetFetchResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewOffsetFetchResponseTopicPartition()
					sp.Partition, sp.Offset, sp.ErrorCode = p, -1, kerr.TopicAuthorizationFailed.Code
					st.Partitions = append(st.Partitions, sp)
				}
				fr.Topics = append(fr.Topics, st)
			}
		}, nil
	}
	// v8+: per group.
	deniedGroups := split(&req.Groups, func(g *kmsg.OffsetFetchRequestGroup) string { return g.Group }, r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup).ok)
	allTopics := map[string]bool{}
	deniedTopics := map[string][]kmsg.OffsetFetchRequestGroupTopic{}
	var names map[[16]byte]string
	for i := range req.Groups {
		g := &req.Groups[i]
		if g.Topics == nil {
			allTopics[g.Group] = true
			continue
		}
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			name := t.Topic
			if req.Version >= 10 {
				if names == nil {
					names = r.topicNames()
				}
				name = names[t.TopicID]
			}
			if name != "" && !describe.ok(name) {
				deniedTopics[g.Group] = append(deniedTopics[g.Group], t)
				continue
			}
			kept = append(kept, t)
		}
		g.Topics = kept
	}
	post := func(resp kmsg.Response) {
		fr := resp.(*kmsg.OffsetFetchResponse)
		for i := range fr.Groups {
			g := &fr.Groups[i]
			if g.ErrorCode != 0 {
				continue
			}
			if allTopics[g.Group] {
				g.Topics = keepTopics(g.Topics, func(t *kmsg.OffsetFetchResponseGroupTopic) string {
					if req.Version >= 10 {
						if names == nil {
							names = r.topicNames()
						}
						return names[t.TopicID]
					}
					return t.Topic
				}, describe.ok)
			}
			for _, t := range deniedTopics[g.Group] {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic, st.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.ErrorCode = p, -1, kerr.TopicAuthorizationFailed.Code
					st.Partitions = append(st.Partitions, sp)
				}
				g.Topics = append(g.Topics, st)
			}
		}
		for _, d := range deniedGroups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = d.Group, kerr.GroupAuthorizationFailed.Code
			fr.Groups = append(fr.Groups, g)
		}
	}
	if len(req.Groups) == 0 {
		return respond(r, func(resp *kmsg.OffsetFetchResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// keepTopics keeps the elements whose name ok allows.
func keepTopics[T any](ts []T, name func(*T) string, ok func(string) bool) []T {
	kept := ts[:0]
	for _, t := range ts {
		if ok(name(&t)) {
			kept = append(kept, t)
		}
	}
	clear(ts[len(kept):])
	return kept
}

// FindCoordinator: DESCRIBE on the group (key type 0) or transactional id
// (1), else GROUP_AUTHORIZATION_FAILED or
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED and no node; v4+ per key.
func checkFindCoordinator(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	rt, code := kmsg.ACLResourceTypeGroup, kerr.GroupAuthorizationFailed
	switch req.CoordinatorType {
	case 0:
	case 1:
		rt, code = kmsg.ACLResourceTypeTransactionalId, kerr.TransactionalIDAuthorizationFailed
	default:
		return nil, nil, nil // the handler refuses the type
	}
	ok := r.authCache(kmsg.ACLOperationDescribe, rt).ok
	if req.Version < 4 {
		if ok(req.CoordinatorKey) {
			return nil, nil, nil
		}
		return respond(r, func(resp *kmsg.FindCoordinatorResponse) {
			resp.ErrorCode, resp.ErrorMessage = code.Code, strp(code.Message)
			resp.NodeID, resp.Host, resp.Port = -1, "", -1
		}), nil, nil
	}
	denied := split(&req.CoordinatorKeys, func(k *string) string { return *k }, ok)
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		fr := resp.(*kmsg.FindCoordinatorResponse)
		for _, k := range denied {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.ErrorMessage = k, code.Code, strp(code.Message)
			c.NodeID, c.Host, c.Port = -1, "", -1
			fr.Coordinators = append(fr.Coordinators, c)
		}
	}
	if len(req.CoordinatorKeys) == 0 {
		return respond(r, func(resp *kmsg.FindCoordinatorResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// DescribeGroups: DESCRIBE on each group, else GROUP_AUTHORIZATION_FAILED;
// IncludeAuthorizedOperations (v3+) gives the principal's operations.
func checkDescribeGroups(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	denied := split(&req.Groups, func(g *string) string { return *g }, r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup).ok)
	withOps := req.Version >= 3 && req.IncludeAuthorizedOperations
	if len(denied) == 0 && !withOps {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeGroupsResponse)
		if withOps { // the principal's, not every operation's
			for i := range dr.Groups {
				if g := &dr.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = r.authorizedOps(kmsg.ACLResourceTypeGroup, g.Group, groupOperations)
				}
			}
		}
		for _, g := range denied {
			d := kmsg.NewDescribeGroupsResponseGroup()
			d.Group, d.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			dr.Groups = append(dr.Groups, d)
		}
	}
	if len(req.Groups) == 0 && len(denied) > 0 {
		return respond(r, func(resp *kmsg.DescribeGroupsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// ConsumerGroupDescribe: as DescribeGroups (IncludeAuthorizedOperations:
// the principal's operations).
func checkConsumerGroupDescribe(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.ConsumerGroupDescribeRequest)
	denied := split(&req.Groups, func(g *string) string { return *g }, r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup).ok)
	if len(denied) == 0 && !req.IncludeAuthorizedOperations {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		dr := resp.(*kmsg.ConsumerGroupDescribeResponse)
		if req.IncludeAuthorizedOperations {
			for i := range dr.Groups {
				if g := &dr.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = r.authorizedOps(kmsg.ACLResourceTypeGroup, g.Group, groupOperations)
				}
			}
		}
		for _, g := range denied {
			d := kmsg.NewConsumerGroupDescribeResponseGroup()
			d.Group, d.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			dr.Groups = append(dr.Groups, d)
		}
	}
	if len(req.Groups) == 0 && len(denied) > 0 {
		return respond(r, func(resp *kmsg.ConsumerGroupDescribeResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// ListGroups: every group with DESCRIBE on the cluster, else the groups
// the principal may DESCRIBE.
func checkListGroups(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationDescribe) {
		return nil, nil, nil
	}
	ok := r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup).ok
	return nil, func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListGroupsResponse)
		lr.Groups = keepTopics(lr.Groups, func(g *kmsg.ListGroupsResponseGroup) string { return g.Group }, ok)
	}, nil
}

// DeleteGroups: DELETE on each group, else GROUP_AUTHORIZATION_FAILED.
func checkDeleteGroups(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	denied := split(&req.Groups, func(g *string) string { return *g }, r.authCache(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup).ok)
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range denied {
			d := kmsg.NewDeleteGroupsResponseGroup()
			d.Group, d.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			dr.Groups = append(dr.Groups, d)
		}
	}
	if len(req.Groups) == 0 {
		return respond(r, func(resp *kmsg.DeleteGroupsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// OffsetDelete: DELETE on the group, else GROUP_AUTHORIZATION_FAILED; READ
// on each topic, else TOPIC_AUTHORIZATION_FAILED.
func checkOffsetDelete(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	if !r.allowedGroup(kmsg.ACLOperationDelete, req.Group) {
		return respond(r, func(resp *kmsg.OffsetDeleteResponse) { resp.ErrorCode = kerr.GroupAuthorizationFailed.Code }), nil, nil
	}
	denied := split(&req.Topics, func(t *kmsg.OffsetDeleteRequestTopic) string { return t.Topic }, r.authCache(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic).ok)
	if len(denied) == 0 {
		return nil, nil, nil
	}
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.OffsetDeleteResponse)
		if dr.ErrorCode != 0 {
			return
		}
		for _, t := range denied {
			st := kmsg.NewOffsetDeleteResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetDeleteResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			dr.Topics = append(dr.Topics, st)
		}
	}, nil
}

// InitProducerId: WRITE on the transactional id, else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; an idempotent producer needs
// IDEMPOTENT_WRITE on the cluster or WRITE on some topic, else
// CLUSTER_AUTHORIZATION_FAILED.
func checkInitProducerID(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	var code int16
	if req.TransactionalID != nil {
		if !r.allowedTxn(kmsg.ACLOperationWrite, *req.TransactionalID) {
			code = kerr.TransactionalIDAuthorizationFailed.Code
		}
	} else if !r.allowedCluster(kmsg.ACLOperationIdempotentWrite) && !r.allowedAnyTopic(kmsg.ACLOperationWrite) {
		code = kerr.ClusterAuthorizationFailed.Code
	}
	if code == 0 {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.InitProducerIDResponse) {
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
	}), nil, nil
}

// AddPartitionsToTxn v0-3 (clients): WRITE on the transactional id, else
// every partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED; WRITE on each
// topic (never on an internal one), else TOPIC_AUTHORIZATION_FAILED, and
// then nothing is added: a missing topic UNKNOWN_TOPIC_OR_PARTITION, the
// rest OPERATION_NOT_ATTEMPTED. v4+ (brokers): CLUSTER_ACTION.
func checkAddPartitionsToTxn(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	if req.Version >= 4 {
		if r.allowedCluster(kmsg.ACLOperationClusterAction) {
			return nil, nil, nil
		}
		return respond(r, func(resp *kmsg.AddPartitionsToTxnResponse) { resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code }), nil, nil
	}
	b := r.c.b
	txnDenied := !r.allowedTxn(kmsg.ACLOperationWrite, req.TransactionalID)
	write := r.authCache(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic)
	topicOK := func(name string) bool {
		m, exists := b.topicMeta(name)
		return !(exists && m.Internal) && write.ok(name)
	}
	anyDenied := txnDenied
	for _, t := range req.Topics {
		anyDenied = anyDenied || !topicOK(t.Topic)
	}
	if !anyDenied {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.AddPartitionsToTxnResponse) {
		for _, t := range req.Topics {
			code := kerr.OperationNotAttempted.Code
			_, exists := b.topicMeta(t.Topic)
			switch {
			case txnDenied:
				code = kerr.TransactionalIDAuthorizationFailed.Code
			case !topicOK(t.Topic):
				code = kerr.TopicAuthorizationFailed.Code
			case !exists:
				code = kerr.UnknownTopicOrPartition.Code
			}
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, code
				if code == kerr.OperationNotAttempted.Code && b.partition(t.Topic, p) == nil {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}), nil, nil
}

// AddOffsetsToTxn: WRITE on the transactional id, then READ on the group.
func checkAddOffsetsToTxn(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	var code int16
	switch {
	case !r.allowedTxn(kmsg.ACLOperationWrite, req.TransactionalID):
		code = kerr.TransactionalIDAuthorizationFailed.Code
	case !r.allowedGroup(kmsg.ACLOperationRead, req.Group):
		code = kerr.GroupAuthorizationFailed.Code
	default:
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.AddOffsetsToTxnResponse) { resp.ErrorCode = code }), nil, nil
}

// EndTxn: WRITE on the transactional id.
func checkEndTxn(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.EndTxnRequest)
	if r.allowedTxn(kmsg.ACLOperationWrite, req.TransactionalID) {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.EndTxnResponse) {
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = kerr.TransactionalIDAuthorizationFailed.Code, -1, -1
	}), nil, nil
}

// WriteTxnMarkers (brokers): ALTER or CLUSTER_ACTION on the cluster, else
// every partition CLUSTER_AUTHORIZATION_FAILED.
func checkWriteTxnMarkers(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationAlter) || r.allowedCluster(kmsg.ACLOperationClusterAction) {
		return nil, nil, nil
	}
	req := r.kreq.(*kmsg.WriteTxnMarkersRequest)
	return respond(r, func(resp *kmsg.WriteTxnMarkersResponse) {
		for _, m := range req.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, t := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
	}), nil, nil
}

// TxnOffsetCommit: WRITE on the transactional id, else every partition
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; READ on the group, else
// GROUP_AUTHORIZATION_FAILED; READ on each topic, else
// TOPIC_AUTHORIZATION_FAILED.
func checkTxnOffsetCommit(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	all := func(resp *kmsg.TxnOffsetCommitResponse, ts []kmsg.TxnOffsetCommitRequestTopic, code int16) {
		for _, t := range ts {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic, st.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
	var code int16
	switch {
	case !r.allowedTxn(kmsg.ACLOperationWrite, req.TransactionalID):
		code = kerr.TransactionalIDAuthorizationFailed.Code
	case !r.allowedGroup(kmsg.ACLOperationRead, req.Group):
		code = kerr.GroupAuthorizationFailed.Code
	}
	if code != 0 {
		return respond(r, func(resp *kmsg.TxnOffsetCommitResponse) { all(resp, req.Topics, code) }), nil, nil
	}
	var names map[[16]byte]string
	read := r.authCache(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic)
	denied := split(&req.Topics, func(t *kmsg.TxnOffsetCommitRequestTopic) string {
		if req.Version >= 6 {
			if names == nil {
				names = r.topicNames()
			}
			if n, ok := names[t.TopicID]; ok {
				return n
			}
			return "" // unknown id: the handler answers it
		}
		return t.Topic
	}, func(name string) bool { return name == "" || read.ok(name) })
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		all(resp.(*kmsg.TxnOffsetCommitResponse), denied, kerr.TopicAuthorizationFailed.Code)
	}
	if len(req.Topics) == 0 {
		return respond(r, func(resp *kmsg.TxnOffsetCommitResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// DescribeTransactions: DESCRIBE on each transactional id, else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; of a transaction's partitions
// only those of topics the principal may DESCRIBE.
func checkDescribeTransactions(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.DescribeTransactionsRequest)
	denied := split(&req.TransactionalIDs, func(s *string) string { return *s }, r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId).ok)
	describe := r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	post := func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeTransactionsResponse)
		for i := range dr.TransactionStates {
			s := &dr.TransactionStates[i]
			s.Topics = keepTopics(s.Topics, func(t *kmsg.DescribeTransactionsResponseTransactionStateTopic) string { return t.Topic }, describe.ok)
		}
		for _, id := range denied {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode = id, kerr.TransactionalIDAuthorizationFailed.Code
			dr.TransactionStates = append(dr.TransactionStates, s)
		}
	}
	if len(req.TransactionalIDs) == 0 && len(denied) > 0 {
		return respond(r, func(resp *kmsg.DescribeTransactionsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// ListTransactions: the transactions whose id the principal may DESCRIBE.
func checkListTransactions(r *request) (kmsg.Response, func(kmsg.Response), error) {
	ok := r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId).ok
	return nil, func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListTransactionsResponse)
		lr.TransactionStates = keepTopics(lr.TransactionStates, func(s *kmsg.ListTransactionsResponseTransactionState) string { return s.TransactionalID }, ok)
	}, nil
}
