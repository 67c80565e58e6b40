package group

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit versions 0-10.
//
//   - v0 has no generation or member id: always a standalone commit.
//   - v1 carries a per-partition commit timestamp (-1 = now); the offset
//     then expires OffsetsRetention after that timestamp if the group is an
//     offset-only group.
//   - v2-v4 carry a retention time (-1 = broker default); an explicit one
//     becomes the offset's expire timestamp, persisted in an
//     OffsetCommitValue version 1 record as Kafka does.
//   - v6+ carry the leader epoch, v7+ the group instance id.
//   - v9+ may come from a member of a consumer-protocol group (KIP-848),
//     its generation being its member epoch: Config.Modern validates it
//     (modern.go). An unknown group with a generation >= 0 is
//     GROUP_ID_NOT_FOUND from v9 on. v10 names topics by id, which the
//     broker resolves to names before and after.
//
// OffsetFetch versions 0-10: v9+ carry a member id and epoch, validated
// for consumer-protocol groups (Config.Modern), v10 topic ids (resolved by
// the broker). v2+ may ask for all partitions (null topics)
// and has a top-level error, v5+ returns leader epochs, v7 RequireStable
// (it waits for the group's commits in flight, which are otherwise not
// seen before they are durable, as Kafka 4 does, and answers
// UNSTABLE_OFFSET_COMMIT for partitions with offsets of an open
// transaction: txn.go), v8 batches groups.
//
// OffsetDelete version 0 (KIP-496).

// OffsetCommit handles an OffsetCommit request. It returns once the commit
// is durable in the Store (or failed).
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	return c.BeginOffsetCommit(ctx, req)()
}

// BeginOffsetCommit validates an OffsetCommit request and appends its
// records, without waiting for them to be durable; the function it returns
// waits for that, holding no lock, and returns the response once the
// commit is applied (or failed). A commit is visible to OffsetFetch only
// then. Commits begun one after the other are appended, and applied, in
// that order, so a connection's pipelined commits keep their order while
// sharing an fsync. The returned function may be called from any
// goroutine, once (later calls return the same response); it must be
// called, since it is what waits for the write: until it does, the
// group's later writes are not applied.
func (c *Coordinator) BeginOffsetCommit(_ context.Context, req *kmsg.OffsetCommitRequest) func() *kmsg.OffsetCommitResponse {
	g, resp, w := c.beginOffsetCommit(req)
	if w == nil || w.done {
		return func() *kmsg.OffsetCommitResponse {
			if w != nil {
				<-w.applied // after the group's earlier writes
			}
			return resp
		}
	}
	var once sync.Once
	return func() *kmsg.OffsetCommitResponse {
		// Waiting here rather than on a goroutine of its own saves a
		// wake-up on every commit's path.
		once.Do(func() { g.await(w) })
		<-w.applied // the callback filled resp in
		return resp
	}
}

