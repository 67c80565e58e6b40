package consumer

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/assign"
)

// Error is a heartbeat refused with a Kafka error code and Kafka's
// message.
type Error struct {
	Err     *kerr.Error
	Message string
}

func (e *Error) Error() string { return e.Err.Message + ": " + e.Message }

// Client is who sent a heartbeat (the member metadata records it).
type Client struct {
	ID, Host string
}

// Validate checks a ConsumerGroupHeartbeat request as Kafka 4.4's
// GroupCoordinatorService does before it looks at any group: every
// failure is INVALID_REQUEST but an unknown ServerAssignor,
// UNSUPPORTED_ASSIGNOR.
func (c Config) Validate(req *kmsg.ConsumerGroupHeartbeatRequest) error {
	c = c.withDefaults()
	invalid := func(msg string) error { return &Error{kerr.InvalidRequest, msg} }
	blank := func(s *string) bool { return s != nil && strings.TrimSpace(*s) == "" }
	if req.Version >= 1 || req.MemberEpoch > 0 || req.MemberEpoch == LeaveEpoch {
		if strings.TrimSpace(req.MemberID) == "" {
			return invalid("MemberId can't be empty.")
		}
	}
	if strings.TrimSpace(req.Group) == "" {
		return invalid("GroupId can't be empty.")
	}
	if blank(req.InstanceID) {
		return invalid("InstanceId can't be empty.")
	}
	if blank(req.RackID) {
		return invalid("RackId can't be empty.")
	}
	switch {
	case req.MemberEpoch == 0:
		if req.RebalanceTimeoutMillis == -1 {
			return invalid("RebalanceTimeoutMs must be provided in first request.")
		}
		if req.Topics == nil || len(req.Topics) > 0 {
			return invalid("TopicPartitions must be empty when (re-)joining.")
		}
		if req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil {
			return invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
		}
	case req.MemberEpoch == StaticLeaveEpoch:
		if req.InstanceID == nil {
			return invalid("InstanceId can't be null.")
		}
	case req.MemberEpoch < StaticLeaveEpoch:
		return invalid("MemberEpoch is invalid.")
	}
	if req.ServerAssignor != nil {
		if _, ok := c.assignor(*req.ServerAssignor); !ok {
			var names []string
			for _, a := range c.Assignors {
				names = append(names, a.Name())
			}
			return &Error{kerr.UnsupportedAssignor, fmt.Sprintf("ServerAssignor %s is not supported. Supported assignors: %s.", *req.ServerAssignor, strings.Join(names, ", "))}
		}
	}
	return nil
}

// compileRegex compiles a subscription regex for whole-name matching.
// Kafka uses RE2/J, whose syntax is RE2's, as Go's regexp is.
func compileRegex(re string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(re); err != nil {
		return nil, &Error{kerr.InvalidRegularExpression, fmt.Sprintf("SubscribedTopicRegex `%s` is not a valid regular expression: %v.", re, err)}
	}
	return regexp.MustCompile("^(?:" + re + ")$"), nil
}

func errFenced(received, known int32, greater bool) error {
	rel := "smaller"
	if greater {
		rel = "greater"
	}
	return &Error{kerr.FencedMemberEpoch, fmt.Sprintf("The consumer group member has a %s member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", rel, received, known)}
}

// checkEpoch is Kafka's throwIfConsumerGroupMemberEpochIsInvalid: a
// member may come back with its previous epoch if it owns a subset of its
// assignment (the response that bumped it was lost).
func checkEpoch(m *Member, received int32, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) error {
	switch {
	case received == 0:
		return nil
	case received > m.Epoch:
		return errFenced(received, m.Epoch, true)
	case received < m.Epoch:
		if received != m.PreviousEpoch || !isSubset(owned, m.Assigned) {
			return errFenced(received, m.Epoch, false)
		}
	}
	return nil
}

func isSubset(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, assigned Epochs) bool {
	if owned == nil {
		return false
	}
	for _, t := range owned {
		if assigned[t.TopicID] == nil {
			return false
		}
		for _, p := range t.Partitions {
			if !assigned.has(t.TopicID, p) {
				return false
			}
		}
	}
	return true
}

