package group

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit versions 0-6.
//
//   - v0-v1 carry no leader epoch, member id or generation: the commit is
//     never checked against the group's membership.
//   - v2+ carry the leader epoch.
//   - v3+ carry the member id, generation and group instance id, checked
//     as Kafka's ClassicGroup.validateOffsetCommit does for transactional
//     commits: UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION;
//     unlike OffsetCommit, a group in CompletingRebalance takes them and
//     a request without member id is taken by a non-Empty group. An
//     unknown group is created if the generation is negative; otherwise
//     it is ILLEGAL_GENERATION, GROUP_ID_NOT_FOUND from v6.
//   - v6 names topics by id; the broker resolves them before the call.
//
// A transactional commit is written at once, in a transactional batch of
// the producer (Store.AppendTxn), and stays pending per (group, producer
// id) until the transaction's marker is written to the same partition
// (CompleteTxn): a commit marker applies the offsets, an abort drops them.
// While they are pending, OffsetFetch with RequireStable answers
// UNSTABLE_OFFSET_COMMIT for their partitions, the partitions do not
// expire and the group is not removed for want of offsets. This is
// Kafka's OffsetMetadataManager (pendingTransactionalOffsets,
// openTransactionsByGroup, replayEndTransactionMarker).
//
// Order. When a commit marker applies a transactional offset, it replaces
// the committed one only if its record is later in the log than the
// committed one's (Kafka compares record offsets, so that the latest
// commit wins whichever kind it was, in memory and after a replay of a
// compacted log). At run time a record's place in the log is a sequence
// number taken when it is appended (offset.seq), which is the log order
// within a group since a group's appends are serialized; replayed records
// carry their log offset, and run-time numbers start above every replayed
// one.
//
// Locking. A marker must land in the log on the same side of every
// transactional commit of its producer in its partition as in memory, so
// TxnOffsetCommit holds its partition's txn lock shared while it appends
// and CompleteTxn holds it exclusively while it appends the marker with
// the locks of every group holding the producer's offsets (taken in name
// order; nothing else holds two group locks). Both are held only across
// Append, which never waits for the disk.

// Marker is a transaction marker to write (WriteTxnMarkers' fields).
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool
	// TxnVersion is the transaction.version the transaction ran under:
	// from 2 (KIP-890) the marker carries the bumped epoch.
	TxnVersion int8
}

// txnOffsets are the pending offsets one producer's open transaction
// committed for a group.
type txnOffsets struct {
	pid     int64
	epoch   int16
	offsets map[tp]offset
}

// txnIndex finds the groups of a partition holding pending offsets of a
// producer.
type txnIndex struct {
	mu     sync.Mutex
	groups map[int32]map[int64]map[string]struct{}
}

func (x *txnIndex) add(p int32, pid int64, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.groups == nil {
		x.groups = make(map[int32]map[int64]map[string]struct{})
	}
	byPid := x.groups[p]
	if byPid == nil {
		byPid = make(map[int64]map[string]struct{})
		x.groups[p] = byPid
	}
	names := byPid[pid]
	if names == nil {
		names = make(map[string]struct{})
		byPid[pid] = names
	}
	names[name] = struct{}{}
}

// take removes and returns, sorted, the groups of partition p indexed
// for pid.
func (x *txnIndex) take(p int32, pid int64) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	names := x.groups[p][pid]
	delete(x.groups[p], pid)
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// txnLock is partition p's lock between transactional commits and
// markers.
func (c *Coordinator) txnLock(p int32) *sync.RWMutex {
	c.txnLocksMu.Lock()
	defer c.txnLocksMu.Unlock()
	if c.txnLocks == nil {
		c.txnLocks = make(map[int32]*sync.RWMutex)
	}
	l := c.txnLocks[p]
	if l == nil {
		l = new(sync.RWMutex)
		c.txnLocks[p] = l
	}
	return l
}

// nextSeq numbers an append's records (see Order above).
func (c *Coordinator) nextSeq() int64 { return c.seq.Add(1) }

// seqAbove makes later appends number above recOffset.
func (c *Coordinator) seqAbove(recOffset int64) {
	for {
		cur := c.seq.Load()
		if cur >= recOffset || c.seq.CompareAndSwap(cur, recOffset) {
			return
		}
	}
}

// TxnOffsetCommit handles a TxnOffsetCommit request. It returns once the
// commit's records are durable in the Store (or failed); the offsets are
// then pending until CompleteTxn.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	return c.BeginTxnOffsetCommit(ctx, req)()
}

