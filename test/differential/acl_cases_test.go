package differential

import (
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pinned sends its request at the version it has: kgo otherwise sends the
// highest both sides speak.
type pinned struct{ kmsg.Request }

func (p pinned) MaxVersion() int16 { return p.GetVersion() }

// aclFor makes an ALLOW ACL for one principal.
type aclFor func(rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) kmsg.CreateACLsRequestCreation

// authCase is one API of the matrix: alice holds acls, bob only bobToo.
type authCase struct {
	name   string
	acls   func(alice aclFor) []kmsg.CreateACLsRequestCreation
	bobToo func(bob aclFor) []kmsg.CreateACLsRequestCreation
	req    func() kmsg.Request
	count  func(kmsg.Response) int // a number bob's answers must share (topics listed...)
}

const (
	rtTopic   = kmsg.ACLResourceTypeTopic
	rtGroup   = kmsg.ACLResourceTypeGroup
	rtCluster = kmsg.ACLResourceTypeCluster
	rtTxn     = kmsg.ACLResourceTypeTransactionalId
)

func authMatrixCases(T, G, TX string) []authCase {
	produce := func(txnID *string) func() kmsg.Request {
		return func() kmsg.Request {
			req := kmsg.NewPtrProduceRequest()
			req.Acks, req.TimeoutMillis, req.TransactionID = -1, 5000, txnID
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = T
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = oneRecordBatch()
			if txnID != nil { // Kafka checks the transactional id of transactional records
				rp.Records = storage.BuildTxnBatch(1000, 999, 0, 0, []storage.Record{{Timestamp: 1000, Value: []byte("x")}})
			}
			rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
			req.Topics = []kmsg.ProduceRequestTopic{rt}
			return req
		}
	}
	one := func(rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) func(aclFor) []kmsg.CreateACLsRequestCreation {
		return func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rt, name, op)}
		}
	}
	commit := func() kmsg.Request {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = G, -1
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = T
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Offset = 1
		ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{cp}
		req.Topics = []kmsg.OffsetCommitRequestTopic{ct}
		return req
	}
	fetchOffsets := func() kmsg.Request {
		req := kmsg.NewPtrOffsetFetchRequest()
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = G
		req.Groups = []kmsg.OffsetFetchRequestGroup{g}
		return req
	}
	return []authCase{
		{name: "Produce", acls: one(rtTopic, T, kmsg.ACLOperationWrite), req: produce(nil)},
		{name: "ProduceTransactional", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtTopic, T, kmsg.ACLOperationWrite), a(rtTxn, TX, kmsg.ACLOperationWrite)}
		}, bobToo: one(rtTopic, T, kmsg.ACLOperationWrite), req: produce(kmsg.StringPtr(TX))},
		{name: "Fetch", acls: one(rtTopic, T, kmsg.ACLOperationRead), req: func() kmsg.Request {
			req := kmsg.NewPtrFetchRequest()
			req.MaxWaitMillis, req.MaxBytes, req.SessionEpoch = 100, 1<<20, -1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = T
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes = 1 << 20
			ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
			req.Topics = []kmsg.FetchRequestTopic{ft}
			return req
		}},
		{name: "ListOffsets", acls: one(rtTopic, T, kmsg.ACLOperationDescribe), req: func() kmsg.Request {
			req := kmsg.NewPtrListOffsetsRequest()
			lt := kmsg.NewListOffsetsRequestTopic()
			lt.Topic = T
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Timestamp = -1
			lt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{lp}
			req.Topics = []kmsg.ListOffsetsRequestTopic{lt}
			return req
		}},
		{name: "MetadataNamed", acls: one(rtTopic, T, kmsg.ACLOperationRead), req: func() kmsg.Request {
			req := kmsg.NewPtrMetadataRequest()
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(T)
			req.Topics = []kmsg.MetadataRequestTopic{mt}
			return req
		}},
		{name: "MetadataAll", acls: one(rtTopic, T, kmsg.ACLOperationDescribe), req: func() kmsg.Request { return kmsg.NewPtrMetadataRequest() },
			count: func(r kmsg.Response) int { return len(r.(*kmsg.MetadataResponse).Topics) }},
		{name: "MetadataAutoCreate", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtTopic, "auto"+T, kmsg.ACLOperationDescribe), a(rtTopic, "auto"+T, kmsg.ACLOperationCreate)}
		}, bobToo: one(rtTopic, "auto"+T, kmsg.ACLOperationDescribe), req: func() kmsg.Request {
			req := kmsg.NewPtrMetadataRequest()
			req.AllowAutoTopicCreation = true
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr("auto" + T)
			req.Topics = []kmsg.MetadataRequestTopic{mt}
			return req
		}},
		{name: "OffsetCommitGroup", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtGroup, G, kmsg.ACLOperationRead), a(rtTopic, T, kmsg.ACLOperationRead)}
		}, req: commit},
		{name: "OffsetCommitTopic", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtGroup, G, kmsg.ACLOperationRead), a(rtTopic, T, kmsg.ACLOperationRead)}
		}, bobToo: one(rtGroup, G, kmsg.ACLOperationRead), req: commit},
		{name: "OffsetFetchGroup", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtGroup, G, kmsg.ACLOperationDescribe), a(rtTopic, T, kmsg.ACLOperationDescribe)}
		}, req: fetchOffsets},
		{name: "OffsetFetchTopicsFiltered", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtGroup, G, kmsg.ACLOperationDescribe), a(rtTopic, T, kmsg.ACLOperationDescribe)}
		}, bobToo: one(rtGroup, G, kmsg.ACLOperationDescribe), req: fetchOffsets,
			count: func(r kmsg.Response) int { return len(r.(*kmsg.OffsetFetchResponse).Groups[0].Topics) }},
		{name: "FindCoordinatorGroup", acls: one(rtGroup, G, kmsg.ACLOperationDescribe), req: func() kmsg.Request {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKeys = []string{G}
			return req
		}},
		{name: "FindCoordinatorTxn", acls: one(rtTxn, TX, kmsg.ACLOperationDescribe), req: func() kmsg.Request {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorType, req.CoordinatorKeys = 1, []string{TX}
			return req
		}},
		{name: "JoinGroup", acls: one(rtGroup, "j"+G, kmsg.ACLOperationRead), req: func() kmsg.Request {
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = "j"+G, 10000, 10000, "consumer"
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			req.Protocols = []kmsg.JoinGroupRequestProtocol{p}
			return req
		}},
		{name: "Heartbeat", acls: one(rtGroup, G, kmsg.ACLOperationRead), req: func() kmsg.Request {
			req := kmsg.NewPtrHeartbeatRequest()
			req.Group, req.MemberID, req.Generation = G, "m", 1
			return req
		}},
		{name: "SyncGroup", acls: one(rtGroup, G, kmsg.ACLOperationRead), req: func() kmsg.Request {
			req := kmsg.NewPtrSyncGroupRequest()
			req.Group, req.MemberID, req.Generation = G, "m", 1
			req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
			return req
		}},
		// v5+ without protocol type and name: refused before authorization.
		{name: "SyncGroupNoProtocol", acls: one(rtGroup, G, kmsg.ACLOperationRead), req: func() kmsg.Request {
			req := kmsg.NewPtrSyncGroupRequest()
			req.Group, req.MemberID, req.Generation = G, "m", 1
			return req
		}},
		{name: "LeaveGroup", acls: one(rtGroup, G, kmsg.ACLOperationRead), req: func() kmsg.Request {
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Group = G
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = "m"
			req.Members = []kmsg.LeaveGroupRequestMember{m}
			return req
		}},
		{name: "DescribeGroups", acls: one(rtGroup, G, kmsg.ACLOperationDescribe), req: func() kmsg.Request {
			req := kmsg.NewPtrDescribeGroupsRequest()
			req.Groups = []string{G}
			return req
		}},
		{name: "ListGroups", acls: one(rtGroup, G, kmsg.ACLOperationDescribe), req: func() kmsg.Request { return kmsg.NewPtrListGroupsRequest() },
			count: func(r kmsg.Response) int { return len(r.(*kmsg.ListGroupsResponse).Groups) }},
		{name: "DeleteGroups", acls: one(rtGroup, "nonexistent"+G, kmsg.ACLOperationDelete), bobToo: nil, req: func() kmsg.Request {
			req := kmsg.NewPtrDeleteGroupsRequest()
			req.Groups = []string{"nonexistent" + G}
			return req
		}},
		{name: "CreateTopics", acls: one(rtTopic, "new"+T, kmsg.ACLOperationCreate), req: func() kmsg.Request {
			req := kmsg.NewPtrCreateTopicsRequest()
			ct := kmsg.NewCreateTopicsRequestTopic()
			ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "new"+T, 1, 1
			req.Topics = []kmsg.CreateTopicsRequestTopic{ct}
			req.TimeoutMillis, req.ValidateOnly = 5000, true
			return req
		}},
		{name: "DeleteTopicsByName", acls: one(rtTopic, "nonexistent"+T, kmsg.ACLOperationDelete), req: func() kmsg.Request {
			req := kmsg.NewPtrDeleteTopicsRequest()
			dt := kmsg.NewDeleteTopicsRequestTopic()
			dt.Topic = kmsg.StringPtr("nonexistent" + T)
			req.Topics = []kmsg.DeleteTopicsRequestTopic{dt}
			req.TopicNames = []string{"nonexistent" + T}
			req.TimeoutMillis = 5000
			return req
		}},
		{name: "DeleteRecords", acls: one(rtTopic, T, kmsg.ACLOperationDelete), req: func() kmsg.Request {
			req := kmsg.NewPtrDeleteRecordsRequest()
			dt := kmsg.NewDeleteRecordsRequestTopic()
			dt.Topic = T
			dp := kmsg.NewDeleteRecordsRequestTopicPartition()
			dp.Offset = 0
			dt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{dp}
			req.Topics = []kmsg.DeleteRecordsRequestTopic{dt}
			req.TimeoutMillis = 5000
			return req
		}},
		{name: "CreatePartitions", acls: one(rtTopic, T, kmsg.ACLOperationAlter), req: func() kmsg.Request {
			req := kmsg.NewPtrCreatePartitionsRequest()
			ct := kmsg.NewCreatePartitionsRequestTopic()
			ct.Topic, ct.Count = T, 2
			req.Topics = []kmsg.CreatePartitionsRequestTopic{ct}
			req.TimeoutMillis, req.ValidateOnly = 5000, true
			return req
		}},
		{name: "DescribeConfigsTopic", acls: one(rtTopic, T, kmsg.ACLOperationAlterConfigs), req: func() kmsg.Request {
			req := kmsg.NewPtrDescribeConfigsRequest()
			r := kmsg.NewDescribeConfigsRequestResource()
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, T
			req.Resources = []kmsg.DescribeConfigsRequestResource{r}
			return req
		}},
		{name: "IncrementalAlterConfigs", acls: one(rtTopic, T, kmsg.ACLOperationAlterConfigs), req: func() kmsg.Request {
			req := kmsg.NewPtrIncrementalAlterConfigsRequest()
			r := kmsg.NewIncrementalAlterConfigsRequestResource()
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, T
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value = "retention.ms", kmsg.StringPtr("123456")
			r.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{c}
			req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{r}
			req.ValidateOnly = true
			return req
		}},
		{name: "InitProducerIDIdempotent", acls: one(rtTopic, T, kmsg.ACLOperationWrite), req: func() kmsg.Request {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionTimeoutMillis = -1
			return req
		}},
		{name: "InitProducerIDIdempotentCluster", acls: one(rtCluster, "kafka-cluster", kmsg.ACLOperationIdempotentWrite), req: func() kmsg.Request {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionTimeoutMillis = -1
			return req
		}},
		{name: "InitProducerIDTxn", acls: one(rtTxn, TX, kmsg.ACLOperationWrite), req: func() kmsg.Request {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(TX), 10000
			return req
		}},
		{name: "AddPartitionsToTxn", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtTxn, TX, kmsg.ACLOperationWrite), a(rtTopic, T, kmsg.ACLOperationWrite)}
		}, bobToo: one(rtTxn, TX, kmsg.ACLOperationWrite), req: func() kmsg.Request {
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch = TX, 999, 0
			at := kmsg.NewAddPartitionsToTxnRequestTopic()
			at.Topic, at.Partitions = T, []int32{0}
			req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{at}
			return req
		}},
		{name: "AddOffsetsToTxnGroup", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtTxn, TX, kmsg.ACLOperationWrite), a(rtGroup, G, kmsg.ACLOperationRead)}
		}, bobToo: one(rtTxn, TX, kmsg.ACLOperationWrite), req: func() kmsg.Request {
			req := kmsg.NewPtrAddOffsetsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.Group = TX, 999, G
			return req
		}},
		{name: "EndTxn", acls: one(rtTxn, TX, kmsg.ACLOperationWrite), req: func() kmsg.Request {
			req := kmsg.NewPtrEndTxnRequest()
			req.TransactionalID, req.ProducerID = TX, 999
			return req
		}},
		{name: "TxnOffsetCommit", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtTxn, TX, kmsg.ACLOperationWrite), a(rtGroup, G, kmsg.ACLOperationRead), a(rtTopic, T, kmsg.ACLOperationRead)}
		}, req: func() kmsg.Request {
			req := kmsg.NewPtrTxnOffsetCommitRequest()
			req.TransactionalID, req.Group, req.ProducerID, req.Generation = TX, G, 999, -1
			ct := kmsg.NewTxnOffsetCommitRequestTopic()
			ct.Topic = T
			cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			cp.Offset = 1
			ct.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{cp}
			req.Topics = []kmsg.TxnOffsetCommitRequestTopic{ct}
			return req
		}},
		{name: "DescribeTransactions", acls: one(rtTxn, TX, kmsg.ACLOperationDescribe), req: func() kmsg.Request {
			req := kmsg.NewPtrDescribeTransactionsRequest()
			req.TransactionalIDs = []string{TX}
			return req
		}},
		{name: "DescribeProducers", acls: one(rtTopic, T, kmsg.ACLOperationRead), req: func() kmsg.Request {
			req := kmsg.NewPtrDescribeProducersRequest()
			dt := kmsg.NewDescribeProducersRequestTopic()
			dt.Topic, dt.Partitions = T, []int32{0}
			req.Topics = []kmsg.DescribeProducersRequestTopic{dt}
			return req
		}},
		{name: "ConsumerGroupHeartbeat", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtGroup, "c"+G, kmsg.ACLOperationRead), a(rtTopic, T, kmsg.ACLOperationDescribe)}
		}, req: func() kmsg.Request {
			req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "c"+G, "mmmmmmmmmmmmmmmmmmmmmm", 0, 10000
			req.SubscribedTopicNames = []string{T}
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			return req
		}},
		{name: "ConsumerGroupHeartbeatTopic", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtGroup, "c2"+G, kmsg.ACLOperationRead), a(rtTopic, T, kmsg.ACLOperationDescribe)}
		}, bobToo: one(rtGroup, "c2"+G, kmsg.ACLOperationRead), req: func() kmsg.Request {
			req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "c2"+G, "mmmmmmmmmmmmmmmmmmmmmm", 0, 10000
			req.SubscribedTopicNames = []string{T}
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			return req
		}},
		{name: "ConsumerGroupDescribe", acls: one(rtGroup, G, kmsg.ACLOperationDescribe), req: func() kmsg.Request {
			req := kmsg.NewPtrConsumerGroupDescribeRequest()
			req.Groups = []string{G}
			return req
		}},
		{name: "OffsetDeleteGroup", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtGroup, "nonexistent"+G, kmsg.ACLOperationDelete), a(rtTopic, T, kmsg.ACLOperationRead)}
		}, req: func() kmsg.Request {
			req := kmsg.NewPtrOffsetDeleteRequest()
			req.Group = "nonexistent" + G
			dt := kmsg.NewOffsetDeleteRequestTopic()
			dt.Topic = T
			dt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{kmsg.NewOffsetDeleteRequestTopicPartition()}
			req.Topics = []kmsg.OffsetDeleteRequestTopic{dt}
			return req
		}},
		{name: "OffsetFetchV7", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtGroup, G, kmsg.ACLOperationDescribe), a(rtTopic, T, kmsg.ACLOperationDescribe)}
		}, req: func() kmsg.Request {
			req := kmsg.NewPtrOffsetFetchRequest()
			req.Version = 7
			req.Group = G
			ft := kmsg.NewOffsetFetchRequestTopic()
			ft.Topic, ft.Partitions = T, []int32{0}
			req.Topics = []kmsg.OffsetFetchRequestTopic{ft}
			return pinned{req}
		}},
		{name: "OffsetFetchNamedTopicDenied", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtGroup, G, kmsg.ACLOperationDescribe), a(rtTopic, T, kmsg.ACLOperationDescribe)}
		}, bobToo: one(rtGroup, G, kmsg.ACLOperationDescribe), req: func() kmsg.Request {
			req := kmsg.NewPtrOffsetFetchRequest()
			g := kmsg.NewOffsetFetchRequestGroup()
			g.Group = G
			gt := kmsg.NewOffsetFetchRequestGroupTopic()
			gt.Topic, gt.Partitions = T, []int32{0}
			g.Topics = []kmsg.OffsetFetchRequestGroupTopic{gt}
			req.Groups = []kmsg.OffsetFetchRequestGroup{g}
			return req
		}},
		{name: "DescribeConfigsBroker", acls: one(rtCluster, "kafka-cluster", kmsg.ACLOperationDescribeConfigs), req: func() kmsg.Request {
			req := kmsg.NewPtrDescribeConfigsRequest()
			r := kmsg.NewDescribeConfigsRequestResource()
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
			r.ConfigNames = []string{"log.retention.hours"}
			req.Resources = []kmsg.DescribeConfigsRequestResource{r}
			return req
		}},
		{name: "AlterConfigs", acls: one(rtTopic, T, kmsg.ACLOperationAlterConfigs), req: func() kmsg.Request {
			req := kmsg.NewPtrAlterConfigsRequest()
			r := kmsg.NewAlterConfigsRequestResource()
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, T
			req.Resources = []kmsg.AlterConfigsRequestResource{r}
			req.ValidateOnly = true
			return req
		}},
		{name: "ListTransactions", acls: one(rtTxn, TX, kmsg.ACLOperationDescribe), req: func() kmsg.Request { return kmsg.NewPtrListTransactionsRequest() },
			count: func(r kmsg.Response) int { return len(r.(*kmsg.ListTransactionsResponse).TransactionStates) }},
		{name: "AddPartitionsToTxnTxn", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtTxn, TX, kmsg.ACLOperationWrite), a(rtTopic, T, kmsg.ACLOperationWrite)}
		}, bobToo: one(rtTopic, T, kmsg.ACLOperationWrite), req: func() kmsg.Request {
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch = TX, 999, 0
			at := kmsg.NewAddPartitionsToTxnRequestTopic()
			at.Topic, at.Partitions = T, []int32{0}
			req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{at}
			return req
		}},
		{name: "AddOffsetsToTxnTxn", acls: func(a aclFor) []kmsg.CreateACLsRequestCreation {
			return []kmsg.CreateACLsRequestCreation{a(rtTxn, TX, kmsg.ACLOperationWrite), a(rtGroup, G, kmsg.ACLOperationRead)}
		}, req: func() kmsg.Request {
			req := kmsg.NewPtrAddOffsetsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.Group = TX, 999, G
			return req
		}},
		{name: "DeleteACLs", acls: one(rtCluster, "kafka-cluster", kmsg.ACLOperationAlter), req: func() kmsg.Request {
			d := kmsg.NewPtrDeleteACLsRequest()
			f := kmsg.NewDeleteACLsRequestFilter()
			f.ResourceType, f.ResourceName, f.ResourcePatternType = rtTopic, kmsg.StringPtr("none"+T), kmsg.ACLResourcePatternTypeLiteral
			f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			d.Filters = []kmsg.DeleteACLsRequestFilter{f}
			return d
		}},
		{name: "DescribeACLs", acls: one(rtCluster, "kafka-cluster", kmsg.ACLOperationDescribe), req: func() kmsg.Request {
			d := kmsg.NewPtrDescribeACLsRequest()
			d.ResourceType, d.ResourcePatternType, d.Operation, d.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			return d
		}},
		{name: "CreateACLs", acls: one(rtCluster, "kafka-cluster", kmsg.ACLOperationAlter), req: func() kmsg.Request {
			cr := kmsg.NewPtrCreateACLsRequest()
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = rtTopic, "x"+T, kmsg.ACLResourcePatternTypeLiteral
			c.Principal, c.Host, c.Operation, c.PermissionType = "User:carol", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
			cr.Creations = []kmsg.CreateACLsRequestCreation{c}
			return cr
		}},
	}
}

func oneRecordBatch() []byte {
	return storage.BuildBatch(1000, []storage.Record{{Timestamp: 1000, Value: []byte("x")}})
}
