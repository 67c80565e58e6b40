package group

import (
	"bytes"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is a classic group's state, named as Kafka names them in
// DescribeGroups and ListGroups.
type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s state) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

type protocol struct {
	name     string
	metadata []byte
}

// member is one group member (Kafka's MemberMetadata).
type member struct {
	id         string
	instanceID *string // static membership (KIP-345)
	clientID   string
	host       string

	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []protocol // in the member's order of preference
	assignment       []byte

	// joinCh is set while the member awaits a JoinGroup response, syncCh
	// while it awaits a SyncGroup response (Kafka's awaitingJoinCallback /
	// awaitingSyncCallback). Both are buffered (1) and written at most once.
	joinCh chan joinResult
	syncCh chan syncResult

	isNew bool   // joined for the first time and not yet through a completed join
	seq   uint64 // join order, for stable listings and leader succession

	hbTimer *timer
	hbToken uint64
}

func (m *member) metadata(proto string) []byte {
	for _, p := range m.protocols {
		if p.name == proto {
			return p.metadata
		}
	}
	return nil
}

// matches reports whether protos equals the member's protocols, order and
// metadata included (Kafka's MemberMetadata.matches).
func (m *member) matches(protos []protocol) bool {
	if len(protos) != len(m.protocols) {
		return false
	}
	for i, p := range protos {
		if p.name != m.protocols[i].name || !bytes.Equal(p.metadata, m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// offset is one committed offset.
type offset struct {
	offset int64
	epoch  int32
	meta   string
	commit time.Time // the latest commit (offset expiry counts from it)
	expire time.Time // explicit expiry (OffsetCommit v1-v4), zero if none
	since  time.Time // the first of the consecutive commits of this position
	// seq is the commit record's place in the group's log order: its
	// log offset when replayed, a number taken at append otherwise
	// (txn.go). A transactional offset replaces a later one never.
	seq int64
	txn bool // committed in a transaction (TxnOffsetCommit)
}

type tp struct {
	topic     string
	partition int32
}

// group is one classic consumer group (Kafka's GroupMetadata). Every field
// is guarded by mu; methods on group assume mu is held.
type group struct {
	c    *Coordinator
	name string

	mu      sync.Mutex
	removed bool // Dead and gone from the coordinator's map

	state        state
	stateTime    time.Time // when state last changed (currentStateTimestamp); zero if unknown
	protocolType string    // "" = none (offset-only group)
	protocol     string    // selected protocol, "" = none
	generation   int32
	leader       string

	members     map[string]*member
	static      map[string]string // instance id -> member id
	pending     map[string]*timer // KIP-394 pending member ids -> expiry
	pendingSync map[string]struct{}
	supported   map[string]int // protocol name -> members supporting it
	numAwaiting int
	memberSeq   uint64

	newMemberAdded bool // a new member joined during the initial delay
	joinTimer      *timer
	joinToken      uint64
	joinInitial    bool // joinTimer is an initial delayed join
	joinDelay      time.Duration
	joinRemaining  time.Duration
	syncTimer      *timer

	subscribed      map[string]struct{} // topics the members subscribe to
	subscribedKnown bool                // false: unknown (not a consumer group, or unparsable)

	offsets map[tp]*offset
	history map[tp][]histEntry

	writes   []*write // appended to __consumer_offsets, callbacks not run yet (write.go)
	deleting *write   // a DeleteGroups whose tombstones are not durable yet (admin.go)

	// txn are the offsets open transactions committed for the group, by
	// producer id, until their marker is appended (txn.go).
	txn map[int64]*txnOffsets
}

func newGroup(c *Coordinator, name string) *group {
	return &group{
		c:           c,
		name:        name,
		state:       stateEmpty,
		stateTime:   msTime(c.now()),
		members:     make(map[string]*member),
		static:      make(map[string]string),
		pending:     make(map[string]*timer),
		pendingSync: make(map[string]struct{}),
		supported:   make(map[string]int),
		offsets:     make(map[tp]*offset),
		history:     make(map[tp][]histEntry),
	}
}

func (g *group) transition(s state) {
	from := g.state
	g.state = s
	g.stateTime = msTime(g.c.now())
	g.publishState(from)
}

// orderedMembers returns members in join order.
func (g *group) orderedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].seq < ms[j].seq })
	return ms
}

