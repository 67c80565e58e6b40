package broker

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227), as Kafka's FetchSession.scala keeps them.
//
// A full fetch (epoch 0) asks for a session: the broker caches the
// partitions it fetched with their request parameters and the high
// watermark and log start offset it answered, and returns the session's
// id. The client then sends incremental fetches (epoch 1, 2, ...) naming
// only the partitions whose parameters changed, and forgetting the ones it
// stops following; the broker answers only the partitions with records, a
// moved high watermark or log start offset, or an error.
//
// The cache is Kafka's: --fetch-session-cache-slots
// (max.incremental.fetch.session.cache.slots, default 1000) split into 8
// shards, a new session going to the next shard round-robin and each shard
// holding slots/8 sessions (so fewer than 8 slots means no sessions, as in
// Kafka). A full shard makes room by evicting, within the shard, the
// session unused longest if that is more than 2 minutes
// (MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS), else the smallest session
// created more than 2 minutes ago if the new one has more partitions. No
// session is privileged: there are no followers.
//
// Beyond Kafka, the partitions cached by all sessions together are bounded
// by --fetch-session-cache-partitions, so clients opening sessions over
// many (even nonexistent) partitions cannot grow the broker without bound:
// a full fetch that would pass it gets no session (id 0, served in full),
// and an incremental fetch that would pass it closes its session and is
// answered FETCH_SESSION_ID_NOT_FOUND, after which clients fetch in full.
//
// Cost: a session subscribes once to each partition it caches
// (fetchwait.go) and keeps the set of partitions that can have something
// to answer: named by a request, changed since, with records not yet
// answered, or in error. An incremental fetch reads those, not every
// partition of the session.

const (
	fetchSessionShards   = 8
	fetchSessionEviction = 2 * time.Minute
	fetchSessionIDRange  = math.MaxInt32 / fetchSessionShards
)

// nextEpoch is Kafka's FetchMetadata.nextEpoch.
func nextEpoch(e int32) int32 {
	switch {
	case e < 0:
		return -1
	case e == math.MaxInt32:
		return 1
	}
	return e + 1
}

type fetchSessionCache struct {
	b        *Broker
	mu       sync.Mutex // before any session's mu
	shards   [fetchSessionShards]sessionShard
	next     int   // round-robin shard of the next session
	parts    int64 // partitions cached, all sessions
	maxParts int64 // 0 = unlimited
	evicted  int64 // sessions evicted (metrics, tests)
	incr     int64 // incremental fetches served
	now      func() time.Time
}

type sessionShard struct {
	num      int
	max      int
	sessions map[int32]*fetchSession
}

type fetchSession struct {
	id      int32
	shard   int
	usesIDs bool // created at v13+: partitions are named by topic id

	// Under the cache's mu.
	created, lastUsed time.Time
	cachedSize        int  // partitions as of the last touch (-1: not cached)
	evictableByAll    bool // created more than fetchSessionEviction before the last touch

	mu        sync.Mutex
	epoch     int32 // the epoch the next request must carry
	removed   bool
	waiting   int  // fetches of the session waiting (holdWatch)
	unwatched bool // the subscriptions are let go (removed, and no fetch waits)
	parts     map[sessKey]*sessPart
	byLog     map[*storage.Log]*sessPart
	seq       uint64 // order of the partitions: rotated to the end when they return records
	cand      map[*sessPart]struct{}
	isolation int8
	waiter    *fetchWaiter
	aclGen    uint64 // the authorizer's generation its partitions were last all authorized at (aclRecheckLocked)
}

// sessKey names a cached partition: by topic id in a session that uses
// ids, else by name (the other field zero).
type sessKey struct {
	name string
	id   [16]byte
	part int32
}

type sessPart struct {
	key   sessKey
	topic string // the name, "" while an id is unknown
	id    [16]byte
	rp    kmsg.FetchRequestTopicPartition // the request parameters last given

	hw, logStart int64 // as last answered; -1 after an error
	seq          uint64
	log          *storage.Log // subscribed to
}

func (b *Broker) sessions() *fetchSessionCache {
	b.fetchInit.Do(func() {
		c := &fetchSessionCache{b: b, maxParts: int64(b.cfg.FetchSessionPartitions), now: time.Now}
		for i := range c.shards {
			c.shards[i].max = b.cfg.FetchSessionCacheSlots / fetchSessionShards
		}
		b.fetchCache = c
	})
	return b.fetchCache
}

