package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AdminAPI is the broker as its admin HTTP listener (package admin) reaches
// it: in process, never through a Kafka client on loopback. Every change
// goes through the function the matching Kafka API handler calls for one
// topic, partition or group (createOne, deleteTopicNamed,
// createPartitionsOne, incrementalAlter, produceTo, and the group
// coordinator's request methods), so the console is refused exactly what a
// Kafka client is refused (--max-broker-partitions, the read-only mode of a
// full disk, topic name and config rules, commits to a group with members)
// with the same error code and message, returned as a *KafkaError.
//
// What the wire handlers add on top, the reservation of the response in
// --max-response-memory, is left out: the admin listener's answers are
// bounded by the partitions and groups that exist, not by a request.
//
// Methods are safe for concurrent use; none holds a lock shared by other
// admin requests, so a slow change (a topic whose logs are being opened, a
// commit waiting for its fsync) does not hold up the others.
type AdminAPI struct{ *Broker }

// AdminAPI returns the in-process view of b for the admin listener.
func (b *Broker) AdminAPI() *AdminAPI { return &AdminAPI{b} }

// Authorize reports whether principal, connecting from host, may do op on
// the resource, by the ACLs the Kafka APIs check (always without
// --authorizer).
func (a *AdminAPI) Authorize(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if a.sec.authz == nil {
		return true
	}
	return a.sec.authz.Authorize(principal, host, op, rt, name)
}

// KafkaError is a change refused with the Kafka error a Kafka client gets
// for it: Err is kerr's error for the code (errors.Is(err,
// kerr.PolicyViolation) works), Message the error message of the response.
type KafkaError struct {
	Err     *kerr.Error
	Message string
}

func (e *KafkaError) Error() string {
	if e.Message == "" {
		return e.Err.Message + ": " + e.Err.Description
	}
	return e.Err.Message + ": " + e.Message
}

func (e *KafkaError) Unwrap() error { return e.Err }

// kafkaErr is the error of a response's code and message, nil for code 0.
func kafkaErr(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	ke, ok := kerr.ErrorForCode(code).(*kerr.Error)
	if !ok {
		ke = kerr.UnknownServerError
	}
	return &KafkaError{Err: ke, Message: deref(msg)}
}

// adminCtx tells the group coordinator who asks (DescribeGroups shows it
// for members; the console never joins a group).
func adminCtx(ctx context.Context) context.Context {
	return group.WithClient(ctx, "rewind-console", "")
}

// ---- topics ----

// CreateTopic creates a topic as CreateTopics does: partitions -1 takes
// --default-partitions, replicationFactor must be 1 or -1. validateOnly
// checks everything and creates nothing.
func (a *AdminAPI) CreateTopic(_ context.Context, name string, partitions int32, replicationFactor int16, configs map[string]string, validateOnly bool) (TopicInfo, error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = validateOnly
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, replicationFactor
	names := make([]string, 0, len(configs))
	for k := range configs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, strp(configs[k])
		rt.Configs = append(rt.Configs, c)
	}
	st := kmsg.NewCreateTopicsResponseTopic()
	if err := kafkaErr(createOne(a.Broker, req, rt, false, nil, &st)); err != nil {
		return TopicInfo{}, err
	}
	if validateOnly {
		ti := TopicInfo{Name: name, ID: fmt.Sprintf("%x", st.TopicID), Configs: map[string]string{}, Partitions: []PartitionInfo{}}
		for k, v := range configs {
			ti.Configs[k] = v
		}
		for p := int32(0); p < st.NumPartitions; p++ {
			ti.Partitions = append(ti.Partitions, PartitionInfo{Partition: p})
		}
		return ti, nil
	}
	ti, ok := a.Topic(name)
	if !ok { // deleted at once by someone else
		return TopicInfo{}, &KafkaError{Err: kerr.UnknownTopicOrPartition, Message: "topic " + name + " was deleted right after its creation"}
	}
	return ti, nil
}

// DeleteTopic deletes a topic as DeleteTopics does (not an internal one).
func (a *AdminAPI) DeleteTopic(_ context.Context, name string) error {
	_, code, msg := deleteTopicNamed(a.Broker, name, nil)
	return kafkaErr(code, msg)
}

