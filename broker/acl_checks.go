package broker

import (
	"fmt"

	"github.com/rewindhq/rewind/acl"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// With an authorizer, every request passes its API's check before its
// handler (authorizeAndServe, called by conn.handle), so that the
// handlers themselves need not know about ACLs. A check asks what Kafka's
// KafkaApis asks for the same request and either
//
//   - answers the request itself, as Kafka does when the request as a
//     whole is refused (GROUP_AUTHORIZATION_FAILED for JoinGroup,
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED for a transactional Produce,
//     ...) or when nothing in it is authorized: the handler never runs,
//     so a refused request changes nothing; or
//   - removes from the request the topics, groups or transactional ids the
//     principal may not use, lets the handler serve the rest, and adds
//     their errors (TOPIC_AUTHORIZATION_FAILED, ...) to its response, or
//     filters the response (Metadata of all topics, ListGroups, ...).
//
// The checks of each API are in acl_checks*.go, by API key.

// authCheck is one API's check. It returns the response that answers
// the request without its handler, or a function that completes the
// handler's response (either may be nil), or an error that closes the
// connection (an acks=0 Produce refused, which has no response).
type authCheck func(r *request) (answer kmsg.Response, post func(kmsg.Response), err error)

var authChecks = map[int16]authCheck{}

func regAuth(key int16, c authCheck) {
	if _, dup := authChecks[key]; dup {
		panic("broker: authorization check registered twice: " + kmsg.NameForKey(key))
	}
	authChecks[key] = c
}

// authorizeAndServe runs the request's authorization check, then its
// handler.
func authorizeAndServe(fn handler, r *request) (reply, error) {
	check := authChecks[r.kreq.Key()]
	if r.c.b.sec.authz == nil || check == nil {
		return fn(r)
	}
	answer, post, err := check(r)
	if err != nil {
		return reply{}, err
	}
	if answer != nil {
		return now(answer)
	}
	rep, err := fn(r)
	if err != nil || post == nil || rep.none {
		return rep, err
	}
	if later := rep.later; later != nil {
		rep.later = func() (kmsg.Response, error) {
			resp, err := later()
			if err == nil && resp != nil {
				post(resp)
			}
			return resp, err
		}
		return rep, nil
	}
	if async := rep.async; async != nil {
		rep.async = func(finish func(kmsg.Response, error)) {
			async(func(resp kmsg.Response, err error) {
				if err == nil && resp != nil {
					post(resp)
				}
				finish(resp, err)
			})
		}
		return rep, nil
	}
	post(rep.resp)
	return rep, nil
}

// clusterCheck is a check of op on the cluster whose refusal is the
// response with CLUSTER_AUTHORIZATION_FAILED as its top-level code (set
// stores it), as KafkaApis and ControllerApis answer a request refused as
// a whole.
func clusterCheck[T kmsg.Response](op kmsg.ACLOperation, set func(T, int16)) authCheck {
	return func(r *request) (kmsg.Response, func(kmsg.Response), error) {
		if r.allowedCluster(op) {
			return nil, nil, nil
		}
		return respond(r, func(resp T) { set(resp, kerr.ClusterAuthorizationFailed.Code) }), nil, nil
	}
}

// respond builds the request's response with fill, for a check that
// answers the request itself.
func respond[T kmsg.Response](r *request, fill func(T)) kmsg.Response {
	resp := r.kreq.ResponseKind().(T)
	fill(resp)
	return resp
}

// authCache remembers each name's answer within one request.
type authCache struct {
	r     *request
	op    kmsg.ACLOperation
	rt    kmsg.ACLResourceType
	known map[string]bool
}

func (r *request) authCache(op kmsg.ACLOperation, rt kmsg.ACLResourceType) *authCache {
	return &authCache{r: r, op: op, rt: rt, known: map[string]bool{}}
}

func (a *authCache) ok(name string) bool {
	v, seen := a.known[name]
	if !seen {
		v = a.r.allowed(a.op, a.rt, name)
		a.known[name] = v
	}
	return v
}

// split keeps in place the elements whose name ok allows and returns the
// others.
func split[T any](ts *[]T, name func(*T) string, ok func(string) bool) (denied []T) {
	kept := (*ts)[:0]
	for _, t := range *ts {
		if ok(name(&t)) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	clear((*ts)[len(kept):])
	*ts = kept
	return denied
}

func init() {
	regAuth(0, checkProduce)
	regAuth(2, checkListOffsets)
	regAuth(3, checkMetadata)
	regAuth(19, checkCreateTopics)
	regAuth(20, checkDeleteTopics)
	regAuth(21, checkDeleteRecords)
	regAuth(32, checkDescribeConfigs)
	regAuth(33, checkAlterConfigs)
	regAuth(44, checkIncrementalAlterConfigs)
	regAuth(37, checkCreatePartitions)
	regAuth(61, checkDescribeProducers)
}

// Produce: a request with transactional records needs WRITE on its
// transactional id (none: refused), else every partition is
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (Kafka's check, on the records
// and not on the id alone); WRITE on each
// topic, else TOPIC_AUTHORIZATION_FAILED (before the topic's existence is
// looked at). An acks=0 request with a refused partition closes the
// connection, as any acks=0 error does in Kafka. From v13 topics come by id:
// each is named first, and an id no topic has is left to the handler
// (UNKNOWN_TOPIC_ID), as Kafka answers it before authorizing.
func checkProduce(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.ProduceRequest)
	v13 := req.Version >= 13
	if v13 {
		for i := range req.Topics {
			req.Topics[i].Topic, _ = r.c.b.reg.byID(req.Topics[i].TopicID)
		}
	}
	txnDenied := hasTxnRecords(req) && (req.TransactionID == nil || !r.allowedTxn(kmsg.ACLOperationWrite, *req.TransactionID))
	var denied []kmsg.ProduceRequestTopic
	code := kerr.TransactionalIDAuthorizationFailed.Code
	if txnDenied {
		denied, req.Topics = req.Topics, nil
	} else {
		ok := r.authCache(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic).ok
		denied = split(&req.Topics, func(t *kmsg.ProduceRequestTopic) string { return t.Topic }, func(name string) bool {
			return (v13 && name == "") || ok(name)
		})
		code = kerr.TopicAuthorizationFailed.Code
	}
	if len(denied) == 0 {
		return nil, nil, nil
	}
	if req.Acks == 0 {
		return nil, nil, fmt.Errorf("acks=0 produce to %s refused: %v", denied[0].Topic, kerr.ErrorForCode(code))
	}
	post := func(resp kmsg.Response) {
		pr := resp.(*kmsg.ProduceResponse)
		for _, t := range denied {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = t.Topic
			if v13 {
				st.Topic, st.TopicID = "", t.TopicID
			}
			for _, p := range t.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, code
				sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			pr.Topics = append(pr.Topics, st)
		}
	}
	if len(req.Topics) == 0 {
		if !txnDenied {
			// Kafka's handler goes on with no partition to append and
			// charges the request's bytes to producer_byte_rate as for
			// any other; a refused transactional id is answered before.
			r.chargeProduceBytes()
		}
		return respond(r, func(resp *kmsg.ProduceResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// hasTxnRecords is Kafka's RequestUtils.hasTransactionalRecords: the
// first batch of some partition is transactional.
func hasTxnRecords(req *kmsg.ProduceRequest) bool {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if h, err := storage.ParseBatchHeader(p.Records); err == nil && h.IsTransactional() {
				return true
			}
		}
	}
	return false
}

// Fetch is authorized by its handler (fetchAuthorize): a partition the
// client may not read stays in the fetch session it asks for, as in Kafka,
// and is answered TOPIC_AUTHORIZATION_FAILED until it may.

// ListOffsets: DESCRIBE on each topic, else TOPIC_AUTHORIZATION_FAILED.
func checkListOffsets(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	denied := split(&req.Topics, func(t *kmsg.ListOffsetsRequestTopic) string { return t.Topic }, r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic).ok)
	if len(denied) == 0 {
		return nil, nil, nil
	}
	post := func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListOffsetsResponse)
		for _, t := range denied {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			lr.Topics = append(lr.Topics, st)
		}
	}
	if len(req.Topics) == 0 {
		return respond(r, func(resp *kmsg.ListOffsetsResponse) { post(resp) }), nil, nil
	}
	return nil, post, nil
}

// Metadata: the topics of an all-topics request are those the principal
// may DESCRIBE; a topic asked for by name without DESCRIBE is
// TOPIC_AUTHORIZATION_FAILED (with its name; by id: with its id, no name),
// without saying whether it exists; one that would be auto-created needs
// CREATE on the cluster or on the topic, else TOPIC_AUTHORIZATION_FAILED.
//
// With IncludeTopicAuthorizedOperations (v8+) each topic described gets the
// bit field of the topic operations the principal may do (a refused one
// keeps the schema's default); with IncludeClusterAuthorizedOperations
// (v8-10) the cluster's, or 0 without DESCRIBE on the cluster, as Kafka.
func checkMetadata(r *request) (kmsg.Response, func(kmsg.Response), error) {
	answer, post, err := checkMetadataTopics(r)
	req := r.kreq.(*kmsg.MetadataRequest)
	asked := req.Version >= 8 && (req.IncludeTopicAuthorizedOperations || (req.Version <= 10 && req.IncludeClusterAuthorizedOperations))
	if err != nil || answer != nil || !asked {
		return answer, post, err
	}
	return nil, func(resp kmsg.Response) {
		if post != nil {
			post(resp)
		}
		mr := resp.(*kmsg.MetadataResponse)
		if req.IncludeTopicAuthorizedOperations {
			for i := range mr.Topics {
				if t := &mr.Topics[i]; t.Topic != nil && t.ErrorCode != kerr.TopicAuthorizationFailed.Code {
					t.AuthorizedOperations = r.topicAuthorizedOperations(*t.Topic)
				}
			}
		}
		if req.Version <= 10 && req.IncludeClusterAuthorizedOperations {
			mr.AuthorizedOperations = r.clusterAuthorizedOperations()
		}
	}, nil
}

// clusterOperations and groupOperations are the operations of the
// cluster's and a group's authorized-operations bit fields (Kafka's
// AclEntry.supportedOperations; for a group the three group.admin's
// constant answers without an authorizer).
var (
	clusterOperations = []kmsg.ACLOperation{kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe}
	groupOperations = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDelete, kmsg.ACLOperationDescribe}
)