// fetchContext is what newContext decides a request is (Kafka's
// FetchContext): a session error, a sessionless fetch, a full fetch that
// may create a session, or an incremental one of a session.
type fetchContext struct {
	err      int16 // session error: answered with no topics
	full     bool  // try to create a session from the response
	sess     *fetchSession
	reqEpoch int32
	others   int    // the session's partitions not read at first (no error when last read)
	aclGen   uint64 // of a full fetch: the authorizer's generation before its partitions were authorized
}

func (c *fetchSessionCache) lookup(id int32) *fetchSession {
	if id <= 0 || id/fetchSessionIDRange >= fetchSessionShards {
		return nil
	}
	return c.shards[id/fetchSessionIDRange].sessions[id]
}

// newContext is Kafka's FetchManager.newContext. For an incremental fetch
// it applies the request to the session (added, updated and forgotten
// partitions) and returns the partitions to read, in session order.
func (c *fetchSessionCache) newContext(req *kmsg.FetchRequest, items []fetchItem) (fetchContext, []fetchItem) {
	if req.Version < 7 {
		return fetchContext{}, items
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		if req.SessionID != 0 {
			if s := c.lookup(req.SessionID); s != nil {
				c.removeLocked(s)
			}
		}
		return fetchContext{full: req.SessionEpoch == 0, aclGen: c.aclGen()}, items
	}
	s := c.lookup(req.SessionID)
	if s == nil {
		return fetchContext{err: kerr.FetchSessionIDNotFound.Code}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.epoch != req.SessionEpoch:
		return fetchContext{err: kerr.InvalidFetchSessionEpoch.Code}, nil
	case s.usesIDs != (req.Version >= 13):
		return fetchContext{err: kerr.FetchSessionTopicIDError.Code}, nil
	}
	before := len(s.parts)
	s.updateLocked(c.b, req, items)
	if c.maxParts > 0 && c.parts-int64(s.cachedSize)+int64(len(s.parts)) > c.maxParts && len(s.parts) > before {
		// Past --fetch-session-cache-partitions: the session goes, as if
		// evicted; the client starts again with a full fetch.
		c.uncacheLocked(s)
		s.unwatchLocked(c.b)
		return fetchContext{err: kerr.FetchSessionIDNotFound.Code}, nil
	}
	if len(s.parts) == 0 {
		c.uncacheLocked(s)
		s.unwatchLocked(c.b)
		return fetchContext{}, items
	}
	c.touchLocked(s)
	c.incr++
	s.epoch = nextEpoch(s.epoch)
	s.takeChangedLocked()
	s.aclRecheckLocked(c.aclGen())
	items = s.itemsLocked()
	return fetchContext{sess: s, reqEpoch: req.SessionEpoch, others: len(s.parts) - len(items)}, items
}

// aclGen is the authorizer's generation, 0 without one.
func (c *fetchSessionCache) aclGen() uint64 {
	if a := c.b.sec.authz; a != nil {
		return a.Generation()
	}
	return 0
}

// aclRecheckLocked makes every partition of the session a candidate once
// the ACLs changed since they were last all authorized: Kafka authorizes
// each partition of the session on every fetch, so one whose READ was
// taken away is answered TOPIC_AUTHORIZATION_FAILED at the next fetch
// even if nothing changed in it, and one denied stays a candidate
// (answerLocked) until allowed. Looking at them all only after a change
// keeps an incremental fetch's work to the partitions that changed.
func (s *fetchSession) aclRecheckLocked(gen uint64) {
	if gen == s.aclGen {
		return
	}
	s.aclGen = gen
	for _, sp := range s.parts {
		s.cand[sp] = struct{}{}
	}
}