// AddPartitions grows a topic to total partitions as CreatePartitions does.
func (a *AdminAPI) AddPartitions(_ context.Context, name string, total int32, validateOnly bool) error {
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, total
	return kafkaErr(createPartitionsOne(a.Broker, rt, validateOnly, nil))
}

// TopicConfig is one config of a topic, as DescribeConfigs gives it.
type TopicConfig struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Default bool   `json:"default"` // not set on the topic
	Doc     string `json:"doc,omitempty"`
}

// TopicConfigs lists every config of a topic with its value.
func (a *AdminAPI) TopicConfigs(name string) ([]TopicConfig, error) {
	t, ok := a.topicMeta(name)
	if !ok {
		return nil, &KafkaError{Err: kerr.UnknownTopicOrPartition, Message: "unknown topic " + name}
	}
	out := make([]TopicConfig, 0, len(catalog.Defs()))
	for _, d := range catalog.Defs() {
		if !t.Listed(d) {
			continue
		}
		_, set := t.Configs[d.Name]
		out = append(out, TopicConfig{Name: d.Name, Value: t.Config(d.Name), Default: !set, Doc: d.Doc})
	}
	return out, nil
}

// AlterTopicConfigs sets and deletes (back to the default) configs of a
// topic as IncrementalAlterConfigs does, all or nothing.
func (a *AdminAPI) AlterTopicConfigs(_ context.Context, name string, set map[string]string, del []string, validateOnly bool) error {
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = k, kmsg.IncrementalAlterConfigOpSet, strp(set[k])
		rr.Configs = append(rr.Configs, c)
	}
	for _, k := range del {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op = k, kmsg.IncrementalAlterConfigOpDelete
		rr.Configs = append(rr.Configs, c)
	}
	return kafkaErr(incrementalAlter(a.Broker, rr, validateOnly))
}

// Produced is where produced records went.
type Produced struct {
	Partition  int32 `json:"partition"`
	BaseOffset int64 `json:"base_offset"`
	LastOffset int64 `json:"last_offset"`
}

// Produce appends recs to topic/partition as one batch, as Produce with
// acks=all does: the batch is validated and appended by the same path
// (max.message.bytes, a full disk, internal topics refused) and the call
// returns once it is durable per --fsync.
func (a *AdminAPI) Produce(ctx context.Context, topic string, partition int32, recs []storage.Record) (Produced, error) {
	if len(recs) == 0 {
		return Produced{}, &KafkaError{Err: kerr.InvalidRecord, Message: "no records to produce"}
	}
	ts := recs[0].Timestamp
	for _, r := range recs {
		ts = min(ts, r.Timestamp)
	}
	l, res, code, msg, _ := produceTo(a.Broker, topic, partition, storage.BuildBatch(ts, recs))
	if err := kafkaErr(code, msg); err != nil {
		return Produced{}, err
	}
	if err := l.WaitDurable(ctx, res.LastOffset+1); err != nil {
		if ctx.Err() != nil {
			return Produced{}, ctx.Err()
		}
		a.storageErrs.error("fsync failed", "log", l.Dir(), "err", err)
		return Produced{}, &KafkaError{Err: kerr.KafkaStorageError, Message: err.Error()}
	}
	return Produced{Partition: partition, BaseOffset: res.BaseOffset, LastOffset: res.LastOffset}, nil
}

// ---- groups ----

// Groups summarizes every group, sorted by name.
func (a *AdminAPI) Groups() []group.Summary { return a.grp.Groups() }

// Committed is the group's committed offsets (nil: no such group).
func (a *AdminAPI) Committed(g string) map[string]map[int32]group.OffsetInfo {
	return a.grp.Committed(g)
}

// CommittedAt is what the group had committed at t (nil: no such group).
func (a *AdminAPI) CommittedAt(g string, t time.Time) map[string]map[int32]group.OffsetInfo {
	return a.grp.CommittedAt(g, t)
}

// History is the positions the group committed (nil: no such group).
func (a *AdminAPI) History(g string) []group.Commit { return a.grp.History(g) }

// GroupDescription is a group as DescribeGroups gives it, with the
// consumer protocol's subscriptions and assignments decoded.
type GroupDescription struct {
	Group        string
	Type         string // classic, or consumer for a KIP-848 group
	State        string // Dead for a group the coordinator does not know
	ProtocolType string
	Protocol     string
	Members      []GroupMember
	// A consumer group's epochs and server-side assignor
	// (adminapi_consumer.go).
	GroupEpoch, AssignmentEpoch int32
	Assignor                    string
}

