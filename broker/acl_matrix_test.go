package broker

import (
	"context"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// errorCodes collects every ErrorCode field of a response, at any depth.
func errorCodes(v any) []int16 {
	var out []int16
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
					out = append(out, int16(v.Field(i).Int()))
				} else if f.IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() != reflect.Uint8 {
				for i := 0; i < v.Len(); i++ {
					walk(v.Index(i))
				}
			}
		}
	}
	walk(reflect.ValueOf(v))
	return out
}

var authCodes = []int16{kerr.TopicAuthorizationFailed.Code, kerr.GroupAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code, kerr.TransactionalIDAuthorizationFailed.Code}

// matrixCase is one API: alice holds acls, bob nothing; req is sent by
// each; bob must get want (in every error code the response has, unless
// some is set), alice no authorization error; state is the same before
// and after bob's request.
type matrixCase struct {
	name      string
	acls      []kmsg.CreateACLsRequestCreation
	req       func() kmsg.Request
	want      int16
	some      bool                                   // want among the codes, not all of them
	denied    func(t *testing.T, resp kmsg.Response) // extra checks of bob's answer
	allowed   func(t *testing.T, resp kmsg.Response) // extra checks of alice's answer
	unchanged func(t *testing.T)                     // after bob's request
	state     func(t *testing.T) int64               // the same before and after bob's request
	skipAlice bool                                   // alice's request would need state the matrix does not build
}

func allowACL(rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) kmsg.CreateACLsRequestCreation {
	return creation(rt, name, ptLit, "User:alice", op, permAllow)
}