// updateLocked is Kafka's FetchSession.update: partitions named are added
// or take the request's parameters; forgotten ones are dropped.
func (s *fetchSession) updateLocked(b *Broker, req *kmsg.FetchRequest, items []fetchItem) {
	for i := range items {
		it := &items[i]
		k := s.keyOf(it.topic, it.id, it.rp.Partition)
		sp := s.parts[k]
		if sp == nil {
			sp = &sessPart{key: k, topic: it.topic, id: it.id, hw: -1, logStart: -1}
			s.parts[k] = sp
			s.seq++
			sp.seq = s.seq
		}
		sp.rp = it.rp
		s.cand[sp] = struct{}{}
		if it.code == 0 {
			// Subscribed now, so that a fetch that waits hears of it.
			s.watchLocked(b, sp, b.partition(it.topic, it.rp.Partition))
		}
	}
	for _, ft := range req.ForgottenTopics {
		name, id := ft.Topic, ft.TopicID
		if s.usesIDs {
			name = ""
		} else {
			id = [16]byte{}
		}
		for _, p := range ft.Partitions {
			k := sessKey{name, id, p}
			if sp := s.parts[k]; sp != nil {
				s.dropLocked(b, sp)
			}
		}
	}
	if req.IsolationLevel != s.isolation {
		// What could be read changes with the isolation level: every
		// partition is looked at once.
		s.isolation = req.IsolationLevel
		for _, sp := range s.parts {
			s.cand[sp] = struct{}{}
		}
	}
}

func (s *fetchSession) keyOf(name string, id [16]byte, p int32) sessKey {
	if s.usesIDs {
		return sessKey{id: id, part: p}
	}
	return sessKey{name: name, part: p}
}

func (s *fetchSession) dropLocked(b *Broker, sp *sessPart) {
	delete(s.parts, sp.key)
	delete(s.cand, sp)
	if sp.log != nil {
		delete(s.byLog, sp.log)
		b.fetchWatch.unsubscribe(sp.log, s.waiter)
		sp.log = nil
	}
}

// itemsLocked returns the partitions an incremental fetch reads: the
// candidates, in session order.
func (s *fetchSession) itemsLocked() []fetchItem {
	ps := make([]*sessPart, 0, len(s.cand))
	for sp := range s.cand {
		ps = append(ps, sp)
	}
	slices.SortFunc(ps, func(a, b *sessPart) int { return int(a.seq - b.seq) })
	items := make([]fetchItem, len(ps))
	for i, sp := range ps {
		items[i] = sp.item()
	}
	return items
}

// sorted returns the items of the session's partitions in session order.
func (s *fetchSession) sorted(items []fetchItem) []fetchItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.SortStableFunc(items, func(a, b fetchItem) int { return cmp.Compare(a.sp.seq, b.sp.seq) })
	return items
}

func (sp *sessPart) item() fetchItem {
	it := fetchItem{topic: sp.topic, id: sp.id, rp: sp.rp, sp: sp}
	if sp.topic == "" {
		it.code = kerr.UnknownTopicID.Code
	}
	return it
}

// superseded reports whether a fetch of the session came after the one
// at epoch: the session has moved past it, whose answer is then
// INVALID_FETCH_SESSION_EPOCH.
func (s *fetchSession) superseded(epoch int32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.supersededLocked(epoch)
}

func (s *fetchSession) supersededLocked(epoch int32) bool { return s.epoch != nextEpoch(epoch) }

// changed returns the items of the partitions whose logs changed that are
// not among have (the partitions a waiting incremental fetch reads).
func (s *fetchSession) changed(logs map[*storage.Log]struct{}, have map[*sessPart]int) []fetchItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fetchItem
	for l := range logs {
		sp := s.byLog[l]
		if sp == nil {
			continue
		}
		if _, ok := have[sp]; !ok {
			s.cand[sp] = struct{}{}
			out = append(out, sp.item())
		}
	}
	return out
}

// takeChangedLocked makes the partitions whose logs changed since the
// last look candidates.
func (s *fetchSession) takeChangedLocked() {
	for l := range s.waiter.drain() {
		if sp := s.byLog[l]; sp != nil {
			s.cand[sp] = struct{}{}
		}
	}
}

// watchLocked subscribes the session to the log an item was read from,
// moving the subscription if the partition now has another log (a topic
// deleted and created again).
func (s *fetchSession) watchLocked(b *Broker, sp *sessPart, l *storage.Log) {
	if sp.log == l {
		return
	}
	if sp.log != nil {
		delete(s.byLog, sp.log)
		b.fetchWatch.unsubscribe(sp.log, s.waiter)
	}
	sp.log = l
	if l != nil {
		s.byLog[l] = sp
		b.fetchWatch.subscribe(l, s.waiter)
		// A change between the read and the subscription is not missed.
		if l.HighWatermark() != sp.hw {
			s.cand[sp] = struct{}{}
		}
	}
}