// Heartbeat handles a validated ConsumerGroupHeartbeat of a member
// joining (epoch 0) or staying in the group (Kafka's
// GroupMetadataManager.consumerGroupHeartbeat); leaves go to Leave. It
// either refuses the heartbeat (an *Error) leaving the group untouched,
// or applies it and returns the response and the records to write, in
// order. now drives the session and rebalance timeouts.
func (g *Group) Heartbeat(now time.Time, client Client, req *kmsg.ConsumerGroupHeartbeatRequest, topics Topics) (*kmsg.ConsumerGroupHeartbeatResponse, []Record, error) {
	m, assignedBefore, recs, err := g.update(now, client, req, topics, nil)
	if err != nil {
		return nil, recs, err
	}
	join := req.MemberEpoch == 0
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.MemberID = kmsg.StringPtr(m.ID)
	resp.MemberEpoch = m.Epoch
	resp.HeartbeatIntervalMillis = int32(g.conf().HeartbeatInterval.Milliseconds())
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if join || full || !equalPartitions(assignedBefore.partitions(), m.Assigned.partitions()) {
		resp.Assignment = responseAssignment(m.Assigned)
	}
	return resp, recs, nil
}

// classicJoin is what a classic member's JoinGroup adds to the heartbeat
// it is handled as (classic.go).
type classicJoin struct {
	meta    *ClassicMetadata
	unknown bool // the request had no member id: a new member, or a static member's new incarnation
}