func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

func (g *group) hasAllMembersJoined() bool {
	return len(g.members) == g.numAwaiting && len(g.pending) == 0
}

func (g *group) canRebalance() bool {
	return g.state == stateStable || g.state == stateCompletingRebalance || g.state == stateEmpty
}

// supportsProtocols is Kafka's GroupMetadata.supportsProtocols.
func (g *group) supportsProtocols(protocolType string, protos []protocol) bool {
	if g.state == stateEmpty {
		return protocolType != "" && len(protos) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, p := range protos {
		if g.supported[p.name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks, among the protocols every member supports, the one
// most members prefer; ties go to the protocol the longest-standing member
// prefers (Kafka leaves ties to hash order).
func (g *group) selectProtocol() string {
	ms := g.orderedMembers()
	if len(ms) == 0 {
		return ""
	}
	candidates := make(map[string]bool)
	for name, n := range g.supported {
		if n == len(g.members) {
			candidates[name] = true
		}
	}
	votes := make(map[string]int)
	for _, m := range ms {
		for _, p := range m.protocols {
			if candidates[p.name] {
				votes[p.name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for _, p := range ms[0].protocols {
		if candidates[p.name] && votes[p.name] > bestVotes {
			best, bestVotes = p.name, votes[p.name]
		}
	}
	return best
}

func (g *group) incSupported(m *member) {
	for _, p := range m.protocols {
		g.supported[p.name]++
	}
}

func (g *group) decSupported(m *member) {
	for _, p := range m.protocols {
		if g.supported[p.name]--; g.supported[p.name] <= 0 {
			delete(g.supported, p.name)
		}
	}
}

// add adds m; joinCh non-nil means m awaits a JoinGroup response.
func (g *group) add(m *member, joinCh chan joinResult) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.memberSeq++
	m.seq = g.memberSeq
	g.members[m.id] = m
	if g.leader == "" {
		g.leader = m.id
	}
	g.incSupported(m)
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if joinCh != nil {
		m.joinCh = joinCh
		g.numAwaiting++
	}
	g.removePending(m.id)
}

// remove drops member id without answering anyone (Kafka's
// GroupMetadata.remove); callers answer waiters first.
func (g *group) remove(id, reason string) {
	if m, ok := g.members[id]; ok {
		delete(g.members, id)
		defer g.publishLeft(m, reason)
		g.decSupported(m)
		if m.joinCh != nil {
			g.numAwaiting--
		}
		if m.instanceID != nil && g.static[*m.instanceID] == id {
			delete(g.static, *m.instanceID)
		}
		g.c.sched.stop(m.hbTimer)
		m.hbTimer = nil
	}
	if g.leader == id {
		g.leader = ""
		if ms := g.orderedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
	g.removePending(id)
	delete(g.pendingSync, id)
}

func (g *group) removePending(id string) {
	if t, ok := g.pending[id]; ok {
		g.c.sched.stop(t)
		delete(g.pending, id)
	}
}

// updateMember is Kafka's GroupMetadata.updateMember.
func (g *group) updateMember(m *member, protos []protocol, rebalance, session time.Duration, joinCh chan joinResult) {
	g.decSupported(m)
	m.protocols = protos
	g.incSupported(m)
	m.rebalanceTimeout = rebalance
	m.sessionTimeout = session
	switch {
	case joinCh != nil && m.joinCh == nil:
		g.numAwaiting++
	case joinCh == nil && m.joinCh != nil:
		g.numAwaiting--
	case joinCh != nil && m.joinCh != nil && joinCh != m.joinCh:
		// A second JoinGroup while the first still waits: Kafka drops the
		// first callback; we answer it so its connection is not stuck.
		m.joinCh <- errJoin(m.id, kerr.RebalanceInProgress.Code)
	}
	m.joinCh = joinCh
}

func (g *group) maybeInvokeJoin(m *member, r joinResult) {
	if m.joinCh != nil {
		m.joinCh <- r
		m.joinCh = nil
		g.numAwaiting--
	}
}

func (g *group) maybeInvokeSync(m *member, r syncResult) bool {
	if m.syncCh != nil {
		m.syncCh <- r
		m.syncCh = nil
		return true
	}
	return false
}

// currentMemberMetadata is what the leader receives in its JoinGroup
// response: every member with its metadata for the selected protocol.
func (g *group) currentMemberMetadata() []kmsg.JoinGroupResponseMember {
	var out []kmsg.JoinGroupResponseMember
	for _, m := range g.orderedMembers() {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadata(g.protocol)
		out = append(out, jm)
	}
	return out
}

// validateCurrentMember is Kafka's validateCurrentMember: a given instance
// id must map to memberID (else FENCED_INSTANCE_ID, or UNKNOWN_MEMBER_ID if
// the instance is unknown), and memberID must be a member.
func (g *group) validateCurrentMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if cur != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if _, ok := g.members[memberID]; !ok {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// computeSubscribed derives the topics a consumer group's members subscribe
// to from their ConsumerMemberMetadata (Kafka's computeSubscribedTopics).
func (g *group) computeSubscribed() {
	g.subscribed, g.subscribedKnown = nil, false
	if g.protocolType != "consumer" {
		return
	}
	if len(g.members) == 0 {
		g.subscribed, g.subscribedKnown = map[string]struct{}{}, true
		return
	}
	if g.protocol == "" {
		return
	}
	topics := make(map[string]struct{})
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadata(g.protocol)); err != nil {
			return
		}
		for _, t := range md.Topics {
			topics[t] = struct{}{}
		}
	}
	g.subscribed, g.subscribedKnown = topics, true
}

// isSubscribedTo is Kafka's isSubscribedToTopic: unknown subscriptions
// count as subscribed.
func (g *group) isSubscribedTo(topic string) bool {
	if !g.subscribedKnown {
		return true
	}
	_, ok := g.subscribed[topic]
	return ok
}

// ---- rebalance state machine (Kafka's GroupCoordinator) ----

func (g *group) maybePrepareRebalance(reason string) {
	if g.canRebalance() {
		g.prepareRebalance(reason)
	}
}

func (g *group) prepareRebalance(reason string) {
	if g.state == stateCompletingRebalance {
		g.resetAndPropagateAssignmentError(kerr.RebalanceInProgress.Code)
	}
	g.clearPendingSync()
	wasEmpty := g.state == stateEmpty
	timeout := g.rebalanceTimeout()
	g.transition(statePreparingRebalance)
	g.c.log.Info("preparing to rebalance group", "group", g.name, "generation", g.generation, "reason", reason)
	if wasEmpty {
		// Kafka's InitialDelayedJoin: wait group.initial.rebalance.delay.ms
		// for more members, extending while members keep arriving, up to the
		// rebalance timeout.
		delay := g.c.cfg.InitialRebalanceDelay
		g.armJoin(true, delay, max(timeout-delay, 0))
		return
	}
	g.armJoin(false, timeout, 0)
	g.tryCompleteJoin()
}

func (g *group) armJoin(initial bool, delay, remaining time.Duration) {
	g.c.sched.stop(g.joinTimer)
	g.joinToken++
	token := g.joinToken
	g.joinInitial, g.joinDelay, g.joinRemaining = initial, delay, remaining
	g.joinTimer = g.c.sched.after(delay, func() { g.locked(func() { g.onJoinTimer(token) }) })
}

func (g *group) disarmJoin() {
	g.c.sched.stop(g.joinTimer)
	g.joinTimer = nil
	g.joinToken++
}

// tryCompleteJoin completes the join phase early once every member (and no
// pending member) has rejoined; the initial delayed join never completes
// early, as in Kafka.
func (g *group) tryCompleteJoin() {
	if g.state != statePreparingRebalance || g.joinInitial || g.joinTimer == nil {
		return
	}
	if g.hasAllMembersJoined() {
		g.disarmJoin()
		g.onCompleteJoin()
	}
}

func (g *group) onJoinTimer(token uint64) {
	if token != g.joinToken || g.state != statePreparingRebalance {
		return
	}
	if g.joinInitial && g.newMemberAdded && g.joinRemaining != 0 {
		g.newMemberAdded = false
		delay := min(g.c.cfg.InitialRebalanceDelay, g.joinRemaining)
		remaining := max(g.joinRemaining-g.joinDelay, 0)
		g.armJoin(true, delay, remaining)
		return
	}
	g.joinTimer = nil
	g.joinToken++
	g.onCompleteJoin()
}

// onCompleteJoin ends the join phase: dynamic members that did not rejoin
// are dropped, a leader is chosen among those that did, and the group moves
// to CompletingRebalance (answering every JoinGroup) or to Empty.
func (g *group) onCompleteJoin() {
	for _, m := range g.orderedMembers() {
		if m.joinCh == nil && m.instanceID == nil {
			g.c.log.Info("removing member that did not rejoin", "group", g.name, "member", m.id)
			g.remove(m.id, "did not rejoin in time")
		}
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Only static members that did not rejoin are left: wait another
		// rebalance timeout for them (their sessions may expire meanwhile).
		g.c.log.Warn("group could not complete rebalance because no members rejoined", "group", g.name)
		g.armJoin(false, g.rebalanceTimeout(), 0)
		g.tryCompleteJoin()
		return
	}
	g.initNextGeneration()
	if g.state == stateEmpty {
		g.c.log.Info("group is now empty", "group", g.name, "generation", g.generation)
		g.write([]Record{g.metadataRecord(nil)}, nil, func(w *write) {
			if w.err != nil {
				// As Kafka: the previous generation may come back after a
				// restart, which is harmless since it has no live members.
				g.c.log.Warn("failed to write empty group metadata", "group", g.name, "err", w.err)
			}
		})
		return
	}
	g.c.log.Info("stabilized group", "group", g.name, "generation", g.generation, "members", len(g.members))
	for _, m := range g.orderedMembers() {
		r := g.currentJoinResult(m.id, g.leader == m.id, false, g.leader)
		g.maybeInvokeJoin(m, r)
		g.heartbeat(m)
		m.isNew = false
		g.pendingSync[m.id] = struct{}{}
	}
	g.armSyncExpiry()
}

func (g *group) maybeElectNewJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if l := g.members[g.leader]; l != nil && l.joinCh != nil {
		return true
	}
	for _, m := range g.orderedMembers() {
		if m.joinCh != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

func (g *group) initNextGeneration() {
	g.generation++
	if len(g.members) > 0 {
		g.protocol = g.selectProtocol()
		g.computeSubscribed()
		g.transition(stateCompletingRebalance)
	} else {
		g.protocol = ""
		g.computeSubscribed()
		g.transition(stateEmpty)
	}
	g.clearPendingSync()
}

// currentJoinResult is a successful JoinGroup answer for the current
// generation; withMembers gives the member list (leader only).
func (g *group) currentJoinResult(memberID string, withMembers, skip bool, leader string) joinResult {
	r := joinResult{
		memberID:     memberID,
		generation:   g.generation,
		protocolType: optString(g.protocolType),
		protocol:     optString(g.protocol),
		leader:       leader,
		skip:         skip,
	}
	if withMembers {
		r.members = g.currentMemberMetadata()
	}
	return r
}

// ---- pending sync (members that got a JoinGroup answer must SyncGroup) ----

func (g *group) armSyncExpiry() {
	g.c.sched.stop(g.syncTimer)
	gen := g.generation
	g.syncTimer = g.c.sched.after(g.rebalanceTimeout(), func() { g.locked(func() { g.onSyncExpired(gen) }) })
}

func (g *group) clearPendingSync() {
	clear(g.pendingSync)
	g.c.sched.stop(g.syncTimer)
	g.syncTimer = nil
}

func (g *group) removePendingSync(id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 {
		g.c.sched.stop(g.syncTimer)
		g.syncTimer = nil
	}
}

func (g *group) onSyncExpired(gen int32) {
	if gen != g.generation || (g.state != stateCompletingRebalance && g.state != stateStable) || len(g.pendingSync) == 0 {
		return
	}
	var ids []string
	for id := range g.pendingSync {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if m := g.members[id]; m != nil {
			g.maybeInvokeJoin(m, errJoin(id, kerr.UnknownMemberID.Code))
			g.maybeInvokeSync(m, errSync(kerr.UnknownMemberID.Code))
		}
		g.remove(id, "did not send SyncGroup in time")
	}
	g.c.log.Info("removed members that did not send SyncGroup", "group", g.name, "members", ids)
	g.prepareRebalance("members did not sync in time")
}

// ---- assignment propagation ----

func (g *group) propagateAssignment(code int16) {
	var ptype, proto *string
	if code == 0 {
		ptype, proto = optString(g.protocolType), optString(g.protocol)
	}
	for _, m := range g.orderedMembers() {
		if g.maybeInvokeSync(m, syncResult{err: code, protocolType: ptype, protocol: proto, assignment: m.assignment}) {
			// Sessions that ran out while the member waited were ignored,
			// so start a fresh one now (as Kafka does).
			g.heartbeat(m)
		}
	}
}

func (g *group) resetAndPropagateAssignmentError(code int16) {
	for _, m := range g.members {
		m.assignment = nil
	}
	g.propagateAssignment(code)
}

// ---- sessions ----

// heartbeat (re)starts m's session timer (Kafka's
// completeAndScheduleNextHeartbeatExpiration).
func (g *group) heartbeat(m *member) { g.armExpiry(m, m.sessionTimeout) }

func (g *group) armExpiry(m *member, d time.Duration) {
	g.c.sched.stop(m.hbTimer)
	m.hbToken++
	token := m.hbToken
	m.hbTimer = g.c.sched.after(d, func() { g.locked(func() { g.onSessionExpired(m, token) }) })
}

func (g *group) onSessionExpired(m *member, token uint64) {
	if g.members[m.id] != m || m.hbToken != token {
		return
	}
	m.hbTimer = nil
	// Members waiting in a rebalance satisfy their session: the rebalance
	// timeout bounds them instead. New members do not (Kafka's
	// hasSatisfiedHeartbeat); their timer is NewMemberJoinTimeout.
	if !m.isNew && (m.joinCh != nil || m.syncCh != nil) {
		return
	}
	g.c.log.Info("member session expired, removing it", "group", g.name, "member", m.id)
	g.removeMemberAndUpdateGroup(m, "session timeout")
}

// removeMemberAndUpdateGroup is Kafka's removeMemberAndUpdateGroup.
func (g *group) removeMemberAndUpdateGroup(m *member, reason string) {
	g.maybeInvokeJoin(m, errJoin("", kerr.UnknownMemberID.Code))
	g.maybeInvokeSync(m, errSync(kerr.UnknownMemberID.Code))
	g.remove(m.id, reason)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.maybePrepareRebalance("removing member " + m.id + ": " + reason)
	case statePreparingRebalance:
		g.tryCompleteJoin()
	}
}

func (g *group) addPending(id string, session time.Duration) {
	g.removePending(id)
	g.pending[id] = g.c.sched.after(session, func() {
		g.locked(func() {
			if _, ok := g.pending[id]; ok {
				g.c.log.Info("pending member expired", "group", g.name, "member", id)
				g.removePendingMemberAndUpdateGroup(id)
			}
		})
	})
}

func (g *group) removePendingMemberAndUpdateGroup(id string) {
	g.remove(id, "pending member removed")
	if g.state == statePreparingRebalance {
		g.tryCompleteJoin()
	}
}

// locked runs fn under the group lock unless the group is gone; timer
// callbacks enter through it.
func (g *group) locked(fn func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed || g.c.isClosed() {
		return
	}
	fn()
}

// msTime truncates t to the millisecond precision of __consumer_offsets
// records, so that times read back by Replay equal the ones kept in memory.
func msTime(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
