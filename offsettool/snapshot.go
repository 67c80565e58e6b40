package offsettool

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// NoOffset marks a partition the group has never committed.
const NoOffset int64 = -1

// Group states as Kafka names them.
const (
	StateEmpty               = "Empty"
	StateStable              = "Stable"
	StatePreparingRebalance  = "PreparingRebalance"
	StateCompletingRebalance = "CompletingRebalance"
	StateDead                = "Dead"
)

// GroupSnapshot is everything the offset tools know about one group at one
// moment. The pure functions (Explain, PlanReset, LagRows) work on it alone,
// so every case can be built by hand in a unit test.
type GroupSnapshot struct {
	Group string `json:"group"`
	// Exists is false when the broker knows nothing of the group: no
	// members and no committed offsets (Kafka reports such a group as Dead).
	Exists bool `json:"exists"`
	// Type is TypeClassic or TypeConsumer (KIP-848).
	Type         string `json:"type"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Protocol     string `json:"protocol"`
	// GroupEpoch, AssignmentEpoch and Assignor are a consumer group's:
	// the epoch of its membership and subscriptions, the epoch its target
	// assignment was computed for, and the broker's assignor (uniform,
	// range) that computed it. Protocol repeats the assignor.
	GroupEpoch      int32       `json:"group_epoch,omitempty"`
	AssignmentEpoch int32       `json:"assignment_epoch,omitempty"`
	Assignor        string      `json:"assignor,omitempty"`
	Members         []Member    `json:"members"`
	Partitions      []Partition `json:"partitions"`
	Taken           time.Time   `json:"taken"`
}

// Member is one live member of a group.
type Member struct {
	ID         string `json:"member_id"`
	InstanceID string `json:"instance_id,omitempty"`
	ClientID   string `json:"client_id"`
	Host       string `json:"host"`
	// Assigned is what the member owns: for a consumer group's member
	// also the partitions it still has to revoke.
	Assigned []TopicPartition `json:"assigned"`
	// The rest is a consumer group's member (KIP-848): its member epoch,
	// subscription, target assignment, the partitions it owns outside
	// its target (Revoking: it gives them up on its next heartbeat) and
	// those of its target it does not own yet (Awaiting: they are still
	// owned by another member, or come with its next heartbeat).
	MemberEpoch     int32            `json:"member_epoch,omitempty"`
	Subscribed      []string         `json:"subscribed_topics,omitempty"`
	SubscribedRegex string           `json:"subscribed_regex,omitempty"`
	Target          []TopicPartition `json:"target,omitempty"`
	Revoking        []TopicPartition `json:"revoking,omitempty"`
	Awaiting        []TopicPartition `json:"awaiting,omitempty"`
	// Classic is a classic-protocol member of a consumer group (online
	// migration, KIP-848).
	Classic bool `json:"classic,omitempty"`
}

// Partition is the group's position on one partition next to the log's
// bounds.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset (the next record to read),
	// or NoOffset.
	Committed int64  `json:"committed"`
	Metadata  string `json:"metadata,omitempty"`
	LogStart  int64  `json:"log_start"`
	LogEnd    int64  `json:"log_end"`
	// LastStable is the last stable offset (ListOffsets read_committed):
	// where a read_committed consumer stops. It equals LogEnd unless a
	// transaction is open on the partition. Whoever builds a Partition by
	// hand sets it (to LogEnd when it has no better answer).
	LastStable int64 `json:"last_stable"`
	// MemberID is the member the partition is assigned to, if any.
	MemberID string `json:"member_id,omitempty"`
	// TargetMemberID is, in a consumer group, the member the target
	// assignment gives the partition to: while it differs from MemberID
	// the partition is moving (MemberID revokes it, then TargetMemberID
	// gets it).
	TargetMemberID string `json:"target_member_id,omitempty"`
	// OpenTxns are the transactions open on the partition, oldest first,
	// and Tail is set when nothing a consumer receives lies between the
	// committed offset and the log end (only markers and aborted
	// records); both only with SnapshotOptions.Transactions.
	OpenTxns []OpenTxn       `json:"open_transactions,omitempty"`
	Tail     *UnreadableTail `json:"unreadable_tail,omitempty"`
	// FirstUnconsumed is the timestamp of the record at the committed
	// offset, when there is one and it was asked for (LagTime or
	// StartTimes); OldestTime that of the record at the log start
	// (StartTimes).
	FirstUnconsumed time.Time `json:"-"`
	OldestTime      time.Time `json:"-"`
	// DurationStart is where a by_duration:D policy starts (ListOffsets
	// by timestamp for the snapshot's time minus D: the first offset at
	// or after it, the log end if none), DurationTime that record's
	// timestamp; NoOffset without SnapshotOptions.ResetDuration.
	DurationStart int64     `json:"-"`
	DurationTime  time.Time `json:"-"`
}

// TP returns the partition's name.
func (p Partition) TP() TopicPartition { return TopicPartition{p.Topic, p.Partition} }

// HasCommit reports whether the group committed an offset here.
func (p Partition) HasCommit() bool { return p.Committed >= 0 }

// Lag is log end minus committed offset, as kafka-consumer-groups prints it,
// and ok is false when there is no commit (the tool prints "-").
func (p Partition) Lag() (lag int64, ok bool) {
	if !p.HasCommit() {
		return 0, false
	}
	return p.LogEnd - p.Committed, true
}

// StableLag is last stable offset minus committed offset: what a
// read_committed consumer can read now (0 when it is at or past the LSO),
// and ok is false when there is no commit.
func (p Partition) StableLag() (lag int64, ok bool) {
	if !p.HasCommit() {
		return 0, false
	}
	return max(0, p.LastStable-p.Committed), true
}

// Active reports whether the group has live members.
func (s GroupSnapshot) Active() bool { return len(s.Members) > 0 }

// Rebalancing reports whether the group is between generations (classic)
// or its members are moving to a new target assignment (consumer).
func (s GroupSnapshot) Rebalancing() bool {
	switch s.State {
	case StatePreparingRebalance, StateCompletingRebalance, StateAssigning, StateReconciling:
		return true
	}
	return false
}

// SnapshotOptions tune Snapshot.
type SnapshotOptions struct {
	// Topics restricts the snapshot; empty means every topic the group has
	// committed to, is assigned or subscribes to.
	Topics []TopicSelection
	// LagTime fetches the first unconsumed record of each lagging
	// partition to date it (one small fetch per partition).
	LagTime bool
	// Transactions describes the open transactions of partitions whose
	// last stable offset is behind the log end (DescribeProducers,
	// ListTransactions, DescribeTransactions) and scans the few offsets
	// after small commits for markers and aborted records, for Explain.
	Transactions bool
	// StartTimes dates the records a restarted consumer would fetch
	// first, for Explain's NextFetch: the one at the committed offset
	// and the one at the log start (two small fetches per partition).
	StartTimes bool
	// ResetDuration, when positive or ByDuration set, looks up where
	// auto.offset.reset=by_duration:ResetDuration would start
	// (Partition.DurationStart).
	ResetDuration time.Duration
	ByDuration    bool
}

// Snapshot describes the group, fetches its committed offsets and lists the
// log bounds of the partitions concerned.
func (c *Client) Snapshot(ctx context.Context, group string, o SnapshotOptions) (GroupSnapshot, error) {
	s := GroupSnapshot{Group: group, Taken: time.Now()}
	interested := map[string]bool{}
	if err := c.describeGroup(ctx, &s, interested); err != nil {
		return s, err
	}
	assignedTo := map[TopicPartition]string{}
	targetOf := map[TopicPartition]string{}
	for _, m := range s.Members {
		for _, tp := range m.Assigned {
			assignedTo[tp] = m.ID
		}
		for _, tp := range m.Target {
			targetOf[tp] = m.ID
		}
	}

	fetched, err := c.adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return s, fmt.Errorf("fetch committed offsets of %q: %s", group, oneLine(err))
	}
	committed := map[TopicPartition]kadm.OffsetResponse{}
	for t, ps := range fetched {
		for p, r := range ps {
			if r.Err != nil {
				if errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
					continue // committed to a deleted topic
				}
				return s, fmt.Errorf("committed offset of %q on %s/%d: %s", group, t, p, oneLine(r.Err))
			}
			if r.At >= 0 {
				committed[TopicPartition{t, p}] = r
			}
		}
	}
	s.Exists = len(s.Members) > 0 || len(committed) > 0 || (s.State != "" && s.State != StateDead)

	var tps []TopicPartition
	if len(o.Topics) > 0 {
		if tps, err = c.resolveSelections(ctx, o.Topics); err != nil {
			return s, err
		}
	} else {
		for tp := range committed {
			interested[tp.Topic] = true
		}
		var names []string
		for t := range interested {
			names = append(names, t)
		}
		sort.Strings(names)
		// Topics deleted since the group committed are skipped rather
		// than failing the whole snapshot.
		for _, t := range names {
			all, err := c.topicPartitions(ctx, t)
			if errors.Is(err, ErrUnknownTopic) {
				continue
			} else if err != nil {
				return s, err
			}
			for _, p := range all[t] {
				tps = append(tps, TopicPartition{t, p})
			}
		}
	}
	topicSet := map[string]bool{}
	var topics []string
	for _, tp := range tps {
		if !topicSet[tp.Topic] {
			topicSet[tp.Topic] = true
			topics = append(topics, tp.Topic)
		}
	}
	start, end, err := c.bounds(ctx, topics)
	if err != nil {
		return s, err
	}
	stable, err := c.stableOffsets(ctx, topics)
	if err != nil {
		return s, err
	}
	for _, tp := range tps {
		p := Partition{Topic: tp.Topic, Partition: tp.Partition, Committed: NoOffset, MemberID: assignedTo[tp], TargetMemberID: targetOf[tp], DurationStart: NoOffset}
		if r, ok := committed[tp]; ok {
			p.Committed, p.Metadata = r.At, r.Metadata
		}
		if p.LogStart, err = listed(start, tp); err != nil {
			return s, err
		}
		if p.LogEnd, err = listed(end, tp); err != nil {
			return s, err
		}
		p.LastStable = p.LogEnd
		if l, ok := stable[tp]; ok && l >= p.LogStart && l <= p.LogEnd {
			p.LastStable = l
		}
		s.Partitions = append(s.Partitions, p)
	}
	if o.ByDuration || o.ResetDuration > 0 {
		if err := c.addDurationStarts(ctx, &s, topics, o.ResetDuration); err != nil {
			return s, err
		}
	}
	if o.Transactions {
		if err := c.addTxnFacts(ctx, &s); err != nil {
			return s, err
		}
	}
	if o.LagTime || o.StartTimes {
		want := map[TopicPartition]int64{}
		for _, p := range s.Partitions {
			if lag, ok := p.Lag(); ok && lag > 0 && p.Committed <= p.LogEnd {
				want[p.TP()] = lageval.FirstUnconsumed(p.Committed, p.LogStart)
			}
		}
		times, err := c.recordTimes(ctx, want)
		if err != nil {
			return s, err
		}
		for i, p := range s.Partitions {
			s.Partitions[i].FirstUnconsumed = times[p.TP()]
		}
	}
	if o.StartTimes {
		want := map[TopicPartition]int64{}
		for _, p := range s.Partitions {
			if p.LogStart < p.LogEnd {
				want[p.TP()] = p.LogStart
			}
		}
		times, err := c.recordTimes(ctx, want)
		if err != nil {
			return s, err
		}
		for i, p := range s.Partitions {
			s.Partitions[i].OldestTime = times[p.TP()]
		}
	}
	return s, nil
}

// addDurationStarts asks ListOffsets by timestamp, as a consumer with
// auto.offset.reset=by_duration:d does, where each partition would start.
func (c *Client) addDurationStarts(ctx context.Context, s *GroupSnapshot, topics []string, d time.Duration) error {
	if len(topics) == 0 {
		return nil
	}
	l, err := c.adm.ListOffsetsAfterMilli(ctx, s.Taken.Add(-d).UnixMilli(), topics...)
	if err != nil {
		return fmt.Errorf("list offsets by time: %s", oneLine(err))
	}
	for i := range s.Partitions {
		p := &s.Partitions[i]
		o, ok := l.Lookup(p.Topic, p.Partition)
		if !ok || o.Err != nil {
			continue
		}
		p.DurationStart = o.Offset
		if o.Offset < 0 || o.Offset >= p.LogEnd {
			p.DurationStart = p.LogEnd // no record at or after: the log end
			continue
		}
		if o.Timestamp >= 0 {
			p.DurationTime = time.UnixMilli(o.Timestamp)
		}
	}
	return nil
}

// recordTimes returns the timestamp of the first record at or after each
// given offset, waiting at most a few seconds in total. Partitions whose
// record does not arrive in time are left out.
func (c *Client) recordTimes(ctx context.Context, at map[TopicPartition]int64) (map[TopicPartition]time.Time, error) {
	out := map[TopicPartition]time.Time{}
	if len(at) == 0 {
		return out, nil
	}
	parts := map[string]map[int32]kgo.Offset{}
	for tp, o := range at {
		if parts[tp.Topic] == nil {
			parts[tp.Topic] = map[int32]kgo.Offset{}
		}
		parts[tp.Topic][tp.Partition] = kgo.NewOffset().At(o)
	}
	cl, err := c.newKgo(kgo.ConsumePartitions(parts), kgo.FetchMaxWait(500*time.Millisecond), kgo.FetchMaxPartitionBytes(64<<10))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for len(out) < len(at) && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			tp := TopicPartition{r.Topic, r.Partition}
			if _, done := out[tp]; !done {
				out[tp] = r.Timestamp
			}
		})
	}
	return out, nil
}

// GroupSummary is one row of `rewind group list`.
type GroupSummary struct {
	Group string `json:"group"`
	// Type is TypeClassic or TypeConsumer.
	Type         string `json:"type"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	// Protocol is a classic group's assignor (chosen by its members) or a
	// consumer group's server-side assignor.
	Protocol string `json:"protocol"`
	Members  int    `json:"members"`
	// GroupEpoch is a consumer group's epoch (0 for a classic group).
	GroupEpoch int32 `json:"group_epoch,omitempty"`
}