// BeginTxnOffsetCommit is TxnOffsetCommit split as BeginOffsetCommit is:
// it validates and appends; the function it returns waits for the write,
// holding no lock, and returns the response. It must be called, once.
func (c *Coordinator) BeginTxnOffsetCommit(_ context.Context, req *kmsg.TxnOffsetCommitRequest) func() *kmsg.TxnOffsetCommitResponse {
	g, resp, w := c.beginTxnOffsetCommit(req)
	if w == nil || w.done {
		return func() *kmsg.TxnOffsetCommitResponse {
			if w != nil {
				<-w.applied
			}
			return resp
		}
	}
	var once sync.Once
	return func() *kmsg.TxnOffsetCommitResponse {
		once.Do(func() { g.await(w) })
		<-w.applied
		return resp
	}
}

func (c *Coordinator) beginTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) (g *group, resp *kmsg.TxnOffsetCommitResponse, w *write) {
	resp = kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	type ref struct{ t, p int }
	var valid []ref
	for i, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for j, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
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
	switch {
	case len(valid) == 0:
		return nil, resp, nil
	case c.isClosed():
		setAll(kerr.CoordinatorNotAvailable.Code)
		return nil, resp, nil
	case req.Group == "":
		setAll(kerr.InvalidGroupID.Code)
		return nil, resp, nil
	case c.fencedGroup(req.Group):
		setAll(kerr.NotCoordinator.Code)
		return nil, resp, nil
	}

	generation, memberID, instanceID := req.Generation, req.MemberID, req.InstanceID
	if req.Version < 3 {
		generation, memberID, instanceID = -1, "", nil
	}
	if c.cfg.Modern != nil {
		// A consumer-protocol group's member commits at its member epoch
		// (modern.go); before v6 a stale epoch is ILLEGAL_GENERATION, as
		// Kafka's validateTransactionalOffsetCommit maps it.
		modern, code, check := c.cfg.Modern.CommitCheck(req.Group, memberID, instanceID, generation, req.Version, true)
		stale := func(code int16) int16 {
			if code == kerr.StaleMemberEpoch.Code && req.Version < 6 {
				return kerr.IllegalGeneration.Code
			}
			return code
		}
		if modern {
			if code != 0 {
				setAll(stale(code))
				return nil, resp, nil
			}
			if check != nil {
				kept := valid[:0]
				for _, r := range valid {
					if code := check(req.Topics[r.t].Topic, req.Topics[r.t].Partitions[r.p].Partition); code != 0 {
						resp.Topics[r.t].Partitions[r.p].ErrorCode = stale(code)
						continue
					}
					kept = append(kept, r)
				}
				if valid = kept; len(valid) == 0 {
					return nil, resp, nil
				}
			}
			generation, memberID, instanceID = -1, "", nil
		}
	}
	p := c.PartitionFor(req.Group)
	lock := c.txnLock(p)
	lock.RLock()
	defer lock.RUnlock()
	g = c.lockGroup(req.Group, generation < 0)
	if g == nil {
		if req.Version >= 6 {
			setAll(kerr.GroupIDNotFound.Code)
		} else {
			setAll(kerr.IllegalGeneration.Code)
		}
		return nil, resp, nil
	}
	defer g.mu.Unlock()
	if generation >= 0 || memberID != "" || instanceID != nil {
		// A negative generation with no member is taken whatever the
		// group's state: the old protocol versions carry no member.
		if generation >= 0 || g.state != stateEmpty {
			if code := g.validateCurrentMember(memberID, instanceID); code != 0 {
				setAll(code)
				return nil, resp, nil
			}
			if generation != g.generation {
				setAll(kerr.IllegalGeneration.Code)
				return nil, resp, nil
			}
		}
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
		o := offset{offset: rp.Offset, epoch: -1, meta: meta, commit: now, txn: true}
		if req.Version >= 2 {
			o.epoch = rp.LeaderEpoch
		}
		k := tp{rt.Topic, rp.Partition}
		recs = append(recs, offsetRecord(g.name, k, &o, now))
		commits = append(commits, staged{k: k, o: o})
	}
	if len(recs) == 0 {
		return nil, resp, nil
	}
	pid, epoch := req.ProducerID, req.ProducerEpoch
	w = &write{applied: make(chan struct{})}
	if s := c.store; s != nil {
		w.p, w.err = s.AppendTxn(p, pid, epoch, recs)
	}
	w.done = w.p == nil
	if w.err == nil {
		// Pending from the append on, as in Kafka: a RequireStable fetch
		// and the producer's marker see them before they are durable
		// (the marker's own durability implies theirs).
		t := g.txn[pid]
		if t == nil {
			t = &txnOffsets{pid: pid, offsets: make(map[tp]offset)}
			if g.txn == nil {
				g.txn = make(map[int64]*txnOffsets)
			}
			g.txn[pid] = t
		}
		t.epoch = epoch
		seq := c.nextSeq()
		for i := range commits {
			commits[i].o.seq = seq
			t.offsets[commits[i].k] = commits[i].o
		}
		c.txns.add(p, pid, g.name)
	}
	w.then = func(w *write) {
		if w.err == nil {
			// Durable: observers learn of the offsets still pending.
			if t := g.txn[pid]; t != nil && !g.removed {
				for _, s := range commits {
					if cur, ok := t.offsets[s.k]; ok && cur.seq == s.o.seq {
						g.publishTxnPending(s.k, &cur, epoch, pid, false)
					}
				}
			}
			return
		}
		c.log.Warn("transactional offset commit failed", "group", g.name, "producer_id", pid, "err", w.err)
		setAll(storeErrCode(w.err))
		// Not written: what it made pending is not (later commits of
		// the same partition have another seq and stay).
		if t := g.txn[pid]; t != nil {
			for _, s := range commits {
				if cur, ok := t.offsets[s.k]; ok && cur.seq == s.o.seq {
					delete(t.offsets, s.k)
				}
			}
		}
	}
	g.writes = append(g.writes, w)
	if w.done {
		g.drain()
	}
	return g, resp, w
}