// TestAuthorizationMatrix sends each API as a principal with the ACLs
// Kafka requires for it (alice) and as one without (bob), over real TCP
// with SASL/PLAIN, and checks Kafka's error codes and that the refused
// request changed nothing.
func TestAuthorizationMatrix(t *testing.T) {
	b := startACL(t, t.TempDir())
	admin := aclClient(t, b, "admin")
	adm := kadm.NewClient(admin)
	ctx := secCtx(t)
	for _, name := range []string{"t", "del", "parts"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v0")}, &kgo.Record{Topic: "t", Value: []byte("v1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CommitOffsets(ctx, "g", kadm.OffsetsFromRecords(kgo.Record{Topic: "t", Partition: 0, Offset: 0})); err != nil {
		t.Fatal(err)
	}
	// AddPartitionsToTxn v4+ and TxnOffsetCommit v6 (topic ids) are
	// not what these clients send: pinned below them.
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(24, 3)
	vs.SetMaxKeyVersion(28, 5)
	vs.SetMaxKeyVersion(1, 12) // Fetch by name; by id and sessions: TestFetchSessionAuthorization
	alice, bob := aclClient(t, b, "alice", kgo.MaxVersions(vs)), aclClient(t, b, "bob", kgo.MaxVersions(vs))

	hwm := func(t *testing.T) int64 {
		t.Helper()
		o, err := adm.ListEndOffsets(secCtx(t), "t")
		if err != nil {
			t.Fatal(err)
		}
		off, _ := o.Lookup("t", 0)
		return off.Offset
	}
	startOffset := func(t *testing.T) int64 {
		t.Helper()
		o, err := adm.ListStartOffsets(secCtx(t), "t")
		if err != nil {
			t.Fatal(err)
		}
		off, _ := o.Lookup("t", 0)
		return off.Offset
	}
	committed := func(t *testing.T) int64 {
		t.Helper()
		o, err := adm.FetchOffsets(secCtx(t), "g")
		if err != nil {
			t.Fatal(err)
		}
		off, _ := o.Lookup("t", 0)
		return off.At
	}
	topicExists := func(t *testing.T, name string) bool {
		_, ok := b.topicMeta(name)
		return ok
	}

	produce := func(txnID *string) func() kmsg.Request {
		return func() kmsg.Request {
			req := kmsg.NewPtrProduceRequest()
			req.Acks, req.TimeoutMillis, req.TransactionID = -1, 5000, txnID
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "t"
			if meta, ok := b.topicMeta("t"); ok {
				rt.TopicID = meta.ID // Produce v13 names topics by id only
			}
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = storage.BuildBatch(1000, []storage.Record{{Timestamp: 1000, Value: []byte("x")}})
			if txnID != nil { // Kafka checks the transactional id of transactional records
				rp.Records = storage.BuildTxnBatch(1000, 999, 0, 0, []storage.Record{{Timestamp: 1000, Value: []byte("x")}})
			}
			rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
			req.Topics = []kmsg.ProduceRequestTopic{rt}
			return req
		}
	}

	cases := []matrixCase{
		{name: "Produce", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationWrite)},
			req: produce(nil), want: kerr.TopicAuthorizationFailed.Code, state: hwm},
		{name: "ProduceTransactional", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationWrite), allowACL(rtTxn, "tx", kmsg.ACLOperationWrite)},
			req: produce(kmsg.StringPtr("tx")), want: kerr.TransactionalIDAuthorizationFailed.Code, state: hwm},
		{name: "Fetch", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrFetchRequest()
				req.MaxWaitMillis, req.MaxBytes, req.SessionEpoch = 100, 1<<20, -1
				ft := kmsg.NewFetchRequestTopic()
				ft.Topic = "t"
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.PartitionMaxBytes = 1 << 20
				ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
				req.Topics = []kmsg.FetchRequestTopic{ft}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code,
			denied: func(t *testing.T, resp kmsg.Response) {
				if p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]; len(p.RecordBatches) != 0 || p.HighWatermark != -1 {
					t.Fatalf("refused fetch returned data or a high watermark: %+v", p)
				}
			},
			allowed: func(t *testing.T, resp kmsg.Response) {
				if p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]; len(p.RecordBatches) == 0 {
					t.Fatal("allowed fetch returned no records")
				}
			}},
		{name: "ListOffsets", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrListOffsetsRequest()
				lt := kmsg.NewListOffsetsRequestTopic()
				lt.Topic = "t"
				lp := kmsg.NewListOffsetsRequestTopicPartition()
				lp.Timestamp = -1
				lt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{lp}
				req.Topics = []kmsg.ListOffsetsRequestTopic{lt}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code},
		{name: "MetadataNamed", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationRead)}, // READ implies DESCRIBE
			req: func() kmsg.Request {
				req := kmsg.NewPtrMetadataRequest()
				mt := kmsg.NewMetadataRequestTopic()
				mt.Topic = kmsg.StringPtr("t")
				req.Topics = []kmsg.MetadataRequestTopic{mt}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code,
			denied: func(t *testing.T, resp kmsg.Response) {
				if mt := resp.(*kmsg.MetadataResponse).Topics[0]; len(mt.Partitions) != 0 || mt.TopicID != ([16]byte{}) {
					t.Fatalf("refused topic described: %+v", mt)
				}
			}},
		{name: "MetadataAll", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request { return kmsg.NewPtrMetadataRequest() }, some: true,
			denied: func(t *testing.T, resp kmsg.Response) {
				if mr := resp.(*kmsg.MetadataResponse); len(mr.Topics) != 0 || len(mr.Brokers) != 1 {
					t.Fatalf("all-topics metadata without DESCRIBE: %d topics, %d brokers", len(mr.Topics), len(mr.Brokers))
				}
			},
			allowed: func(t *testing.T, resp kmsg.Response) {
				mr := resp.(*kmsg.MetadataResponse)
				if len(mr.Topics) != 1 || *mr.Topics[0].Topic != "t" {
					t.Fatalf("all-topics metadata with DESCRIBE on t: %+v", mr.Topics)
				}
			}},
		{name: "MetadataAutoCreate", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "auto", kmsg.ACLOperationDescribe), allowACL(rtTopic, "auto", kmsg.ACLOperationCreate)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrMetadataRequest()
				req.AllowAutoTopicCreation = true
				mt := kmsg.NewMetadataRequestTopic()
				mt.Topic = kmsg.StringPtr("auto")
				req.Topics = []kmsg.MetadataRequestTopic{mt}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code,
			unchanged: func(t *testing.T) {
				if topicExists(t, "auto") {
					t.Fatal("auto-created without CREATE")
				}
			}},
		{name: "OffsetCommitGroup", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationRead), allowACL(rtTopic, "t", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Group, req.Generation = "g", -1
				ct := kmsg.NewOffsetCommitRequestTopic()
				ct.Topic = "t"
				if meta, ok := b.topicMeta("t"); ok {
					ct.TopicID = meta.ID // OffsetCommit v10 names topics by id only
				}
				cp := kmsg.NewOffsetCommitRequestTopicPartition()
				cp.Offset = 2
				ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{cp}
				req.Topics = []kmsg.OffsetCommitRequestTopic{ct}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code, state: committed},
		{name: "OffsetCommitTopic", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "*", kmsg.ACLOperationRead), allowACL(rtTopic, "t", kmsg.ACLOperationRead), creation(rtGroup, "g", ptLit, "User:bob", kmsg.ACLOperationRead, permAllow)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Group, req.Generation = "g", -1
				ct := kmsg.NewOffsetCommitRequestTopic()
				ct.Topic = "t"
				if meta, ok := b.topicMeta("t"); ok {
					ct.TopicID = meta.ID // OffsetCommit v10 names topics by id only
				}
				cp := kmsg.NewOffsetCommitRequestTopicPartition()
				cp.Offset = 1
				ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{cp}
				req.Topics = []kmsg.OffsetCommitRequestTopic{ct}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code, state: committed},
		{name: "OffsetFetch", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationDescribe), allowACL(rtTopic, "t", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrOffsetFetchRequest()
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = "g"
				req.Groups = []kmsg.OffsetFetchRequestGroup{g}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code,
			allowed: func(t *testing.T, resp kmsg.Response) {
				if g := resp.(*kmsg.OffsetFetchResponse).Groups[0]; len(g.Topics) != 1 || g.Topics[0].Partitions[0].Offset != committed(t) {
					t.Fatalf("allowed offset fetch: %+v", g)
				}
			}},
		{name: "OffsetFetchTopicFiltered", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationDescribe), allowACL(rtTopic, "t", kmsg.ACLOperationDescribe), creation(rtGroup, "g", ptLit, "User:bob", kmsg.ACLOperationDescribe, permAllow)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrOffsetFetchRequest()
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = "g"
				req.Groups = []kmsg.OffsetFetchRequestGroup{g}
				return req
			}, some: true,
			denied: func(t *testing.T, resp kmsg.Response) {
				// All the group's offsets: topics without DESCRIBE left out.
				if g := resp.(*kmsg.OffsetFetchResponse).Groups[0]; g.ErrorCode != 0 || len(g.Topics) != 0 {
					t.Fatalf("offsets of an undescribable topic shown: %+v", g)
				}
			}},
		{name: "FindCoordinatorGroup", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.CoordinatorKeys = []string{"g"}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code},
		{name: "FindCoordinatorTxn", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTxn, "tx", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.CoordinatorType, req.CoordinatorKeys = 1, []string{"tx"}
				return req
			}, want: kerr.TransactionalIDAuthorizationFailed.Code},
		{name: "JoinGroup", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "jg", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrJoinGroupRequest()
				req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = "jg", 10000, 10000, "consumer"
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name = "range"
				req.Protocols = []kmsg.JoinGroupRequestProtocol{p}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code,
			unchanged: func(t *testing.T) {
				l, err := adm.ListGroups(secCtx(t))
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := l["jg"]; ok {
					t.Fatal("refused JoinGroup created the group")
				}
			}},
		{name: "SyncGroup", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrSyncGroupRequest()
				req.Group, req.MemberID, req.Generation = "g", "m", 1
				req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
				return req
			}, want: kerr.GroupAuthorizationFailed.Code},
		{name: "Heartbeat", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.MemberID, req.Generation = "g", "m", 1
				return req
			}, want: kerr.GroupAuthorizationFailed.Code},
		{name: "LeaveGroup", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Group = "g"
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID = "m"
				req.Members = []kmsg.LeaveGroupRequestMember{m}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code, some: true},
		{name: "ConsumerGroupHeartbeat", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "cg", kmsg.ACLOperationRead), allowACL(rtTopic, "t", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "cg", "member-00000000000", -1, 10000
				req.SubscribedTopicNames = []string{"t"}
				req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code, skipAlice: true},
		// Kafka 4.4: DESCRIBE on every subscribed topic, after READ on the group.
		{name: "ConsumerGroupHeartbeatTopic", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "cg", kmsg.ACLOperationRead), allowACL(rtTopic, "t", kmsg.ACLOperationDescribe), creation(rtGroup, "cg", ptLit, "User:bob", kmsg.ACLOperationRead, permAllow)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "cg", "member-00000000000", 0, 10000
				req.SubscribedTopicNames = []string{"t"}
				req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code,
			unchanged: func(t *testing.T) {
				l, err := adm.ListGroups(secCtx(t))
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := l["cg"]; ok {
					t.Fatal("a refused heartbeat created the group")
				}
			}},
		{name: "DescribeGroups", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.Groups = []string{"g"}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code},
		{name: "ConsumerGroupDescribe", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrConsumerGroupDescribeRequest()
				req.Groups = []string{"g"}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code},
		{name: "ListGroups", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request { return kmsg.NewPtrListGroupsRequest() }, some: true,
			denied: func(t *testing.T, resp kmsg.Response) {
				if gs := resp.(*kmsg.ListGroupsResponse).Groups; len(gs) != 0 {
					t.Fatalf("groups listed without DESCRIBE: %+v", gs)
				}
			},
			allowed: func(t *testing.T, resp kmsg.Response) {
				if gs := resp.(*kmsg.ListGroupsResponse).Groups; len(gs) != 1 || gs[0].Group != "g" {
					t.Fatalf("groups listed with DESCRIBE on g: %+v", gs)
				}
			}},
		{name: "OffsetDelete", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationDelete), allowACL(rtTopic, "t", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrOffsetDeleteRequest()
				req.Group = "g"
				dt := kmsg.NewOffsetDeleteRequestTopic()
				dt.Topic = "t"
				dt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{kmsg.NewOffsetDeleteRequestTopicPartition()}
				req.Topics = []kmsg.OffsetDeleteRequestTopic{dt}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code, state: committed},
		{name: "DeleteGroups", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtGroup, "g", kmsg.ACLOperationDelete)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Groups = []string{"g"}
				return req
			}, want: kerr.GroupAuthorizationFailed.Code,
			unchanged: func(t *testing.T) {
				l, err := adm.ListGroups(secCtx(t))
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := l["g"]; !ok {
					t.Fatal("group g gone after a refused DeleteGroups")
				}
			}},
		{name: "CreateTopics", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "new", kmsg.ACLOperationCreate)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrCreateTopicsRequest()
				ct := kmsg.NewCreateTopicsRequestTopic()
				ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "new", 1, 1
				req.Topics = []kmsg.CreateTopicsRequestTopic{ct}
				req.TimeoutMillis = 5000
				return req
			}, want: kerr.TopicAuthorizationFailed.Code,
			unchanged: func(t *testing.T) {
				if topicExists(t, "new") {
					t.Fatal("topic created without CREATE")
				}
			},
			allowed: func(t *testing.T, resp kmsg.Response) {
				// CREATE does not imply DESCRIBE_CONFIGS: the configs are withheld.
				if ct := resp.(*kmsg.CreateTopicsResponse).Topics[0]; ct.ErrorCode != 0 || ct.ConfigErrorCode != kerr.TopicAuthorizationFailed.Code || len(ct.Configs) != 0 {
					t.Fatalf("created without DESCRIBE_CONFIGS: %+v", ct)
				}
			}},
		{name: "DescribeConfigs", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationAlterConfigs)}, // implies DESCRIBE_CONFIGS
			req: func() kmsg.Request {
				req := kmsg.NewPtrDescribeConfigsRequest()
				r := kmsg.NewDescribeConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
				req.Resources = []kmsg.DescribeConfigsRequestResource{r}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code},
		{name: "DescribeConfigsBroker", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationDescribeConfigs)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDescribeConfigsRequest()
				r := kmsg.NewDescribeConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
				req.Resources = []kmsg.DescribeConfigsRequestResource{r}
				return req
			}, want: kerr.ClusterAuthorizationFailed.Code},
		{name: "IncrementalAlterConfigs", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationAlterConfigs)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrIncrementalAlterConfigsRequest()
				r := kmsg.NewIncrementalAlterConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "retention.ms", kmsg.StringPtr("123456")
				r.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{c}
				req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{r}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code,
			unchanged: func(t *testing.T) {
				rc, err := adm.DescribeTopicConfigs(secCtx(t), "t")
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range rc[0].Configs {
					if c.Key == "retention.ms" && c.MaybeValue() == "123456" {
						t.Fatal("config altered without ALTER_CONFIGS")
					}
				}
			}},
		{name: "AlterConfigs", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationAlterConfigs)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrAlterConfigsRequest()
				r := kmsg.NewAlterConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
				req.Resources = []kmsg.AlterConfigsRequestResource{r}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code},
		{name: "CreatePartitions", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "parts", kmsg.ACLOperationAlter)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrCreatePartitionsRequest()
				ct := kmsg.NewCreatePartitionsRequestTopic()
				ct.Topic, ct.Count = "parts", 2
				req.Topics = []kmsg.CreatePartitionsRequestTopic{ct}
				req.TimeoutMillis = 5000
				return req
			}, want: kerr.TopicAuthorizationFailed.Code,
			unchanged: func(t *testing.T) {
				if m, _ := b.topicMeta("parts"); m.Partitions != 1 {
					t.Fatalf("partitions %d after a refused CreatePartitions", m.Partitions)
				}
			}},
		{name: "DeleteRecords", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationDelete)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDeleteRecordsRequest()
				dt := kmsg.NewDeleteRecordsRequestTopic()
				dt.Topic = "t"
				dp := kmsg.NewDeleteRecordsRequestTopicPartition()
				dp.Offset = 1
				dt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{dp}
				req.Topics = []kmsg.DeleteRecordsRequestTopic{dt}
				req.TimeoutMillis = 5000
				return req
			}, want: kerr.TopicAuthorizationFailed.Code,
			state: startOffset},
		{name: "DeleteTopics", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "del", kmsg.ACLOperationDelete)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDeleteTopicsRequest()
				dt := kmsg.NewDeleteTopicsRequestTopic()
				dt.Topic = kmsg.StringPtr("del")
				req.Topics = []kmsg.DeleteTopicsRequestTopic{dt}
				req.TopicNames = []string{"del"}
				req.TimeoutMillis = 5000
				return req
			}, want: kerr.TopicAuthorizationFailed.Code,
			unchanged: func(t *testing.T) {
				if !topicExists(t, "del") {
					t.Fatal("topic deleted without DELETE")
				}
			}},
		{name: "DescribeProducers", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDescribeProducersRequest()
				dt := kmsg.NewDescribeProducersRequestTopic()
				dt.Topic, dt.Partitions = "t", []int32{0}
				req.Topics = []kmsg.DescribeProducersRequestTopic{dt}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code},
		{name: "InitProducerIDIdempotent", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTopic, "t", kmsg.ACLOperationWrite)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrInitProducerIDRequest()
				req.TransactionTimeoutMillis = -1
				return req
			}, want: kerr.ClusterAuthorizationFailed.Code},
		{name: "InitProducerIDTxn", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTxn, "tx", kmsg.ACLOperationWrite)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrInitProducerIDRequest()
				req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("tx"), 10000
				return req
			}, want: kerr.TransactionalIDAuthorizationFailed.Code},
		{name: "AddPartitionsToTxn", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTxn, "tx", kmsg.ACLOperationWrite), allowACL(rtTopic, "t", kmsg.ACLOperationWrite)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrAddPartitionsToTxnRequest()
				req.Version = 3
				req.TransactionalID, req.ProducerID, req.ProducerEpoch = "tx", 999, 0
				at := kmsg.NewAddPartitionsToTxnRequestTopic()
				at.Topic, at.Partitions = "t", []int32{0}
				req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{at}
				return req
			}, want: kerr.TransactionalIDAuthorizationFailed.Code},
		{name: "AddPartitionsToTxnTopic", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTxn, "tx", kmsg.ACLOperationWrite), allowACL(rtTopic, "t", kmsg.ACLOperationWrite), creation(rtTxn, "tx", ptLit, "User:bob", kmsg.ACLOperationWrite, permAllow)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrAddPartitionsToTxnRequest()
				req.Version = 3
				req.TransactionalID, req.ProducerID, req.ProducerEpoch = "tx", 999, 0
				at := kmsg.NewAddPartitionsToTxnRequestTopic()
				at.Topic, at.Partitions = "t", []int32{0}
				req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{at}
				return req
			}, want: kerr.TopicAuthorizationFailed.Code},
		{name: "AddOffsetsToTxn", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTxn, "tx", kmsg.ACLOperationWrite), allowACL(rtGroup, "g", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrAddOffsetsToTxnRequest()
				req.TransactionalID, req.ProducerID, req.Group = "tx", 999, "g"
				return req
			}, want: kerr.TransactionalIDAuthorizationFailed.Code},
		{name: "AddOffsetsToTxnGroup", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTxn, "tx", kmsg.ACLOperationWrite), allowACL(rtGroup, "g", kmsg.ACLOperationRead), creation(rtTxn, "tx", ptLit, "User:bob", kmsg.ACLOperationWrite, permAllow)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrAddOffsetsToTxnRequest()
				req.TransactionalID, req.ProducerID, req.Group = "tx", 999, "g"
				return req
			}, want: kerr.GroupAuthorizationFailed.Code},
		{name: "EndTxn", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTxn, "tx", kmsg.ACLOperationWrite)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrEndTxnRequest()
				req.TransactionalID, req.ProducerID = "tx", 999
				return req
			}, want: kerr.TransactionalIDAuthorizationFailed.Code},
		{name: "TxnOffsetCommit", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTxn, "tx", kmsg.ACLOperationWrite), allowACL(rtGroup, "g", kmsg.ACLOperationRead), allowACL(rtTopic, "t", kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrTxnOffsetCommitRequest()
				req.Version = 5
				req.TransactionalID, req.Group, req.ProducerID, req.Generation = "tx", "g", 999, -1
				ct := kmsg.NewTxnOffsetCommitRequestTopic()
				ct.Topic = "t"
				cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
				cp.Offset = 2
				ct.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{cp}
				req.Topics = []kmsg.TxnOffsetCommitRequestTopic{ct}
				return req
			}, want: kerr.TransactionalIDAuthorizationFailed.Code, state: committed},
		{name: "DescribeTransactions", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtTxn, "tx", kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDescribeTransactionsRequest()
				req.TransactionalIDs = []string{"tx"}
				return req
			}, want: kerr.TransactionalIDAuthorizationFailed.Code},
		{name: "WriteTxnMarkers", acls: []kmsg.CreateACLsRequestCreation{allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationClusterAction)},
			req: func() kmsg.Request {
				req := kmsg.NewPtrWriteTxnMarkersRequest()
				m := kmsg.NewWriteTxnMarkersRequestMarker()
				m.ProducerID = 999
				mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
				mt.Topic, mt.Partitions = "t", []int32{0}
				m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{mt}
				req.Markers = []kmsg.WriteTxnMarkersRequestMarker{m}
				return req
			}, want: kerr.ClusterAuthorizationFailed.Code, state: hwm, skipAlice: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resetACLs(t, admin)
			mustCreateACLs(t, b, c.acls...)
			var before int64
			if c.state != nil {
				before = c.state(t)
			}
			resp, err := bob.Broker(0).Request(secCtx(t), c.req())
			if err != nil {
				t.Fatalf("bob: %v", err)
			}
			codes := slices.DeleteFunc(errorCodes(resp), func(x int16) bool { return x == 0 })
			switch {
			case c.some && c.want != 0 && !slices.Contains(codes, c.want):
				t.Fatalf("bob: codes %v, want %v among them", codes, kerr.ErrorForCode(c.want))
			case !c.some && (len(codes) == 0 || slices.ContainsFunc(codes, func(x int16) bool { return x != c.want })):
				t.Fatalf("bob: codes %v, want all %v", codes, kerr.ErrorForCode(c.want))
			}
			if c.denied != nil {
				c.denied(t, resp)
			}
			if c.unchanged != nil {
				c.unchanged(t)
			}
			if c.state != nil {
				if after := c.state(t); after != before {
					t.Fatalf("bob's refused request changed the state from %d to %d", before, after)
				}
			}
			if c.skipAlice {
				return
			}
			resp, err = alice.Broker(0).Request(secCtx(t), c.req())
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			if codes := errorCodes(resp); slices.ContainsFunc(codes, func(x int16) bool { return slices.Contains(authCodes, x) }) {
				t.Fatalf("alice, with %d ACLs: codes %v", len(c.acls), codes)
			}
			if c.allowed != nil {
				c.allowed(t, resp)
			}
		})
	}
}