// ListGroups lists every group with its type, state, member count and
// protocol. Classic groups are described with DescribeGroups, consumer
// groups (KIP-848) with ConsumerGroupDescribe.
func (c *Client) ListGroups(ctx context.Context) ([]GroupSummary, error) {
	listed, err := c.listGroupTypes(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(listed))
	var classic, consumer []string
	for n, l := range listed {
		names = append(names, n)
		if l.GroupType == TypeConsumer {
			consumer = append(consumer, n)
		} else {
			classic = append(classic, n)
		}
	}
	sort.Strings(names)
	out := make([]GroupSummary, 0, len(names))
	if len(names) == 0 {
		return out, nil
	}
	described := kadm.DescribedGroups{}
	if len(classic) > 0 {
		if described, err = c.adm.DescribeGroups(ctx, classic...); err != nil {
			return nil, fmt.Errorf("describe groups: %s", oneLine(err))
		}
	}
	cdescribed := kadm.DescribedConsumerGroups{}
	if len(consumer) > 0 {
		if cdescribed, err = c.adm.DescribeConsumerGroups(ctx, consumer...); err != nil {
			return nil, fmt.Errorf("describe consumer groups: %s", oneLine(err))
		}
	}
	for _, n := range names {
		l := listed[n]
		g := GroupSummary{Group: n, Type: TypeClassic, State: l.GroupState, ProtocolType: l.ProtocolType}
		if l.GroupType == TypeConsumer {
			// Kafka lists consumer groups with protocol type consumer;
			// kfake leaves it empty.
			g.Type, g.ProtocolType = TypeConsumer, "consumer"
			if d, ok := cdescribed[n]; ok && d.Err == nil {
				g.State, g.Protocol, g.Members, g.GroupEpoch = d.State, d.AssignorName, len(d.Members), d.Epoch
			}
		} else if d, ok := described[n]; ok && d.Err == nil {
			g.State, g.Protocol, g.Members = d.State, d.Protocol, len(d.Members)
			if d.ProtocolType != "" {
				g.ProtocolType = d.ProtocolType
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// DeleteGroup deletes an empty group and its committed offsets.
func (c *Client) DeleteGroup(ctx context.Context, group string) error {
	r, err := c.adm.DeleteGroup(ctx, group)
	if err == nil {
		err = r.Err
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.GroupIDNotFound):
		return fmt.Errorf("%w %q: list groups with `rewind group list`", ErrUnknownGroup, group)
	case errors.Is(err, kerr.NonEmptyGroup):
		return fmt.Errorf("%w: group %q still has members; stop its consumers first", ErrActiveMembers, group)
	default:
		return fmt.Errorf("delete group %q: %s", group, oneLine(err))
	}
}

// DeleteOffsets deletes the group's committed offsets on the topics (all
// their partitions).
func (c *Client) DeleteOffsets(ctx context.Context, group string, sels []TopicSelection) ([]TopicPartition, error) {
	tps, err := c.resolveSelections(ctx, sels)
	if err != nil {
		return nil, err
	}
	set := kadm.TopicsSet{}
	for _, tp := range tps {
		set.Add(tp.Topic, tp.Partition)
	}
	r, err := c.adm.DeleteOffsets(ctx, group, set)
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		return nil, fmt.Errorf("%w %q: list groups with `rewind group list`", ErrUnknownGroup, group)
	case err != nil:
		return nil, fmt.Errorf("delete offsets of %q: %s", group, oneLine(err))
	}
	for _, tp := range tps {
		perr := r[tp.Topic][tp.Partition]
		switch {
		case perr == nil:
		case errors.Is(perr, kerr.GroupSubscribedToTopic):
			return nil, fmt.Errorf("%w: group %q is consuming %q right now; stop its consumers first", ErrActiveMembers, group, tp.Topic)
		default:
			return nil, fmt.Errorf("delete offset of %q on %s: %s", group, tp, oneLine(perr))
		}
	}
	return tps, nil
}