// CompleteTxn writes the marker m ending a producer's transaction into
// __consumer_offsets partition p (commit or abort) and, once it is
// durable, applies (commit) or drops (abort) the offsets the transaction
// committed for the partition's groups. It returns once that is done, or
// the marker's error (a kerr.Error from the Store, ctx's, or
// COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR when the coordinator is
// closed or the partition fenced); after an error the offsets stay
// pending and the marker may be written again. The transaction
// coordinator calls it (through the broker's marker writer) for each
// __consumer_offsets partition of a transaction, also when no group holds
// offsets of it: the marker is written all the same, as Kafka writes it.
func (c *Coordinator) CompleteTxn(ctx context.Context, p int32, m Marker) error {
	pid, commit := m.ProducerID, m.Commit
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable
	}
	if c.PartitionErr(p) != nil {
		return kerr.NotCoordinator
	}
	lock := c.txnLock(p)
	lock.Lock()
	var gs []*group
	for _, name := range c.txns.take(p, pid) {
		if g := c.lockGroup(name, false); g != nil {
			gs = append(gs, g)
		}
	}
	var (
		pend Pending
		err  error
	)
	if c.store != nil {
		pend, err = c.store.AppendMarker(p, m)
	}
	type queued struct {
		g *group
		w *write
	}
	var ws []queued
	for _, g := range gs {
		if err != nil {
			if g.txn[pid] != nil {
				c.txns.add(p, pid, g.name) // still open
			}
			g.mu.Unlock()
			continue
		}
		if t := g.txn[pid]; t != nil {
			delete(g.txn, pid)
			ws = append(ws, queued{g, g.markerWrite(pend, t, commit)})
		}
		g.mu.Unlock()
	}
	lock.Unlock()
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		if pend == nil {
			return nil
		}
		return pend.Wait(ctx)
	}
	for _, q := range ws {
		if !q.w.done {
			go q.g.await(q.w)
		}
	}
	for _, q := range ws {
		select {
		case <-q.w.applied:
		case <-ctx.Done():
			// The marker's outcome is applied when known; the caller
			// writes it again if it must.
			return ctx.Err()
		}
		if q.w.err != nil {
			return q.w.err
		}
	}
	return nil
}

// markerWrite queues the marker's write, already appended (pend), in g's
// writes; its callback ends t. g.mu is held.
func (g *group) markerWrite(pend Pending, t *txnOffsets, commit bool) *write {
	w := &write{p: pend, txn: t, applied: make(chan struct{})}
	w.done = pend == nil
	w.then = func(w *write) {
		if w.err != nil {
			// The marker is not durable: the transaction is still open
			// here, and its marker will be written again. Offsets the
			// producer committed since are newer and stay.
			g.c.log.Warn("transaction marker failed", "group", g.name, "producer_id", t.pid, "err", w.err)
			if g.removed {
				return
			}
			cur := g.txn[t.pid]
			if cur == nil {
				if g.txn == nil {
					g.txn = make(map[int64]*txnOffsets)
				}
				g.txn[t.pid] = t
			} else {
				for k, o := range t.offsets {
					if _, ok := cur.offsets[k]; !ok {
						cur.offsets[k] = o
					}
				}
			}
			g.c.txns.add(g.c.PartitionFor(g.name), t.pid, g.name)
			return
		}
		if g.removed {
			return
		}
		g.endTxn(t, commit, g.c.now(), false)
	}
	g.writes = append(g.writes, w)
	if w.done {
		g.drain()
	}
	return w
}