// GroupMember is one member of a described group.
type GroupMember struct {
	ID, InstanceID, ClientID, Host string
	Subscribed                     []string           // topics, for consumer groups
	Assigned                       map[string][]int32 // topic -> partitions, for consumer groups
	// A consumer group member's epoch and target assignment.
	MemberEpoch int32
	Target      map[string][]int32
}

// DescribeGroup describes one group through the coordinator's
// DescribeGroups. A group's fenced __consumer_offsets partition answers
// its Kafka error (NOT_COORDINATOR).
func (a *AdminAPI) DescribeGroup(ctx context.Context, name string) (GroupDescription, error) {
	if d, ok := a.consumerGroupDescription(name); ok {
		return d, nil
	}
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{name}
	resp := a.grp.DescribeGroups(adminCtx(ctx), req)
	if len(resp.Groups) != 1 {
		return GroupDescription{}, fmt.Errorf("broker: DescribeGroups answered %d groups for one", len(resp.Groups))
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 && g.ErrorCode != kerr.GroupIDNotFound.Code {
		return GroupDescription{}, kafkaErr(g.ErrorCode, g.ErrorMessage)
	}
	d := GroupDescription{Group: name, Type: "classic", State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol}
	for _, m := range g.Members {
		gm := GroupMember{ID: m.MemberID, InstanceID: deref(m.InstanceID), ClientID: m.ClientID, Host: m.ClientHost}
		if g.ProtocolType == "consumer" {
			var meta kmsg.ConsumerMemberMetadata
			if meta.ReadFrom(m.ProtocolMetadata) == nil {
				gm.Subscribed = meta.Topics
			}
			var as kmsg.ConsumerMemberAssignment
			if len(m.MemberAssignment) > 0 && as.ReadFrom(m.MemberAssignment) == nil {
				gm.Assigned = map[string][]int32{}
				for _, t := range as.Topics {
					gm.Assigned[t.Topic] = append(gm.Assigned[t.Topic], t.Partitions...)
				}
			}
		}
		d.Members = append(d.Members, gm)
	}
	return d, nil
}

// CommitOffsets commits offsets for group from outside group management
// (generation -1), as a Kafka admin client's OffsetCommit does: the
// coordinator refuses it while the group has members (UNKNOWN_MEMBER_ID,
// or REBALANCE_IN_PROGRESS while it rebalances). The first refused
// partition's error is returned; partitions before it in the same call may
// have been committed only if the coordinator answered them separately
// (it refuses a group-level problem for all of them at once).
func (a *AdminAPI) CommitOffsets(ctx context.Context, g string, offsets map[string]map[int32]int64) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.Generation = g, -1
	for _, topic := range sortedTopics(offsets) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		for _, p := range sortedParts(offsets[topic]) {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, offsets[topic][p], -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp := a.grp.OffsetCommit(adminCtx(ctx), req)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kafkaErr(p.ErrorCode, nil); err != nil {
				return fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// DeleteGroup deletes an empty group and its offsets as DeleteGroups does
// (NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND if unknown).
func (a *AdminAPI) DeleteGroup(ctx context.Context, g string) error {
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{g}
	resp := a.grp.DeleteGroups(adminCtx(ctx), req)
	for _, r := range resp.Groups {
		if err := kafkaErr(r.ErrorCode, nil); err != nil {
			return err
		}
	}
	return nil
}

// DeleteOffsets deletes the group's committed offsets of the partitions as
// OffsetDelete does (GROUP_SUBSCRIBED_TO_TOPIC for a topic the group's
// members consume).
func (a *AdminAPI) DeleteOffsets(ctx context.Context, g string, parts map[string][]int32) error {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = g
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = t
		for _, p := range parts[t] {
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp := a.grp.OffsetDelete(adminCtx(ctx), req)
	if err := kafkaErr(resp.ErrorCode, nil); err != nil {
		return err
	}
	var errs []error
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kafkaErr(p.ErrorCode, nil); err != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err))
			}
		}
	}
	return errors.Join(errs...)
}

func sortedTopics[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedParts(m map[int32]int64) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