// mustAnswer is Kafka's CachedPartition.maybeUpdateResponseData without
// the update: whether the partition is answered in an incremental
// response (the session's mu held).
func mustAnswer(sp *sessPart, r *kmsg.FetchResponseTopicPartition, records bool) bool {
	return records || r.ErrorCode != 0 || sp.hw != r.HighWatermark || sp.logStart != r.LogStartOffset
}

// answerLocked is Kafka's CachedPartition.maybeUpdateResponseData: whether the
// partition is answered in an incremental response, updating what was
// answered. It also keeps the partition a candidate while it has records
// to read or an error.
func (s *fetchSession) answerLocked(sp *sessPart, r *kmsg.FetchResponseTopicPartition, records bool) bool {
	must := mustAnswer(sp, r, records)
	sp.hw, sp.logStart = r.HighWatermark, r.LogStartOffset
	if r.ErrorCode != 0 {
		sp.hw = -1
	}
	if records {
		s.seq++
		sp.seq = s.seq
	}
	end := r.HighWatermark
	if s.isolation == 1 {
		end = r.LastStableOffset
	}
	if r.ErrorCode == 0 && sp.rp.FetchOffset >= end {
		delete(s.cand, sp)
	} else {
		s.cand[sp] = struct{}{}
	}
	return must
}

// create is FullFetchContext.updateAndGenerateResponseData's session: made
// from the partitions of a full fetch's response, if the cache has room.
// It returns the session id, 0 for none. aclGen is the authorizer's
// generation before the fetch's partitions were authorized.
func (c *fetchSessionCache) create(req *kmsg.FetchRequest, items []fetchItem, f *fetched, aclGen uint64) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	size := len(items)
	if c.maxParts > 0 && c.parts+int64(size) > c.maxParts {
		return 0
	}
	now := c.now()
	shard := c.next
	c.next = (c.next + 1) % fetchSessionShards
	sh := &c.shards[shard]
	if sh.num >= sh.max && !c.tryEvictLocked(sh, size, now) {
		return 0
	}
	s := &fetchSession{
		shard: shard, usesIDs: req.Version >= 13, created: now, lastUsed: now, cachedSize: -1,
		epoch: nextEpoch(0), parts: make(map[sessKey]*sessPart, size), byLog: make(map[*storage.Log]*sessPart),
		cand: make(map[*sessPart]struct{}), isolation: req.IsolationLevel, aclGen: aclGen,
	}
	s.waiter = newFetchWaiter()
	for {
		lo := max(1, int32(shard)*fetchSessionIDRange)
		s.id = lo + rand.Int32N(int32(shard+1)*fetchSessionIDRange-lo)
		if sh.sessions[s.id] == nil {
			break
		}
	}
	s.mu.Lock()
	for i := range items {
		it := &items[i]
		k := s.keyOf(it.topic, it.id, it.rp.Partition)
		sp := &sessPart{key: k, topic: it.topic, id: it.id, rp: it.rp, hw: -1, logStart: -1}
		if it.code == kerr.UnknownTopicID.Code {
			sp.topic = ""
		}
		s.seq++
		sp.seq = s.seq
		s.parts[k] = sp
		r := f.parts[i]
		s.answerLocked(sp, r, false)
		s.watchLocked(c.b, sp, f.logs[i])
	}
	s.mu.Unlock()
	if sh.sessions == nil {
		sh.sessions = make(map[int32]*fetchSession)
	}
	sh.sessions[s.id] = s
	sh.num++
	c.touchLocked(s)
	return s.id
}