// resetACLs removes every ACL.
func resetACLs(t *testing.T, admin *kgo.Client) {
	t.Helper()
	del := kmsg.NewPtrDeleteACLsRequest()
	df := kmsg.NewDeleteACLsRequestFilter()
	df.ResourceType, df.ResourcePatternType, df.Operation, df.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = []kmsg.DeleteACLsRequestFilter{df}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := del.RequestWith(ctx, admin); err != nil || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("delete ACLs: %v %+v", err, resp)
	}
}

// TestAuthorizationAsKafkaOrders: Kafka checks the transactional id of a
// Produce only when its records are transactional, and answers a SyncGroup
// v5+ without protocol type and name INCONSISTENT_GROUP_PROTOCOL before
// it authorizes (both found by test/differential against Kafka 4.4).
func TestAuthorizationAsKafkaOrders(t *testing.T) {
	b := startACL(t, t.TempDir())
	mustCreateACLs(t, b, creation(rtTopic, "t", ptLit, "User:bob", kmsg.ACLOperationWrite, permAllow))
	bob := aclClient(t, b, "bob")
	ct, err := kadm.NewClient(aclClient(t, b, "admin")).CreateTopic(secCtx(t), 1, 1, nil, "t")
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 5000, kmsg.StringPtr("no-acl")
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "t", ct.ID // by name below v13, by id from it
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = storage.BuildBatch(1000, []storage.Record{{Timestamp: 1000, Value: []byte("x")}})
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	resp, err := bob.Broker(0).Request(secCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("non-transactional records with a transactional id: %v, want written", kerr.ErrorForCode(c))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g", "m", 1
	sresp, err := bob.Broker(0).Request(secCtx(t), sync)
	if err != nil {
		t.Fatal(err)
	}
	if c := sresp.(*kmsg.SyncGroupResponse).ErrorCode; c != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("SyncGroup v%d without protocol: %v, want INCONSISTENT_GROUP_PROTOCOL", sresp.GetVersion(), kerr.ErrorForCode(c))
	}
}