// beginOffsetCommit returns the response, final unless w is not nil: it is
// then completed by w's callback.
func (c *Coordinator) beginOffsetCommit(req *kmsg.OffsetCommitRequest) (g *group, resp *kmsg.OffsetCommitResponse, w *write) {
	resp = kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.Version
	type ref struct{ t, p int }
	var valid []ref
	for i, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for j, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			if c.cfg.TopicPartitionExists != nil && !c.cfg.TopicPartitionExists(rt.Topic, rp.Partition) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				valid = append(valid, ref{i, j})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	setAll := func(code int16) {
		for _, r := range valid {
			resp.Topics[r.t].Partitions[r.p].ErrorCode = code
		}
	}
	if len(valid) == 0 {
		return nil, resp, nil
	}
	if c.isClosed() {
		setAll(kerr.CoordinatorNotAvailable.Code)
		return nil, resp, nil
	}
	if c.fencedGroup(req.Group) {
		setAll(kerr.NotCoordinator.Code)
		return nil, resp, nil
	}

	generation, memberID, instanceID := req.Generation, req.MemberID, req.InstanceID
	if req.Version == 0 {
		generation, memberID = -1, ""
	}
	if req.Version < 7 {
		instanceID = nil
	}
	if c.cfg.Modern != nil {
		modern, code, check := c.cfg.Modern.CommitCheck(req.Group, memberID, instanceID, generation, req.Version, false)
		if modern {
			if code != 0 {
				setAll(code)
				return nil, resp, nil
			}
			if check != nil {
				kept := valid[:0]
				for _, r := range valid {
					if code := check(req.Topics[r.t].Topic, req.Topics[r.t].Partitions[r.p].Partition); code != 0 {
						resp.Topics[r.t].Partitions[r.p].ErrorCode = code
						continue
					}
					kept = append(kept, r)
				}
				if valid = kept; len(valid) == 0 {
					return nil, resp, nil
				}
			}
			// Validated: the offsets go to the group's offsets-only
			// classic group, which has no member to check.
			generation, memberID, instanceID = -1, "", nil
		}
	}
	// Only a commit outside group management (generation < 0) may create a
	// group; anything else for an unknown group comes from a stale member:
	// GROUP_ID_NOT_FOUND from v9 on, ILLEGAL_GENERATION before, as Kafka
	// 4.x's OffsetMetadataManager.validateOffsetCommit.
	g = c.lockGroup(req.Group, generation < 0)
	if g == nil {
		if req.Version >= 9 {
			setAll(kerr.GroupIDNotFound.Code)
		} else {
			setAll(kerr.IllegalGeneration.Code)
		}
		return nil, resp, nil
	}
	defer g.mu.Unlock()

	if code := g.validateOffsetCommit(generation, memberID, instanceID); code != 0 {
		setAll(code)
		return nil, resp, nil
	}
	switch g.state {
	case stateCompletingRebalance:
		// The member has the new generation from its JoinGroup answer but
		// no assignment yet.
		setAll(kerr.RebalanceInProgress.Code)
		return nil, resp, nil
	case stateStable, statePreparingRebalance:
		// Commits still count as liveness; during PreparingRebalance the
		// member learns of the rebalance from its next heartbeat.
		g.heartbeat(g.members[memberID])
	}

	now := msTime(c.now())
	var (
		recs    []Record
		commits []staged
	)
	for _, r := range valid {
		rt := req.Topics[r.t]
		rp := rt.Partitions[r.p]
		meta := ""
		if rp.Metadata != nil {
			meta = *rp.Metadata
		}
		if len(meta) > c.cfg.OffsetMetadataMaxBytes {
			resp.Topics[r.t].Partitions[r.p].ErrorCode = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		o := offset{offset: rp.Offset, epoch: -1, meta: meta, commit: now}
		if req.Version >= 6 {
			o.epoch = rp.LeaderEpoch
		}
		if req.Version == 1 && rp.Timestamp != -1 {
			o.commit = time.UnixMilli(rp.Timestamp)
		}
		if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
			o.expire = now.Add(time.Duration(req.RetentionTimeMillis) * time.Millisecond)
		}
		k := tp{rt.Topic, rp.Partition}
		recs = append(recs, offsetRecord(g.name, k, &o, now))
		commits = append(commits, staged{k: k, o: o})
	}
	if len(recs) == 0 {
		return nil, resp, nil
	}
	seq := c.nextSeq() // under g.mu, as the append: the group's log order
	for i := range commits {
		commits[i].o.seq = seq
	}
	// Pending until durable (Kafka's pendingOffsetCommits): applied, in
	// append order, by the callback, which also answers a failed write.
	w = g.appendWrite(recs, commits, func(w *write) {
		if w.err != nil {
			c.log.Warn("offset commit failed to append", "group", g.name, "err", w.err)
			// Every partition the coordinator was asked for gets the
			// error, as in Kafka 4.x (OffsetCommitRequest.getErrorResponse),
			// also those refused for their metadata: kgo reads the first
			// partition's code to decide to retry.
			setAll(storeErrCode(w.err))
			return
		}
		if g.removed {
			return // deleted (its tombstones follow this commit) or unloaded
		}
		for _, s := range w.commits {
			if !s.dropped {
				g.setOffset(s.k, s.o)
			}
		}
	})
	return g, resp, w
}