// tryEvictLocked is FetchSessionCacheShard.tryEvict for an unprivileged
// session of size partitions.
func (c *fetchSessionCache) tryEvictLocked(sh *sessionShard, size int, now time.Time) bool {
	var oldest, smallest *fetchSession
	for _, s := range sh.sessions {
		if oldest == nil || s.lastUsed.Before(oldest.lastUsed) || (s.lastUsed.Equal(oldest.lastUsed) && s.id < oldest.id) {
			oldest = s
		}
		if s.evictableByAll && (smallest == nil || s.cachedSize < smallest.cachedSize || (s.cachedSize == smallest.cachedSize && s.id < smallest.id)) {
			smallest = s
		}
	}
	switch {
	case oldest == nil:
		return false
	case now.Sub(oldest.lastUsed) > fetchSessionEviction:
		c.removeLocked(oldest)
	case smallest != nil && size > smallest.cachedSize:
		c.removeLocked(smallest)
	default:
		return false
	}
	c.evicted++
	return true
}

// touchLocked is FetchSessionCacheShard.touch.
func (c *fetchSessionCache) touchLocked(s *fetchSession) {
	now := c.now()
	s.lastUsed = now
	if s.cachedSize >= 0 {
		c.parts -= int64(s.cachedSize)
	}
	s.cachedSize = len(s.parts)
	c.parts += int64(s.cachedSize)
	s.evictableByAll = now.Sub(s.created) > fetchSessionEviction
}

// removeLocked drops a session from the cache and its subscriptions. A
// fetch of it still waiting is answered as it would have been, woken by
// its partitions until then (holdWatch).
func (c *fetchSessionCache) removeLocked(s *fetchSession) {
	if !c.uncacheLocked(s) {
		return
	}
	s.mu.Lock()
	s.unwatchLocked(c.b)
	s.mu.Unlock()
}

// uncacheLocked takes s out of the cache; it reports whether s was in it.
func (c *fetchSessionCache) uncacheLocked(s *fetchSession) bool {
	sh := &c.shards[s.shard]
	if sh.sessions[s.id] != s {
		return false
	}
	delete(sh.sessions, s.id)
	sh.num--
	c.parts -= int64(s.cachedSize)
	s.cachedSize = -1
	return true
}

// unwatchLocked marks the session removed. Its subscriptions go at once,
// or when the last fetch of it that waits ends (holdWatch).
func (s *fetchSession) unwatchLocked(b *Broker) {
	s.removed = true
	if s.waiting == 0 {
		s.releaseLocked(b)
	}
}

func (s *fetchSession) releaseLocked(b *Broker) {
	if s.unwatched {
		return
	}
	s.unwatched = true
	for l := range s.byLog {
		b.fetchWatch.unsubscribe(l, s.waiter)
	}
}

// holdWatch keeps the session's subscriptions for a fetch that waits,
// whatever becomes of the session meanwhile: evicted or closed, it is
// still woken by its partitions, as Kafka's delayed fetch waits on its
// partitions, not on the session. It returns the end of the hold.
func (s *fetchSession) holdWatch(b *Broker) func() {
	s.mu.Lock()
	s.waiting++
	if s.unwatched {
		// Removed since the request came: subscribed again, and every
		// partition looked at once, so that no change between is missed.
		s.unwatched = false
		for l := range s.byLog {
			b.fetchWatch.subscribe(l, s.waiter)
			s.waiter.notify(l)
		}
	}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.waiting--; s.waiting == 0 && s.removed {
			s.releaseLocked(b)
		}
	}
}

// FetchSessionStats describes the fetch session cache.
type FetchSessionStats struct {
	Sessions    int   // cached now
	Partitions  int64 // cached now, all sessions
	Evicted     int64 // sessions evicted to make room, so far
	Incremental int64 // incremental fetches served, so far
}

func (c *fetchSessionCache) stats() FetchSessionStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := FetchSessionStats{Partitions: c.parts, Evicted: c.evicted, Incremental: c.incr}
	for i := range c.shards {
		st.Sessions += c.shards[i].num
	}
	return st
}

// WithFetchSessionCache sets --fetch-session-cache-slots
// (max.incremental.fetch.session.cache.slots) and
// --fetch-session-partitions, the partitions all sessions cache together
// (0 = unlimited).
func WithFetchSessionCache(slots, partitions int) Option {
	return func(c *Config) { c.FetchSessionCacheSlots, c.FetchSessionPartitions = slots, partitions }
}

// FetchSessions describes the fetch sessions cached.
func (b *Broker) FetchSessions() FetchSessionStats {
	return b.sessions().stats()
}