// clusterAuthorizedOperations is the cluster's bit field as Metadata
// (v8-10) and DescribeCluster give it: 0 without DESCRIBE on the cluster.
func (r *request) clusterAuthorizedOperations() int32 {
	if !r.allowedCluster(kmsg.ACLOperationDescribe) {
		return 0
	}
	return r.authorizedOps(kmsg.ACLResourceTypeCluster, acl.ClusterName, clusterOperations)
}

// authorizedOps is the bit field of the operations of ops the principal
// may do on the resource.
func (r *request) authorizedOps(rt kmsg.ACLResourceType, name string, ops []kmsg.ACLOperation) int32 {
	var bits int32
	for _, op := range ops {
		if r.allowed(op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

func checkMetadataTopics(r *request) (kmsg.Response, func(kmsg.Response), error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	b := r.c.b
	describe := r.authCache(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		return nil, func(resp kmsg.Response) {
			mr := resp.(*kmsg.MetadataResponse)
			kept := mr.Topics[:0]
			for _, t := range mr.Topics {
				if t.Topic != nil && describe.ok(*t.Topic) {
					kept = append(kept, t)
				}
			}
			mr.Topics = kept
		}, nil
	}
	var idName map[[16]byte]string
	autoCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	var create *authCache
	clusterCreate := -1
	var denied []kmsg.MetadataResponseTopic
	kept := req.Topics[:0]
	for _, t := range req.Topics {
		name, byID := "", false
		if t.Topic != nil && *t.Topic != "" {
			name = *t.Topic
		} else if t.TopicID != ([16]byte{}) {
			if idName == nil {
				idName = map[[16]byte]string{}
				for _, m := range b.reg.list() {
					idName[m.ID] = m.Name
				}
			}
			name, byID = idName[t.TopicID], true
		}
		if name == "" {
			kept = append(kept, t) // unknown id: the handler answers it
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		if !describe.ok(name) {
			if byID {
				mt.TopicID = t.TopicID // ids are not secret; the name is
			} else {
				mt.Topic = kmsg.StringPtr(name)
			}
			denied = append(denied, mt)
			continue
		}
		if _, exists := b.topicMeta(name); !exists && autoCreate && !byID {
			if clusterCreate < 0 {
				clusterCreate = 0
				if r.allowedCluster(kmsg.ACLOperationCreate) {
					clusterCreate = 1
				}
				create = r.authCache(kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic)
			}
			if clusterCreate == 0 && !create.ok(name) {
				mt.Topic = kmsg.StringPtr(name)
				denied = append(denied, mt)
				continue
			}
		}
		kept = append(kept, t)
	}
	req.Topics = kept
	if len(denied) == 0 {
		return nil, nil, nil
	}
	// v0: no topics left would ask for all of them; the handler's answer
	// is then kept for its brokers only.
	none := req.Version == 0 && len(kept) == 0
	return nil, func(resp kmsg.Response) {
		mr := resp.(*kmsg.MetadataResponse)
		if none {
			mr.Topics = nil
		}
		mr.Topics = append(mr.Topics, denied...)
	}, nil
}