// validateOffsetCommit is Kafka's validateOffsetCommit for
// non-transactional commits.
func (g *group) validateOffsetCommit(generation int32, memberID string, instanceID *string) int16 {
	switch {
	case generation < 0 && g.state == stateEmpty:
		// Admin clients and consumers without group management.
		return 0
	case generation >= 0 || memberID != "" || instanceID != nil:
		if code := g.validateCurrentMember(memberID, instanceID); code != 0 {
			return code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
		return 0
	case g.state != stateEmpty:
		// Only members may commit for a group that has members.
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// setOffset records a durable commit.
func (g *group) setOffset(k tp, o offset) {
	putOffset(g.offsets, g.history, k, o, g.c.cfg.HistoryMaxPerPartition)
	g.publishCommit(k, &o)
}

// deleteOffset drops a committed offset (expiry, OffsetDelete), keeping it
// in the history until it ages out.
func (g *group) deleteOffset(k tp, at time.Time) {
	dropOffset(g.offsets, g.history, k, at)
}

// pruneHistory drops superseded commits replaced more than HistoryRetention
// before now.
func (g *group) pruneHistory(now time.Time) {
	pruneHistory(g.history, now.Add(-g.c.cfg.HistoryRetention))
}

// expiryBase returns when offset o expires under the group's current
// state, and whether it can expire at all (Kafka's removeExpiredOffsets,
// KIP-211).
func (g *group) expiryTime(k tp, o *offset) (time.Time, bool) {
	retention := g.c.cfg.OffsetsRetention
	base := func(t time.Time) time.Time {
		if !o.expire.IsZero() {
			// Old per-commit retention (OffsetCommit v1-v4).
			return o.expire
		}
		return t.Add(retention)
	}
	switch {
	case g.protocolType != "" && g.state == stateEmpty:
		// No members: the clock started when the group became Empty.
		if !g.stateTime.IsZero() {
			return base(g.stateTime), true
		}
		return base(o.commit), true
	case g.protocolType == "consumer" && g.subscribedKnown && g.state == stateStable:
		// Active consumer group: only topics it no longer subscribes to
		// expire, counted from their last commit.
		if _, ok := g.subscribed[k.topic]; ok {
			return time.Time{}, false
		}
		return base(o.commit), true
	case g.protocolType == "":
		// Offset-only group, or the offsets of a consumer-protocol group:
		// counted from the last commit, but never while a member of the
		// consumer group subscribes to the topic (Kafka's
		// cleanupExpiredOffsets asks isSubscribedToTopic).
		if m, ok := g.c.cfg.Modern.(ModernExpiry); ok && m.SubscribedTo(g.name, k.topic) {
			return time.Time{}, false
		}
		return base(o.commit), true
	}
	return time.Time{}, false
}

func (g *group) offsetInfo(k tp, o *offset) OffsetInfo {
	oi := OffsetInfo{Offset: o.offset, LeaderEpoch: o.epoch, Metadata: o.meta, CommitTime: o.commit}
	if t, ok := g.expiryTime(k, o); ok {
		oi.ExpireTime = t
	}
	return oi
}

func (c *Coordinator) armExpiryCheck() {
	c.sched.after(c.cfg.OffsetsRetentionCheck, func() {
		if c.isClosed() {
			return
		}
		c.expireOffsets()
		c.armExpiryCheck()
	})
}

// expireOffsets is Kafka's cleanupGroupMetadata pass: expired offsets are
// dropped and tombstoned; an Empty group left without offsets becomes Dead
// and is removed (with a group tombstone if it ever had a generation).
func (c *Coordinator) expireOffsets() {
	now := c.now()
	for _, g := range c.snapshot() {
		g.locked(func() { g.expire(now) })
	}
}

func (g *group) expire(now time.Time) {
	var expired []tp
	pending, txn := g.pendingKeys(), g.txnKeys()
	for k, o := range g.offsets {
		// A partition with a commit in flight does not expire (Kafka's
		// getExpiredOffsets): the commit renews it; nor one with
		// offsets of an open transaction (cleanupExpiredOffsets).
		if t, ok := g.expiryTime(k, o); ok && !now.Before(t) && !pending[k] && !txn[k] {
			expired = append(expired, k)
		}
	}
	sortTPs(expired)
	var recs []Record
	for _, k := range expired {
		recs = append(recs, offsetTombstone(g.name, k, now))
	}
	// Dead once the expired offsets are gone: Empty, nothing else left.
	// A group with open transactions stays (Kafka's
	// openTransactionsByGroup), even if they hold none of its offsets.
	dead := func() bool {
		return g.state == stateEmpty && !g.hasOffsets() && len(g.pending) == 0 && len(g.writes) == 0 && !g.hasOpenTxn()
	}
	willDie := g.state == stateEmpty && len(expired) == len(g.offsets) && len(pending) == 0 && len(g.pending) == 0 && !g.hasOpenTxn()
	if willDie && g.generation > 0 {
		recs = append(recs, groupTombstone(g.name, now))
	}
	g.pruneHistory(now)
	if len(recs) == 0 {
		if willDie && dead() {
			g.c.log.Info("removing empty group without offsets", "group", g.name)
			g.c.removeGroup(g)
		}
		return
	}
	// Applied once durable, as Kafka 4.x's coordinator applies its
	// expiration when the write commits; a failed write keeps the offsets,
	// and a later pass expires them again.
	g.writeDeletion(recs, expired, DeletedExpired, now, func(w *write) {
		if w.err != nil {
			g.c.log.Warn("failed to write offset expiry tombstones: the offsets stay", "group", g.name, "err", w.err)
			return
		}
		if len(expired) > 0 {
			g.c.log.Info("expired offsets", "group", g.name, "count", len(expired))
		}
		if willDie && !g.removed && dead() {
			g.c.log.Info("removing empty group without offsets", "group", g.name)
			g.c.removeGroup(g)
		}
	})
}

func sortTPs(ks []tp) { sort.Slice(ks, func(i, j int) bool { return tpLess(ks[i], ks[j]) }) }

func tpLess(a, b tp) bool {
	if a.topic != b.topic {
		return a.topic < b.topic
	}
	return a.partition < b.partition
}

// OffsetFetch handles an OffsetFetch request, v8+ group batches included.
// An unknown group answers offset -1 for every requested partition, with no
// error, as Kafka does.
func (c *Coordinator) OffsetFetch(_ context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = rg.Group
			var want map[string][]int32
			var order []string
			if rg.Topics != nil {
				want = make(map[string][]int32)
				for _, t := range rg.Topics {
					if _, ok := want[t.Topic]; !ok {
						order = append(order, t.Topic)
					}
					want[t.Topic] = append(want[t.Topic], t.Partitions...)
				}
			}
			if req.Version >= 9 && c.cfg.Modern != nil {
				// A consumer-protocol group's member fetches at its
				// member epoch; an error answers the group alone, as
				// Kafka answers it.
				if modern, code := c.cfg.Modern.FetchCheck(rg.Group, rg.MemberID, rg.MemberEpoch); modern && code != 0 {
					sg.ErrorCode = code
					resp.Groups = append(resp.Groups, sg)
					continue
				}
			}
			code, topics := c.fetchOffsets(rg.Group, order, want, req.RequireStable)
			sg.ErrorCode = code
			for _, t := range topics {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = t.topic
				for _, p := range t.parts {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata = p.partition, p.offset, p.epoch, &p.meta
					sp.ErrorCode = p.code
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	}

	var want map[string][]int32
	var order []string
	// A null topic list (v2+) asks for every committed offset; before v2 the
	// list is not nullable and an empty one asks for nothing.
	if req.Topics != nil || req.Version < 2 {
		want = make(map[string][]int32)
		for _, t := range req.Topics {
			if _, ok := want[t.Topic]; !ok {
				order = append(order, t.Topic)
			}
			want[t.Topic] = append(want[t.Topic], t.Partitions...)
		}
	}
	code, topics := c.fetchOffsets(req.Group, order, want, req.Version >= 7 && req.RequireStable)
	if req.Version >= 2 {
		resp.ErrorCode = code
	}
	for _, t := range topics {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = t.topic
		for _, p := range t.parts {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.Metadata = p.partition, p.offset, &p.meta
			if req.Version >= 5 {
				sp.LeaderEpoch = p.epoch
			}
			sp.ErrorCode = p.code
			if req.Version < 2 {
				sp.ErrorCode = code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

type fetchedTopic struct {
	topic string
	parts []fetchedPartition
}

type fetchedPartition struct {
	partition int32
	offset    int64
	epoch     int32
	meta      string
	code      int16 // UNSTABLE_OFFSET_COMMIT: an open transaction holds offsets of it
}

// fetchOffsets answers one group; want nil means every committed offset.
// Commits still pending are not seen, unless stable (RequireStable) asks
// to wait for the group's writes in flight, as Kafka 4's coordinator
// does by serving such a fetch as a write operation.
func (c *Coordinator) fetchOffsets(name string, order []string, want map[string][]int32, stable bool) (int16, []fetchedTopic) {
	none := func(code int16) []fetchedTopic {
		var out []fetchedTopic
		for _, t := range order {
			ft := fetchedTopic{topic: t}
			for _, p := range want[t] {
				ft.parts = append(ft.parts, fetchedPartition{partition: p, offset: -1, epoch: -1})
			}
			out = append(out, ft)
		}
		return out
	}
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable.Code, none(kerr.CoordinatorNotAvailable.Code)
	}
	if c.fencedGroup(name) {
		return kerr.NotCoordinator.Code, none(kerr.NotCoordinator.Code)
	}
	g := c.lockGroup(name, false)
	if g == nil {
		return 0, none(0)
	}
	if w := g.lastWrite(); stable && w != nil {
		g.mu.Unlock()
		<-w.applied // never cancelled: the writes end with the coordinator's context
		if g = c.lockGroup(name, false); g == nil {
			return 0, none(0)
		}
	}
	defer g.mu.Unlock()
	lookup := func(k tp) fetchedPartition {
		if stable && g.txnPending(k) {
			// Kafka's fetchOffsets: the client retries until the
			// transaction ends.
			return fetchedPartition{partition: k.partition, offset: -1, epoch: -1, code: kerr.UnstableOffsetCommit.Code}
		}
		if o, ok := g.offsets[k]; ok {
			return fetchedPartition{partition: k.partition, offset: o.offset, epoch: o.epoch, meta: o.meta}
		}
		return fetchedPartition{partition: k.partition, offset: -1, epoch: -1}
	}
	if want != nil {
		var out []fetchedTopic
		for _, t := range order {
			ft := fetchedTopic{topic: t}
			for _, p := range want[t] {
				ft.parts = append(ft.parts, lookup(tp{t, p}))
			}
			out = append(out, ft)
		}
		return 0, out
	}
	keys := make([]tp, 0, len(g.offsets))
	for k := range g.offsets {
		keys = append(keys, k)
	}
	sortTPs(keys)
	var out []fetchedTopic
	for _, k := range keys {
		if len(out) == 0 || out[len(out)-1].topic != k.topic {
			out = append(out, fetchedTopic{topic: k.topic})
		}
		last := &out[len(out)-1]
		last.parts = append(last.parts, lookup(k))
	}
	return 0, out
}

// OffsetDelete handles an OffsetDelete request (KIP-496): offsets may be
// deleted when the group is Empty, or, for a consumer group with members,
// for topics none of its members subscribes to (GROUP_SUBSCRIBED_TO_TOPIC
// otherwise).
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	return c.BeginOffsetDelete(ctx, req)()
}

// BeginOffsetDelete validates and appends the tombstones of req, in the
// order of the caller's other appends (the broker calls it on the
// connection's read loop), and returns the function that waits for them
// to be durable and answers (called off the read loop).
func (c *Coordinator) BeginOffsetDelete(_ context.Context, req *kmsg.OffsetDeleteRequest) func() *kmsg.OffsetDeleteResponse {
	code, perPartition, w := c.offsetDelete(req)
	return func() *kmsg.OffsetDeleteResponse { return finishOffsetDelete(req, code, perPartition, w) }
}

func finishOffsetDelete(req *kmsg.OffsetDeleteRequest, code int16, perPartition [][]int16, w *write) *kmsg.OffsetDeleteResponse {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	if w != nil {
		<-w.applied
		if w.err != nil {
			// Kafka 4.x answers a failed write of the tombstones with the
			// request's error code alone, which clients treat as the
			// coordinator's (NOT_COORDINATOR: find it again and retry).
			code = storeErrCode(w.err)
		}
	}
	resp.ErrorCode = code
	if code != 0 {
		return resp
	}
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = perPartition[ti][pi]
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// offsetDelete appends the offsets' tombstones; w, if not nil, is their
// write, which deletes the offsets in memory once durable (as Kafka 4.x's
// coordinator applies it when the write commits) and whose error answers
// the request, deleting nothing.
func (c *Coordinator) offsetDelete(req *kmsg.OffsetDeleteRequest) (int16, [][]int16, *write) {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code, nil, nil
	}
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable.Code, nil, nil
	}
	if c.fencedGroup(req.Group) {
		return kerr.NotCoordinator.Code, nil, nil
	}
	codes := make([][]int16, len(req.Topics))
	for ti, rt := range req.Topics {
		codes[ti] = make([]int16, len(rt.Partitions))
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code, nil, nil
	}
	defer g.mu.Unlock()
	var subscribedCheck bool
	switch {
	case g.state == stateEmpty:
	case g.protocolType == "consumer":
		subscribedCheck = true
	default:
		return kerr.NonEmptyGroup.Code, nil, nil
	}
	now := c.now()
	var (
		recs    []Record
		del     []tp
		seen    = make(map[tp]bool)
		exist   = c.cfg.TopicPartitionExists
		pending = g.pendingKeys()
		txn     = g.txnKeys()
	)
	for ti, rt := range req.Topics {
		for pi, rp := range rt.Partitions {
			k := tp{rt.Topic, rp.Partition}
			switch {
			case exist != nil && !exist(k.topic, k.partition):
				codes[ti][pi] = kerr.UnknownTopicOrPartition.Code
			case subscribedCheck && g.isSubscribedTo(k.topic):
				codes[ti][pi] = kerr.GroupSubscribedToTopic.Code
			default:
				if _, ok := g.offsets[k]; (ok || pending[k] || txn[k]) && !seen[k] {
					seen[k] = true
					del = append(del, k)
					recs = append(recs, offsetTombstone(g.name, k, now))
				}
			}
		}
	}
	if len(recs) == 0 {
		return 0, codes, nil
	}
	w := g.writeDeletion(recs, del, DeletedByRequest, now, func(w *write) {
		if w.err != nil {
			c.log.Warn("failed to write offset delete tombstones: the offsets stay", "group", g.name, "err", w.err)
		}
	})
	return 0, codes, w
}

// TopicDeleted drops every group's committed offsets for topic, writing
// tombstones, as Kafka's handleDeletedPartitions does when a topic is
// deleted; Empty groups left without offsets are removed. The broker calls
// it after deleting a topic, so a topic re-created under the same name does
// not start from stale offsets.
func (c *Coordinator) TopicDeleted(topic string) {
	now := c.now()
	for _, g := range c.snapshot() {
		g.locked(func() {
			var recs []Record
			var del []tp
			for k := range g.offsets {
				if k.topic == topic {
					del = append(del, k)
				}
			}
			pending := g.pendingKeys()
			for k := range g.txnKeys() {
				if pending == nil {
					pending = make(map[tp]bool)
				}
				pending[k] = true
			}
			for k := range pending {
				if _, ok := g.offsets[k]; !ok && k.topic == topic {
					del = append(del, k)
				}
			}
			if len(del) == 0 {
				return
			}
			sortTPs(del)
			for _, k := range del {
				recs = append(recs, offsetTombstone(g.name, k, now))
				g.deleteOffset(k, now)
				g.dropPending(k)
				g.dropTxn(k, math.MaxInt64) // the topic is gone
			}
			g.publishDeleted(del, DeletedTopic, now)
			dead := g.state == stateEmpty && !g.hasOffsets() && len(g.pending) == 0 && !g.hasOpenTxn()
			if dead && g.generation > 0 {
				recs = append(recs, groupTombstone(g.name, now))
			}
			g.write(recs, nil, func(w *write) {
				if w.err != nil {
					c.log.Warn("failed to write tombstones for a deleted topic", "group", g.name, "topic", topic, "err", w.err)
				}
			})
			if dead {
				c.removeGroup(g)
			}
		})
	}
}