// update is a heartbeat (or, with cl, a classic member's JoinGroup) up to
// the reconciled member: Kafka's consumerGroupHeartbeat and
// classicGroupJoinToConsumerGroup share it, as they share Kafka's steps.
func (g *Group) update(now time.Time, client Client, req *kmsg.ConsumerGroupHeartbeatRequest, topics Topics, cl *classicJoin) (*Member, Epochs, []Record, error) {
	var instance string
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}
	memberID := req.MemberID
	if len(g.members) >= g.cfg.MaxSize && (memberID == "" || g.members[memberID] == nil) && (instance == "" || g.static[instance] == "") {
		return nil, nil, nil, &Error{kerr.GroupMaxSizeReached, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", g.cfg.MaxSize)}
	}
	if memberID == "" {
		memberID = g.cfg.NewMemberID()
	}
	join := req.MemberEpoch == 0
	var recs []Record

	// The member, and the static member it replaces if any.
	var member, replaced *Member
	if cl != nil {
		var err error
		if member, replaced, err = g.classicMember(memberID, instance, cl.unknown); err != nil {
			return nil, nil, nil, err
		}
	} else if instance == "" {
		member = g.members[memberID]
		if member == nil {
			if !join {
				return nil, nil, nil, &Error{kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", memberID, g.ID)}
			}
			member = &Member{ID: memberID, Assigned: Epochs{}, PendingRevocation: Epochs{}}
		} else if err := checkEpoch(member, req.MemberEpoch, req.Topics); err != nil {
			return nil, nil, nil, err
		}
	} else {
		existing := g.members[g.static[instance]]
		switch {
		case join && existing == nil:
			member = g.members[memberID]
			if member == nil {
				member = &Member{ID: memberID, Assigned: Epochs{}, PendingRevocation: Epochs{}}
			}
		case join:
			// Only a static member that left (epoch -2) can be replaced.
			// A static member of the classic protocol is replaced whatever
			// its epoch: it cannot say it left for a restart (Kafka's
			// getOrMaybeSubscribeStaticConsumerGroupMember).
			if existing.Epoch != StaticLeaveEpoch && existing.Classic == nil {
				return nil, nil, nil, &Error{kerr.UnreleasedInstanceID, fmt.Sprintf("Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.", memberID, instance, existing.ID)}
			}
			replaced = existing
			member = existing.clone()
			member.ID, member.Epoch, member.PreviousEpoch = memberID, 0, 0
		case existing == nil:
			return nil, nil, nil, &Error{kerr.UnknownMemberID, fmt.Sprintf("Instance id %s is unknown.", instance)}
		case existing.ID != memberID:
			return nil, nil, nil, &Error{kerr.FencedInstanceID, fmt.Sprintf("Static member %s with instance id %s was fenced by member %s.", memberID, instance, existing.ID)}
		default:
			if err := checkEpoch(existing, req.MemberEpoch, req.Topics); err != nil {
				return nil, nil, nil, err
			}
			member = existing
		}
	}
	// A static member replacing its previous incarnation takes over its
	// subscription: that is no change, and no rebalance.
	_, isMember := g.members[member.ID]
	isNew := !isMember && replaced == nil
	// member is the group's own entry when it exists, and is updated in
	// place below: keep what the response compares with.
	assignedBefore := member.Assigned.clone()

	// 1. The updated member: what the request sets, the rest kept.
	up := member.clone()
	if instance != "" {
		up.InstanceID = instance
	}
	if req.RackID != nil {
		up.RackID = *req.RackID
	}
	if req.RebalanceTimeoutMillis != -1 {
		up.RebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.ServerAssignor != nil {
		up.ServerAssignor = *req.ServerAssignor
	}
	if req.SubscribedTopicNames != nil {
		up.SubscribedTopicNames = slices.Clone(req.SubscribedTopicNames)
	}
	if req.SubscribedTopicRegex != nil {
		up.SubscribedTopicRegex = *req.SubscribedTopicRegex
	}
	up.ClientID, up.ClientHost = client.ID, client.Host
	// A member is classic while it speaks JoinGroup: a consumer-protocol
	// heartbeat from it makes it a consumer-protocol member.
	up.Classic = nil
	if cl != nil {
		up.Classic = cl.meta
	}
	subChanged := isNew || !slices.Equal(up.SubscribedTopicNames, member.SubscribedTopicNames) || up.SubscribedTopicRegex != member.SubscribedTopicRegex
	var re *regexp.Regexp
	if up.SubscribedTopicRegex != "" && (isNew || up.SubscribedTopicRegex != member.SubscribedTopicRegex || g.regexes[up.SubscribedTopicRegex].version != topics.Version()) {
		var err error
		if re, err = compileRegex(up.SubscribedTopicRegex); err != nil {
			return nil, nil, nil, err
		}
	}
	metaChanged := isNew || replaced != nil || !sameMetadata(member, up)

	// Nothing can fail from here on but the assignor; run it on a view
	// of the group with the heartbeat applied before changing anything.
	bump := subChanged
	assignorBefore := g.preferredAssignor()
	regexUpdate := map[string]*resolvedRegex{}
	if re != nil {
		var matched []string
		filter, _ := topics.(DescribeFilter)
		for _, name := range topics.Names() {
			if re.MatchString(name) && (filter == nil || filter.Describable(name)) {
				matched = append(matched, name)
			}
		}
		slices.Sort(matched)
		r := resolvedRegex{topics: matched, version: topics.Version()}
		if old, ok := g.regexes[up.SubscribedTopicRegex]; !ok || !slices.Equal(old.topics, matched) {
			bump = true
		}
		regexUpdate[up.SubscribedTopicRegex] = &r
	}

	// Commit the member and its regex.
	if replaced != nil {
		recs = append(recs, memberTombstones(g.ID, replaced.ID)...)
		g.setAssignment(replaced, nil, nil)
		delete(g.members, replaced.ID)
		if t, ok := g.target[replaced.ID]; ok {
			delete(g.target, replaced.ID)
			g.target[member.ID] = t
			recs = append(recs, targetRecord(g.ID, member.ID, t))
		}
	}
	for re, r := range regexUpdate {
		g.regexes[re] = *r
		recs = append(recs, regexRecord(g.ID, re, r, now.UnixMilli()))
	}
	if metaChanged {
		recs = append(recs, memberRecord(g.ID, up))
	}
	prev := g.members[up.ID]
	if prev == nil {
		prev = &Member{ID: up.ID}
	}
	g.members[up.ID] = prev
	g.setAssignment(prev, up.Assigned.clone(), up.PendingRevocation.clone())
	assignedNow, pendingNow := prev.Assigned, prev.PendingRevocation
	*prev = *up
	prev.Assigned, prev.PendingRevocation = assignedNow, pendingNow
	if up.InstanceID != "" {
		g.static[up.InstanceID] = up.ID
	}
	recs = append(recs, g.dropUnusedRegexes()...)
	if g.preferredAssignor() != assignorBefore {
		bump = true
	}
	// The subscribed topics are resolved again only when something they
	// depend on changed: a subscription, a regex, a member, or the topics.
	var sub map[string]assign.TopicID
	if subChanged || replaced != nil || len(regexUpdate) > 0 || topics.Version() != g.topicsVersion || g.Epoch > g.AssignmentEpoch {
		sub = g.subscribedTopics(topics)
		if h := metadataHash(sub, topics); h != g.MetadataHash {
			g.MetadataHash = h
			bump = true
		}
		g.topicsVersion = topics.Version()
	}
	if bump {
		g.Epoch++
		recs = append(recs, epochRecord(g))
	}

	// 2. A new target assignment if the group epoch moved past it, at most
	// once per assignment interval (Kafka's canComputeNextTargetAssignment).
	if g.Epoch > g.AssignmentEpoch && sub == nil {
		sub = g.subscribedTopics(topics)
	}
	if ai := g.conf().AssignmentInterval; g.Epoch > g.AssignmentEpoch && (g.AssignmentTime.IsZero() || ai < 0 ||
		!now.Before(g.AssignmentTime.Add(ai))) {
		trecs, err := g.computeTarget(sub, topics, now)
		if err != nil {
			return nil, nil, recs, err
		}
		recs = append(recs, trecs...)
	}

	// 3. Reconcile the member towards the target.
	m := g.members[up.ID]
	if !m.reconciledTo(g.AssignmentEpoch) || subChanged {
		subscribed := map[assign.TopicID]bool{}
		for _, name := range g.memberTopicNames(m) {
			if id, _, ok := topics.Lookup(name); ok {
				subscribed[id] = true
			}
		}
		r := &reconciler{g: g, targetEpoch: g.AssignmentEpoch, target: g.target[m.ID], subChanged: subChanged,
			subscribed: subscribed, owned: req.Topics, ownedKnown: req.Topics != nil}
		next, err := r.build(m)
		if err != nil {
			return nil, nil, recs, err
		}
		if !sameAssignment(next, m) {
			g.setAssignment(m, next.Assigned, next.PendingRevocation)
			m.Epoch, m.PreviousEpoch, m.State = next.Epoch, next.PreviousEpoch, next.State
			recs = append(recs, currentRecord(g.ID, m))
			if m.State == UnrevokedPartitions {
				m.rebalanceDeadline, m.rebalanceEpoch = now.Add(m.RebalanceTimeout), m.Epoch
			} else {
				m.rebalanceDeadline = time.Time{}
			}
		}
	}
	m.sessionDeadline = now.Add(g.sessionTimeout(m))
	return m, assignedBefore, recs, nil
}

// sameMetadata reports whether a and b would write the same member
// metadata record.
func sameMetadata(a, b *Member) bool {
	return a.InstanceID == b.InstanceID && a.RackID == b.RackID && a.ClientID == b.ClientID && a.ClientHost == b.ClientHost &&
		slices.Equal(a.SubscribedTopicNames, b.SubscribedTopicNames) && a.SubscribedTopicRegex == b.SubscribedTopicRegex &&
		a.ServerAssignor == b.ServerAssignor && a.RebalanceTimeout == b.RebalanceTimeout && a.Classic.equal(b.Classic)
}

func sameAssignment(a, b *Member) bool {
	eq := func(x, y Epochs) bool {
		return maps.EqualFunc(x, y, func(p, q map[int32]int32) bool { return maps.Equal(p, q) })
	}
	return a.Epoch == b.Epoch && a.PreviousEpoch == b.PreviousEpoch && a.State == b.State &&
		eq(a.Assigned, b.Assigned) && eq(a.PendingRevocation, b.PendingRevocation)
}

func responseAssignment(e Epochs) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := new(kmsg.ConsumerGroupHeartbeatResponseAssignment)
	a.Default()
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	ps := e.partitions()
	for _, t := range sortedIDs(ps) {
		a.Topics = append(a.Topics, kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{TopicID: t, Partitions: ps[t]})
	}
	return a
}

// preferredAssignor is the assignor the group uses: the one most members
// name (ties to the first configured), else the default (Kafka's
// computePreferredServerAssignor).
func (g *Group) preferredAssignor() string {
	counts := map[string]int{}
	for _, m := range g.members {
		if m.ServerAssignor != "" {
			counts[m.ServerAssignor]++
		}
	}
	best, n := g.cfg.Assignors[0].Name(), 0
	for _, a := range g.cfg.Assignors {
		if c := counts[a.Name()]; c > n {
			best, n = a.Name(), c
		}
	}
	return best
}

// dropUnusedRegexes forgets resolved regexes no member subscribes with any
// more, writing their tombstones.
func (g *Group) dropUnusedRegexes() []Record {
	used := map[string]bool{}
	for _, m := range g.members {
		used[m.SubscribedTopicRegex] = true
	}
	var recs []Record
	for _, re := range slices.Sorted(maps.Keys(g.regexes)) {
		if !used[re] {
			delete(g.regexes, re)
			recs = append(recs, regexRecord(g.ID, re, nil, 0))
		}
	}
	return recs
}

// computeTarget runs the group's assignor over every member and writes
// the target of each member whose target changed, then the target epoch
// (Kafka's TargetAssignmentBuilder).
func (g *Group) computeTarget(sub map[string]assign.TopicID, topics Topics, now time.Time) ([]Record, error) {
	a, _ := g.cfg.assignor(g.preferredAssignor())
	in := assign.Group{Topics: map[assign.TopicID]int32{}}
	for name, id := range sub {
		_, n, _ := topics.Lookup(name)
		in.Topics[id] = n
	}
	// Kafka hands its assignor the members in java.util.HashMap order.
	for _, id := range assign.JavaMemberOrder(g.MemberIDs()) {
		m := g.members[id]
		am := assign.Member{ID: id, InstanceID: m.InstanceID, Rack: m.RackID, Target: g.target[id]}
		for _, name := range g.memberTopicNames(m) {
			if tid, ok := sub[name]; ok {
				am.Subscribed = append(am.Subscribed, tid)
			}
		}
		in.Members = append(in.Members, am)
	}
	out, err := a.Assign(in)
	if err != nil {
		return nil, &Error{kerr.UnknownServerError, fmt.Sprintf("Failed to compute a new target assignment for epoch %d: %v", g.Epoch, err)}
	}
	var recs []Record
	for _, id := range g.MemberIDs() {
		ps := out[id]
		if !equalPartitions(ps, g.target[id]) {
			recs = append(recs, targetRecord(g.ID, id, ps))
		}
		g.target[id] = ps
	}
	g.AssignmentEpoch, g.AssignmentTime = g.Epoch, now
	recs = append(recs, targetEpochRecord(g, now.UnixMilli()))
	return recs, nil
}

func equalPartitions(a, b assign.Partitions) bool {
	if a.Count() != b.Count() {
		return false
	}
	for t, ps := range a {
		if len(ps) > 0 && !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

// Leave handles a heartbeat with epoch -1 (leave) or -2 (a static member
// leaves for now, keeping its instance id and partitions until it comes
// back or its session times out). Kafka's consumerGroupLeave.
func (g *Group) Leave(now time.Time, req *kmsg.ConsumerGroupHeartbeatRequest) (*kmsg.ConsumerGroupHeartbeatResponse, []Record, error) {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.MemberID = kmsg.StringPtr(req.MemberID)
	resp.MemberEpoch = req.MemberEpoch
	if req.InstanceID == nil {
		m := g.members[req.MemberID]
		if m == nil {
			return nil, nil, &Error{kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.ID)}
		}
		return resp, g.fence(m), nil
	}
	instance := *req.InstanceID
	m := g.members[g.static[instance]]
	switch {
	case m == nil:
		return nil, nil, &Error{kerr.UnknownMemberID, fmt.Sprintf("Instance id %s is unknown.", instance)}
	case m.ID != req.MemberID:
		return nil, nil, &Error{kerr.FencedInstanceID, fmt.Sprintf("Static member %s with instance id %s was fenced by member %s.", req.MemberID, instance, m.ID)}
	case req.MemberEpoch == StaticLeaveEpoch:
		// The member keeps its partitions (nobody else gets them) and its
		// session timer: it must come back before it expires.
		m.Epoch = StaticLeaveEpoch
		g.setAssignment(m, m.Assigned, Epochs{})
		m.rebalanceDeadline = time.Time{}
		resp.MemberID, resp.MemberEpoch = kmsg.StringPtr(m.ID), StaticLeaveEpoch
		return resp, []Record{currentRecord(g.ID, m)}, nil
	}
	return resp, g.fence(m), nil
}