// endTxn applies (commit) or drops t's offsets once its marker is
// durable (or replayed): a transactional offset replaces the committed
// one only if its record is the later one (Kafka's
// replayEndTransactionMarker).
func (g *group) endTxn(t *txnOffsets, commit bool, at time.Time, replayed bool) {
	keys := make([]tp, 0, len(t.offsets))
	for k := range t.offsets {
		keys = append(keys, k)
	}
	sortTPs(keys)
	var applied []TopicPartition
	if commit {
		for _, k := range keys {
			o := t.offsets[k]
			if cur, ok := g.offsets[k]; ok && cur.seq > o.seq {
				continue // a later commit of the partition wins
			}
			putOffset(g.offsets, g.history, k, o, g.c.cfg.HistoryMaxPerPartition)
			g.c.publish(commitEvent(g.name, k, &o, t.pid, replayed))
			applied = append(applied, TopicPartition{k.topic, k.partition})
		}
	}
	g.c.publish(TxnEnded{Group: g.name, ProducerID: t.pid, ProducerEpoch: t.epoch, Committed: commit,
		Applied: applied, Time: at, Replayed: replayed})
}

// dropTxn drops k's offsets written before seq from every open
// transaction of g, including those whose marker is in flight (k's
// offsets were deleted after them, as a replayed tombstone drops them in
// Kafka).
func (g *group) dropTxn(k tp, seq int64) {
	drop := func(t *txnOffsets) {
		if o, ok := t.offsets[k]; ok && o.seq < seq {
			delete(t.offsets, k)
		}
	}
	for _, t := range g.txn {
		drop(t)
	}
	for _, w := range g.writes {
		if w.txn != nil {
			drop(w.txn)
		}
	}
}

// txnKeys returns the partitions with pending transactional offsets
// (markers in flight included).
func (g *group) txnKeys() map[tp]bool {
	var out map[tp]bool
	add := func(t *txnOffsets) {
		for k := range t.offsets {
			if out == nil {
				out = make(map[tp]bool)
			}
			out[k] = true
		}
	}
	for _, t := range g.txn {
		add(t)
	}
	for _, w := range g.writes {
		if w.txn != nil {
			add(w.txn)
		}
	}
	return out
}

// txnPending says whether k has offsets of an open transaction (Kafka's
// hasPendingTransactionalOffsets; a marker in flight still counts: its
// offsets are not applied yet).
func (g *group) txnPending(k tp) bool {
	for _, t := range g.txn {
		if _, ok := t.offsets[k]; ok {
			return true
		}
	}
	for _, w := range g.writes {
		if w.txn != nil {
			if _, ok := w.txn.offsets[k]; ok {
				return true
			}
		}
	}
	return false
}

// hasOpenTxn says whether a transaction still holds offsets of g, or did
// (Kafka keeps a group with open transactions: openTransactionsByGroup).
func (g *group) hasOpenTxn() bool {
	if len(g.txn) > 0 {
		return true
	}
	for _, w := range g.writes {
		if w.txn != nil {
			return true
		}
	}
	return false
}

// PendingTxnOffset is one offset an open transaction committed.
type PendingTxnOffset struct {
	ProducerID    int64
	ProducerEpoch int16
	Topic         string
	Partition     int32
	Offset        int64
	LeaderEpoch   int32
	Metadata      string
	CommitTime    time.Time
}

// PendingTxnOffsets returns the offsets open transactions committed for
// group, sorted by producer id, topic and partition (nil if none): what
// a commit marker would apply. The console and `rewind group explain`
// show them.
func (c *Coordinator) PendingTxnOffsets(group string) []PendingTxnOffset {
	g := c.lockGroup(group, false)
	if g == nil {
		return nil
	}
	defer g.mu.Unlock()
	var out []PendingTxnOffset
	add := func(t *txnOffsets) {
		for k, o := range t.offsets {
			out = append(out, PendingTxnOffset{ProducerID: t.pid, ProducerEpoch: t.epoch, Topic: k.topic, Partition: k.partition,
				Offset: o.offset, LeaderEpoch: o.epoch, Metadata: o.meta, CommitTime: o.commit})
		}
	}
	for _, t := range g.txn {
		add(t)
	}
	for _, w := range g.writes {
		if w.txn != nil {
			add(w.txn)
		}
	}
	slices.SortFunc(out, func(a, b PendingTxnOffset) int {
		switch {
		case a.ProducerID != b.ProducerID:
			return cmpInt(a.ProducerID, b.ProducerID)
		case a.Topic != b.Topic:
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return cmpInt(int64(a.Partition), int64(b.Partition))
	})
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