// pinnedReq is sent at its own version (kgo otherwise picks the highest).
type pinnedReq struct{ kmsg.Request }

func (p pinnedReq) MaxVersion() int16 { return p.GetVersion() }

// TestAuthorizedOperations: the authorized-operations bit fields of
// Metadata and DescribeGroups are the principal's, as Kafka computes them.
func TestAuthorizedOperations(t *testing.T) {
	b := startACL(t, t.TempDir())
	admin := aclClient(t, b, "admin")
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(secCtx(t), 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CommitOffsets(secCtx(t), "g", kadm.OffsetsFromRecords(kgo.Record{Topic: "t", Partition: 0, Offset: 0})); err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, b,
		creation(rtTopic, "t", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow),
		creation(rtGroup, "g", ptLit, "User:alice", kmsg.ACLOperationDelete, permAllow),
		creation(rtCluster, "kafka-cluster", ptLit, "User:alice", kmsg.ACLOperationIdempotentWrite, permAllow),
		creation(rtCluster, "kafka-cluster", ptLit, "User:alice", kmsg.ACLOperationDescribe, permAllow))
	alice := aclClient(t, b, "alice")

	m := kmsg.NewPtrMetadataRequest()
	m.Version = 10
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("t")
	m.Topics = []kmsg.MetadataRequestTopic{mt}
	m.IncludeTopicAuthorizedOperations, m.IncludeClusterAuthorizedOperations = true, true
	resp, err := alice.Broker(0).Request(secCtx(t), pinnedReq{m})
	if err != nil {
		t.Fatal(err)
	}
	mr := resp.(*kmsg.MetadataResponse)
	if want := int32(1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationDescribe); mr.Topics[0].AuthorizedOperations != want {
		t.Errorf("topic operations %b, want READ and DESCRIBE %b", mr.Topics[0].AuthorizedOperations, want)
	}
	if want := int32(1<<kmsg.ACLOperationIdempotentWrite | 1<<kmsg.ACLOperationDescribe); mr.AuthorizedOperations != want {
		t.Errorf("cluster operations %b, want %b", mr.AuthorizedOperations, want)
	}

	// DescribeCluster: alice's cluster operations; bob, without DESCRIBE
	// on the cluster, 0; not asked, the schema's default.
	if got, want := describeClusterOps(t, alice, true), int32(1<<kmsg.ACLOperationIdempotentWrite|1<<kmsg.ACLOperationDescribe); got != want {
		t.Errorf("DescribeCluster cluster operations %b, want %b", got, want)
	}
	if got := describeClusterOps(t, aclClient(t, b, "bob"), true); got != 0 {
		t.Errorf("DescribeCluster cluster operations without DESCRIBE %b, want 0", got)
	}
	if got := describeClusterOps(t, alice, false); got != math.MinInt32 {
		t.Errorf("DescribeCluster cluster operations not asked for: %d, want INT32_MIN", got)
	}

	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Groups, d.IncludeAuthorizedOperations = []string{"g"}, true
	dresp, err := alice.Broker(0).Request(secCtx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	if g, want := dresp.(*kmsg.DescribeGroupsResponse).Groups[0], int32(1<<kmsg.ACLOperationDelete|1<<kmsg.ACLOperationDescribe); g.ErrorCode != 0 || g.AuthorizedOperations != want {
		t.Errorf("group %v operations %b, want DELETE and DESCRIBE %b", kerr.ErrorForCode(g.ErrorCode), g.AuthorizedOperations, want)
	}
	// A consumer-protocol group, through ConsumerGroupDescribe.
	mustCreateACLs(t, b, creation(rtGroup, "cg", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow),
		creation(rtTopic, "t", ptLit, "User:alice", kmsg.ACLOperationDescribe, permAllow))
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch, hb.RebalanceTimeoutMillis = "cg", "member-00000000000", 0, 10000
	hb.SubscribedTopicNames, hb.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	hresp, err := alice.Broker(0).Request(secCtx(t), hb)
	if err != nil || hresp.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode != 0 {
		t.Fatalf("heartbeat: %v %+v", err, hresp)
	}
	cd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cd.Groups, cd.IncludeAuthorizedOperations = []string{"cg"}, true
	cresp, err := alice.Broker(0).Request(secCtx(t), cd)
	if err != nil {
		t.Fatal(err)
	}
	if g, want := cresp.(*kmsg.ConsumerGroupDescribeResponse).Groups[0], int32(1<<kmsg.ACLOperationRead|1<<kmsg.ACLOperationDescribe); g.ErrorCode != 0 || g.AuthorizedOperations != want {
		t.Errorf("consumer group %v operations %b, want READ and DESCRIBE %b", kerr.ErrorForCode(g.ErrorCode), g.AuthorizedOperations, want)
	}
}

func describeClusterOps(t *testing.T, cl *kgo.Client, include bool) int32 {
	t.Helper()
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = include
	resp, err := req.RequestWith(secCtx(t), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("DescribeCluster: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ClusterAuthorizedOperations
}

// TestAuthorizedOperationsWithoutAuthorizer: without an authorizer Kafka
// gives every operation in the bit fields asked for.
func TestAuthorizedOperationsWithoutAuthorizer(t *testing.T) {
	b := startACL(t, t.TempDir(), func(c *Config) { c.Authorizer = "" })
	cl := aclClient(t, b, "alice")
	if _, err := kadm.NewClient(cl).CreateTopic(secCtx(t), 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	var allCluster, allTopic int32
	for _, op := range []kmsg.ACLOperation{kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe} {
		allCluster |= 1 << op
	}
	for _, op := range []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDelete,
		kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs} {
		allTopic |= 1 << op
	}
	if got := describeClusterOps(t, cl, true); got != allCluster {
		t.Errorf("DescribeCluster cluster operations %b, want %b", got, allCluster)
	}
	for _, all := range []bool{false, true} {
		m := kmsg.NewPtrMetadataRequest()
		m.Version = 10
		if !all {
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr("t")
			m.Topics = []kmsg.MetadataRequestTopic{mt}
		}
		m.IncludeTopicAuthorizedOperations, m.IncludeClusterAuthorizedOperations = true, true
		resp, err := cl.Broker(0).Request(secCtx(t), pinnedReq{m})
		if err != nil {
			t.Fatal(err)
		}
		mr := resp.(*kmsg.MetadataResponse)
		if len(mr.Topics) == 0 {
			t.Fatalf("all topics %v: no topic described", all)
		}
		for _, tp := range mr.Topics {
			if tp.AuthorizedOperations != allTopic {
				t.Errorf("all topics %v: topic %s operations %b, want %b", all, *tp.Topic, tp.AuthorizedOperations, allTopic)
			}
		}
		if mr.AuthorizedOperations != allCluster {
			t.Errorf("all topics %v: cluster operations %b, want %b", all, mr.AuthorizedOperations, allCluster)
		}
	}
}
