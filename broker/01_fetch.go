package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch: v4-18
//
// Fetch sessions (KIP-227) are Kafka's (fetchsession.go): the epoch decides
// what a request is, as in FetchManager.newContext. Epoch 0 (INITIAL) is a
// full fetch that creates a session if the cache has room; -1 (FINAL) a
// full fetch that creates none; either closes the session it names. Any
// other epoch is incremental: it must name a cached session at its epoch
// (else FETCH_SESSION_ID_NOT_FOUND or INVALID_FETCH_SESSION_EPOCH, with no
// topics), adds and updates the partitions it names, drops the forgotten
// ones, and is answered only the session's partitions with records, a new
// high watermark or log start offset, or an error.
//
// Long poll: if fewer than MinBytes are ready, the request waits until
// MaxWaitMillis, woken only by the partitions it reads (fetchwait.go),
// which are the only ones looked at again. Ready bytes are Kafka's: it
// reads up to the byte limit rather than to a batch, so a read cut by
// PartitionMaxBytes or MaxBytes counts the limit (Rewind sends whole
// batches only); a waiting fetch counts each partition's data up to its
// PartitionMaxBytes, a larger first batch included (DelayedFetch). The partitions answered with an
// error before any read (unknown topic, partition or topic id, not
// authorized) neither end the wait nor are waited on, and come last in the
// response, as Kafka sets them aside (fetchPrecheck); a fetch of only such
// partitions is answered at once. MaxBytes and PartitionMaxBytes
// follow Kafka's at-least-one-batch rule: the first batch returned is whole
// even when larger than the limits (MaxBytes 0 or less gets that batch
// alone). As in Kafka, MaxBytes is at most fetch.max.bytes (its default,
// 55 MiB) and MinBytes at most MaxBytes.
//
// Each partition is read and answered once, however often it is named: as
// Kafka's fetchData map, a repeated partition keeps its first position and
// the offsets of its last repetition. The response's structs are reserved
// in --max-response-memory (respmem.go; the record data counts in
// --max-fetch-memory); a request whose response alone would exceed it gets
// INVALID_REQUEST with no topics.
//
// Version notes:
//   - v4: isolation level; LastStableOffset and AbortedTransactions. A
//     read_committed fetch (isolation level 1) never gets a batch at or
//     after the last stable offset, and gets the aborted transactions of
//     what it read (storage.Log.AbortedTransactions); every fetch is
//     told the LSO.
//   - v5: LogStartOffset. v7: sessions. v9: CurrentLeaderEpoch (ours is 0).
//   - v11: PreferredReadReplica (-1). v12: flexible, LastFetchedEpoch.
//   - v13: topics by id (Metadata's), forgotten topics too; an unknown id
//     is UNKNOWN_TOPIC_ID per partition; a session keeps the names it
//     resolved, so a topic created again under one is INCONSISTENT_TOPIC_ID.
//     A session made at v13+ is FETCH_SESSION_TOPIC_ID_ERROR below v13, and
//     the other way round.
//   - v14, v16: as v13 (tiered storage and new-leader errors, which a
//     single node never sends). v15: ReplicaState; v17: directory id; v18:
//     a follower's high watermark: replication fields. A fetch with a
//     replica id (v15+: ReplicaState's) gets NOT_LEADER_OR_FOLLOWER for
//     each partition, as from Kafka's leader, which knows no such replica
//     (v16+ names this node as the current leader): no node follows
//     another here.

func init() { regKey(1, 4, 18, handleFetch) }

// fetchMaxBytes is Kafka's fetch.max.bytes default: the most record bytes
// one fetch is answered, whatever its MaxBytes.
const fetchMaxBytes = 55 << 20

// fetchItem is one partition a fetch reads: named by the request, or by
// the fetch session for an incremental fetch.
type fetchItem struct {
	topic string   // "" when named by an unknown topic id
	id    [16]byte // v13+
	rp    kmsg.FetchRequestTopicPartition
	code  int16     // an error decided before reading (UNKNOWN_TOPIC_ID)
	sp    *sessPart // the session's partition (incremental fetches)
}

func handleFetch(r *request) (reply, error) {
	req := r.kreq.(*kmsg.FetchRequest)
	b := r.c.b
	if req.Version >= 13 {
		req.Topics, _ = dedupTopicParts(req.Topics, fetchTopicID, fetchPart)
	} else {
		req.Topics, _ = dedupTopicParts(req.Topics, fetchTopic, fetchPart)
	}
	// A fetch never asks for more than a consumer_byte_rate quota lets
	// through in one window (Kafka's getMaxValueInQuotaWindow).
	if max, ok := b.quotas.maxInWindow(quotaFetch, r.c.quotaUser(), r.clientID); ok && float64(req.MaxBytes) > max {
		req.MaxBytes = int32(max)
	}
	// Kafka's fetchMaxBytes and fetchMinBytes: MaxBytes at most
	// fetch.max.bytes, and MinBytes at most MaxBytes (a fetch that cannot
	// get MinBytes does not wait for them).
	req.MaxBytes = min(req.MaxBytes, fetchMaxBytes)
	req.MinBytes = min(req.MinBytes, req.MaxBytes)
	fc, items := b.sessions().newContext(req, b.fetchItems(req))
	if fc.err != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = fc.err
		b.chargeFetchError(r, resp)
		return now(resp)
	}
	fetchAuthorize(r, req, items)
	items = b.fetchPrecheck(items)
	var n respSize
	n.elems(len(items), sizeOf[kmsg.FetchResponseTopic](), 24)
	n.elems(len(items), sizeOf[kmsg.FetchResponseTopicPartition]()+sizeOf[fetchItem](), 64)
	for i := range items {
		if i == 0 || items[i].topic != items[i-1].topic {
			n.str(len(items[i].topic))
		}
	}
	if err := r.reserveResponse("Fetch", n); err != nil {
		var tooLarge *respTooLarge
		if !errors.As(err, &tooLarge) {
			return reply{}, err
		}
		r.c.log.Warn("request refused", "err", err)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = invalidRequest
		return now(resp)
	}
	ctx := r.c.ctx
	return reply{later: b.met.countFetch(func() (kmsg.Response, error) {
		f, items, err := b.fetchWait(ctx, req, fc, items, func(its []fetchItem) { fetchAuthorize(r, req, its) })
		if err != nil {
			return nil, err
		}
		if resp := b.fetchThrottled(r, req, fc, items, f); resp != nil {
			return resp, nil
		}
		return b.fetchRespond(r, req, fc, items, f), nil
	})}, nil
}

func fetchTopic(t *kmsg.FetchRequestTopic) (string, *[]kmsg.FetchRequestTopicPartition) {
	return t.Topic, &t.Partitions
}

// fetchTopicID keys v13+ topics by id: their names are not sent.
func fetchTopicID(t *kmsg.FetchRequestTopic) (string, *[]kmsg.FetchRequestTopicPartition) {
	return string(t.TopicID[:]), &t.Partitions
}

func fetchPart(p *kmsg.FetchRequestTopicPartition) int32 { return p.Partition }

// fetchItems lists the partitions a request names. From v13 topics are
// named by id, resolved as Kafka's metadata cache does (topicIdsToNames);
// an unknown id is answered UNKNOWN_TOPIC_ID. The forgotten topics of v13+
// get their names too.
func (b *Broker) fetchItems(req *kmsg.FetchRequest) []fetchItem {
	if req.Version >= 13 {
		for i := range req.ForgottenTopics {
			req.ForgottenTopics[i].Topic, _ = b.reg.byID(req.ForgottenTopics[i].TopicID)
		}
	}
	items := make([]fetchItem, 0, countParts(req.Topics, fetchTopic))
	for _, rt := range req.Topics {
		name, code := rt.Topic, int16(0)
		if req.Version >= 13 {
			var ok bool
			if name, ok = b.reg.byID(rt.TopicID); !ok {
				code = kerr.UnknownTopicID.Code
			}
		}
		for _, rp := range rt.Partitions {
			items = append(items, fetchItem{topic: name, id: rt.TopicID, rp: rp, code: code})
		}
	}
	return items
}

// fetchReplicaID is the id of the replica a fetch comes from, -1 for a
// consumer's: the ReplicaID field up to v14, ReplicaState's from v15
// (KIP-903 moved it there; the old field is not on the wire then).
func fetchReplicaID(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// fetchAuthorize checks READ on the topics of the items a fetch reads (a
// follower's fetch, a replica id >= 0, needs CLUSTER_ACTION on the cluster
// instead), as Kafka authorizes every partition of the request or of the
// session on each fetch: a partition not allowed, or whose READ was taken
// away since, gets TOPIC_AUTHORIZATION_FAILED, never its records. It stays
// in the session, as in Kafka, so that it is served once allowed.
func fetchAuthorize(r *request, req *kmsg.FetchRequest, items []fetchItem) {
	if r.c.b.sec.authz == nil {
		return
	}
	ok := r.authCache(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic).ok
	if fetchReplicaID(req) >= 0 {
		cluster := r.allowedCluster(kmsg.ACLOperationClusterAction)
		ok = func(string) bool { return cluster }
	}
	for i := range items {
		if it := &items[i]; it.code == 0 && !ok(it.topic) {
			it.code = kerr.TopicAuthorizationFailed.Code
		}
	}
}

// fetchPrecheck gives UNKNOWN_TOPIC_OR_PARTITION to the items of no
// partition, and moves the items with an error to the end, UNKNOWN_TOPIC_ID
// first, then the others, each in order: as Kafka's handleFetchRequest
// sets these partitions aside before reading ("erroneous") and appends
// them to the response after those it read. A session created from the
// response keeps that order. These errors do not end a long poll (Kafka
// does not read those partitions); an error reading one does.
func (b *Broker) fetchPrecheck(items []fetchItem) []fetchItem {
	bad := 0
	for i := range items {
		it := &items[i]
		if it.code == 0 && b.partition(it.topic, it.rp.Partition) == nil {
			it.code = kerr.UnknownTopicOrPartition.Code
		}
		if it.code != 0 {
			bad++
		}
	}
	if bad == 0 {
		return items
	}
	out := make([]fetchItem, 0, len(items))
	for _, pass := range []func(int16) bool{
		func(c int16) bool { return c == 0 },
		func(c int16) bool { return c == kerr.UnknownTopicID.Code },
		func(c int16) bool { return c != 0 && c != kerr.UnknownTopicID.Code },
	} {
		for i := range items {
			if pass(items[i].code) {
				out = append(out, items[i])
			}
		}
	}
	return out
}

// fetchWait reads the items until MinBytes are ready, a partition has an
// error reading it, no partition is left to read (every one has an error
// found before reading: fetchPrecheck), or MaxWaitMillis passes. Waiting, it is woken by the partitions
// that changed (fetchwait.go) and looks again only at those; the answer is
// then read once more, in order, under MaxBytes. An incremental fetch
// reads the session's partitions that changed meanwhile too, authorized
// by authorize as the others were: the items read are returned.
func (b *Broker) fetchWait(ctx context.Context, req *kmsg.FetchRequest, fc fetchContext, items []fetchItem, authorize func([]fetchItem)) (*fetched, []fetchItem, error) {
	waits := req.MaxWaitMillis > 0 && req.MinBytes > 0
	var w *fetchWaiter
	if waits {
		if fc.sess != nil {
			w = fc.sess.waiter
			defer fc.sess.holdWatch(b)()
		} else {
			w = newFetchWaiter()
			defer b.subscribeItems(items, w)()
		}
	}
	// The partitions that are read: those of the items without an error
	// found before reading, and the session's partitions not among the
	// items, which had none when last looked at. With none, Kafka answers
	// at once.
	readable := fc.others
	for i := range items {
		if items[i].code == 0 {
			readable++
		}
	}
	f := b.fetchOnce(req, items)
	if !waits || readable == 0 || f.readied >= int64(req.MinBytes) || f.hasErr {
		return f, items, nil
	}
	sizes := f.ready
	total := f.readied
	f.release(b)
	// The index of each partition's items, by log (found as read).
	at := make(map[*storage.Log][]int, len(items))
	have := make(map[*sessPart]int)
	for i, l := range f.logs {
		if l != nil {
			at[l] = append(at[l], i)
		}
		if items[i].sp != nil {
			have[items[i].sp] = i
		}
	}
	grew := false // session partitions were added to the items
	// The answer: the items in session order, errors last.
	answer := func() (*fetched, []fetchItem, error) {
		if grew {
			items = b.fetchPrecheck(fc.sess.sorted(items))
		}
		return b.fetchOnce(req, items), items, nil
	}
	timer := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-timer.C:
			return answer()
		case <-w.wait():
		}
		if fc.sess != nil && fc.sess.superseded(fc.reqEpoch) {
			// The session's next fetch came meanwhile: this one's answer
			// is INVALID_FETCH_SESSION_EPOCH, and what changed is the
			// next one's to drain.
			return answer()
		}
		changed := w.drain()
		if fc.sess != nil {
			// A session's partition that was not to be read now is, if
			// the client may still read it.
			more := fc.sess.changed(changed, have)
			authorize(more)
			for _, it := range b.fetchPrecheck(more) {
				grew = true
				have[it.sp] = len(items)
				items = append(items, it)
				sizes = append(sizes, 0)
				if it.code != 0 {
					readable--
					continue
				}
				if l := b.partition(it.topic, it.rp.Partition); l != nil {
					at[l] = append(at[l], len(items)-1)
				}
			}
			if readable <= 0 {
				return answer()
			}
		}
		hasErr := false
		for l := range changed {
			for _, i := range at[l] {
				n, code := b.measure(req, &items[i])
				total += n - sizes[i]
				sizes[i] = n
				hasErr = hasErr || code != 0
			}
		}
		if total >= int64(req.MinBytes) || hasErr {
			return answer()
		}
	}
}

// subscribeItems subscribes w to the logs of the items for the time a
// sessionless fetch waits, and returns the undoing.
func (b *Broker) subscribeItems(items []fetchItem, w *fetchWaiter) func() {
	var logs []*storage.Log
	for i := range items {
		if items[i].code != 0 {
			continue
		}
		if l := b.partition(items[i].topic, items[i].rp.Partition); l != nil {
			b.fetchWatch.subscribe(l, w)
			logs = append(logs, l)
		}
	}
	return func() {
		for _, l := range logs {
			b.fetchWatch.unsubscribe(l, w)
		}
	}
}

// measure reads one partition to learn how many bytes it has ready, and
// lets the data go. As Kafka's DelayedFetch, it counts what the partition
// has up to its PartitionMaxBytes, a partial batch included, and no more
// even when the first batch is larger.
func (b *Broker) measure(req *kmsg.FetchRequest, it *fetchItem) (int64, int16) {
	scratch := &fetched{}
	budget := int64(it.rp.PartitionMaxBytes)
	sp := kmsg.NewFetchResponseTopicPartition()
	code := it.code
	if code == 0 {
		code = b.readItem(req, it, &sp, &budget, scratch)
	}
	scratch.release(b)
	return min(scratch.readied, max(int64(it.rp.PartitionMaxBytes), 0)), code
}

// fetchThrottled charges the response the read would have to
// consumer_byte_rate (fetchResponseSize) and, when the fetch is throttled
// by it or by request_percentage, drops the read and returns the response
// Kafka sends then: no partitions, the session unchanged (its id, or
// INVALID_FETCH_SESSION_EPOCH if another request of the session came in
// meanwhile). Otherwise nil.
func (b *Broker) fetchThrottled(r *request, req *kmsg.FetchRequest, fc fetchContext, items []fetchItem, f *fetched) kmsg.Response {
	user := r.c.quotaUser()
	var size float64
	if b.quotas.active(quotaFetch) { // else nothing to charge: no consumer_byte_rate is set
		size = float64(fetchResponseSize(req, fc, items, f))
	}
	nowT := time.Now()
	t := b.quotas.record(quotaFetch, user, r.clientID, size, nowT)
	if t <= 0 && r.s.throttle <= 0 {
		return nil
	}
	b.quotas.unrecord(quotaFetch, user, r.clientID, size, nowT)
	r.s.throttle = max(r.s.throttle, t)
	f.release(b)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if s := fc.sess; s != nil && !fc.full {
		s.mu.Lock()
		if s.supersededLocked(fc.reqEpoch) {
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
		} else {
			resp.SessionID = s.id
		}
		s.mu.Unlock()
	}
	return resp
}

// chargeFetchError charges the response to a fetch whose session is in
// error (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH...) to
// consumer_byte_rate, as Kafka charges every consumer fetch the size of
// its response, a SessionErrorContext's being the error alone: over the
// quota, it is not charged but carries the throttle time, and the
// connection is muted for it (throttleResponse), as Kafka answers it.
func (b *Broker) chargeFetchError(r *request, resp *kmsg.FetchResponse) {
	if !b.quotas.active(quotaFetch) {
		return
	}
	size := float64(4 + encodedLen(resp))
	user, nowT := r.c.quotaUser(), time.Now()
	if t := b.quotas.record(quotaFetch, user, r.clientID, size, nowT); t > 0 {
		// Throttled: not charged, as for any fetch (fetchThrottled).
		b.quotas.unrecord(quotaFetch, user, r.clientID, size, nowT)
		r.s.throttle = max(r.s.throttle, t)
	}
}

// fetchRespond builds the response of a read for the fetch's context: a
// full fetch may create a session; an incremental one answers only the
// partitions Kafka would (fetchSession.answerLocked).
func (b *Broker) fetchRespond(r *request, req *kmsg.FetchRequest, fc fetchContext, items []fetchItem, f *fetched) kmsg.Response {
	keep := items
	switch {
	case fc.full:
		f.resp.SessionID = b.sessions().create(req, items, f, fc.aclGen)
	case fc.sess != nil:
		s := fc.sess
		s.mu.Lock()
		if s.supersededLocked(fc.reqEpoch) {
			// Another request of the session came in meanwhile (Kafka:
			// "possible duplicate request").
			s.mu.Unlock()
			f.release(b)
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			resp.SessionID = s.id
			return resp
		}
		keep = make([]fetchItem, 0, len(items))
		parts := f.parts[:0]
		for i := range items {
			sp := items[i].sp
			if !s.removed {
				s.watchLocked(b, sp, f.logs[i])
			}
			if s.answerLocked(sp, f.parts[i], f.records[i]) {
				keep = append(keep, items[i])
				parts = append(parts, f.parts[i])
			}
		}
		f.parts = parts
		s.mu.Unlock()
		f.resp.SessionID = s.id
	}
	f.build(req, keep)
	b.markFetched(r, items, f)
	return f.reply(r)
}

// sizeBufs are the buffers fetchResponseSize encodes into.
var sizeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// fetchResponseSize is Kafka's FetchContext.getResponseSize: the size of
// the response to read f on the wire, its correlation id and body (not
// the size prefix), the partitions' overhead included. An incremental
// fetch counts the partitions it would answer (mustAnswer), leaving the
// session as it is; one whose session moved on, an empty response. The
// partitions are encoded without their records, whose lengths are added:
// records may be ranges of the segment files, sent with sendfile.
func fetchResponseSize(req *kmsg.FetchRequest, fc fetchContext, items []fetchItem, f *fetched) int64 {
	resp := *f.resp
	resp.Topics = nil
	var records int64
	flexible := req.Version >= 12
	add := func(i int) {
		it := &items[i]
		if n := len(resp.Topics); n == 0 || it.topic != resp.Topics[n-1].Topic || it.id != resp.Topics[n-1].TopicID {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = it.topic, it.id
			resp.Topics = append(resp.Topics, st)
		}
		st := &resp.Topics[len(resp.Topics)-1]
		sp := *f.parts[i]
		sp.RecordBatches = nil
		st.Partitions = append(st.Partitions, sp)
		n := f.sizes[i]
		records += n
		if flexible && n > 0 {
			// A compact length: uvarint(n+1) rather than the 1 byte of
			// no records.
			records += int64(uvarintLen(uint64(n)+1)) - 1
		}
	}
	if s := fc.sess; s != nil && !fc.full {
		s.mu.Lock()
		if !s.supersededLocked(fc.reqEpoch) {
			for i := range items {
				if mustAnswer(items[i].sp, f.parts[i], f.records[i]) {
					add(i)
				}
			}
		}
		s.mu.Unlock()
	} else {
		for i := range items {
			add(i)
		}
	}
	return 4 + encodedLen(&resp) + records
}

// encodedLen is the length of resp's body on the wire, encoded into a
// pooled buffer.
func encodedLen(resp *kmsg.FetchResponse) int64 {
	bp := sizeBufs.Get().(*[]byte)
	*bp = resp.AppendTo((*bp)[:0])
	n := int64(len(*bp))
	if cap(*bp) <= 1<<20 {
		sizeBufs.Put(bp)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// markFetched notes in the fetch positions the end of the records f
// returns to r's client, per partition (fetchpos.go). The items of an
// incremental fetch left out of its response returned none.
func (b *Broker) markFetched(r *request, items []fetchItem, f *fetched) {
	var marks []fetchMark
	for i := range items {
		if f.records[i] && items[i].topic != "" {
			marks = append(marks, fetchMark{topic: items[i].topic, partition: items[i].rp.Partition, end: f.ends[i]})
		}
	}
	if len(marks) == 0 {
		return
	}
	b.fetchPos.record(r.clientID, "/"+r.c.sec.host, r.c.id, marks, time.Now().UnixNano())
}

// fetched is one read of the items: the response, with the record data
// of large reads left in the segment files, to be sent with sendfile
// (sendfile.go), and small ones copied in.
type fetched struct {
	resp    *kmsg.FetchResponse
	parts   []*kmsg.FetchResponseTopicPartition // per item
	logs    []*storage.Log                      // per item, nil if none
	sizes   []int64                             // record bytes per item
	ready   []int64                             // per item: the bytes Kafka would send (readPartition)
	records []bool                              // per item: records returned
	ends    []int64                             // per item: the offset after the records returned
	next    int64                               // set by readPartition: the offset after its read
	splices []splice
	size    int64 // record bytes, held in --max-fetch-memory
	readied int64 // the sum of ready: what MinBytes is compared with
	hasErr  bool  // a partition carries an error: answer at once, as Kafka does
}

// reply hands the response and its fetch memory to r's slot.
func (f *fetched) reply(r *request) kmsg.Response {
	r.holdFetchMemory(f.size)
	if len(f.splices) == 0 {
		return f.resp
	}
	return &splicedResponse{Response: f.resp, splices: f.splices}
}

// release drops a response that will not be sent.
func (f *fetched) release(b *Broker) {
	b.fetchMem.release(f.size)
	for _, s := range f.splices {
		s.data.Release()
	}
}

// build groups the answered partitions (f.parts, of the items kept) into
// topics: a topic per run of partitions of one topic, as Kafka's
// FetchResponse.of does.
func (f *fetched) build(req *kmsg.FetchRequest, items []fetchItem) {
	f.resp.Topics = make([]kmsg.FetchResponseTopic, 0, 1)
	for i := range items {
		if i == 0 || items[i].topic != items[i-1].topic || items[i].id != items[i-1].id {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = items[i].topic, items[i].id
			f.resp.Topics = append(f.resp.Topics, st)
		}
		st := &f.resp.Topics[len(f.resp.Topics)-1]
		st.Partitions = append(st.Partitions, *f.parts[i])
	}
}

// fetchOnce reads every item once. The record bytes it holds are counted
// in --max-fetch-memory until the caller releases them or hands them to
// the response's slot.
func (b *Broker) fetchOnce(req *kmsg.FetchRequest, items []fetchItem) *fetched {
	f := &fetched{
		resp:    req.ResponseKind().(*kmsg.FetchResponse),
		parts:   make([]*kmsg.FetchResponseTopicPartition, len(items)),
		logs:    make([]*storage.Log, len(items)),
		sizes:   make([]int64, len(items)),
		ready:   make([]int64, len(items)),
		records: make([]bool, len(items)),
		ends:    make([]int64, len(items)),
	}
	// MaxBytes 0 still gets the first batch (at least one), as in Kafka.
	budget := max(int64(req.MaxBytes), 0)
	resps := make([]kmsg.FetchResponseTopicPartition, len(items))
	for i := range items {
		it := &items[i]
		sp := &resps[i]
		sp.Default()
		sp.Partition = it.rp.Partition
		before, readyBefore := f.size, f.readied
		code := it.code
		if code == 0 {
			f.logs[i] = b.partition(it.topic, it.rp.Partition)
			code = b.readItem(req, it, sp, &budget, f)
		}
		if code != 0 {
			// An error found before reading (fetchPrecheck) does not
			// end a long poll.
			f.hasErr = f.hasErr || it.code == 0
			sp.ErrorCode = code
			// Kafka answers every partition error, OFFSET_OUT_OF_RANGE
			// included, with unknown (-1) offsets: its read result for
			// an error carries none, and a consumer resets through
			// ListOffsets, not from these fields.
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.AbortedTransactions = nil
		}
		if sp.RecordBatches == nil {
			// Kafka sends empty, not null, records; older decoders
			// (Sarama before 1.26, which Burrow uses) reject null.
			sp.RecordBatches = []byte{}
		}
		f.sizes[i] = f.size - before
		f.ready[i] = f.readied - readyBefore
		f.records[i] = f.sizes[i] > 0
		if f.records[i] {
			f.ends[i] = f.next
		}
		f.parts[i] = sp
	}
	return f
}

// readItem reads one item's partition into sp and f, or returns the error
// that answers it.
func (b *Broker) readItem(req *kmsg.FetchRequest, it *fetchItem, sp *kmsg.FetchResponseTopicPartition, budget *int64, f *fetched) int16 {
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
	sp.PreferredReadReplica = -1
	l := b.partition(it.topic, it.rp.Partition)
	switch {
	case l == nil:
		return kerr.UnknownTopicOrPartition.Code
	case it.id != [16]byte{} && req.Version >= 13 && b.topicID(it.topic) != it.id:
		// A session's topic deleted and created again under its name.
		return kerr.InconsistentTopicID.Code
	case it.rp.CurrentLeaderEpoch > 0:
		return kerr.UnknownLeaderEpoch.Code
	case fetchReplicaID(req) >= 0:
		// A follower's fetch: no other node is a replica of a partition
		// here, and Kafka's leader refuses to record the position of a
		// replica it does not know (its own id included), naming itself
		// as the leader from v16.
		if req.Version >= 16 {
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = b.cfg.NodeID, 0
		}
		return kerr.NotLeaderForPartition.Code
	}
	return b.readPartition(l, it.rp, req.IsolationLevel == 1, sp, budget, f)
}

func (b *Broker) topicID(name string) [16]byte {
	m, _ := b.topicMeta(name)
	return m.ID
}

// readPartition reads one partition into sp and f. The first batch of the
// response (f still empty) is returned whole even beyond the limits.
//
// A read_committed fetch (committed) gets no batch at or after the last
// stable offset, and the aborted transactions of what it got (an empty
// list when none, null for read_uncommitted, as Kafka sends them).
func (b *Broker) readPartition(l *storage.Log, rp kmsg.FetchRequestTopicPartition, committed bool, sp *kmsg.FetchResponseTopicPartition, budget *int64, f *fetched) int16 {
	first := f.size == 0
	if l.Err() != nil {
		// Fenced (corrupt data or a failed fsync, logged when it
		// happened): never served, even to a consumer at the end.
		return kerr.KafkaStorageError.Code
	}
	if committed {
		sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	hw, lso := l.HighWatermark(), l.LastStableOffset()
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, lso, l.LogStartOffset()
	if rp.FetchOffset >= hw && rp.FetchOffset <= l.LogEndOffset() {
		return 0 // caught up (or ahead of the fsync): nothing to read yet
	}
	if committed && rp.FetchOffset >= lso && rp.FetchOffset <= hw {
		return 0 // at the LSO: the rest waits for its transaction's marker
	}
	limit := min(int64(rp.PartitionMaxBytes), *budget)
	if limit <= 0 && !first {
		return 0
	}
	read := l.Read
	if committed {
		read = l.ReadCommitted
	}
	rr, err := read(rp.FetchOffset, int32(limit), first)
	if err != nil {
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			return kerr.OffsetOutOfRange.Code
		}
		b.storageErrs.error("read failed", "log", l.Dir(), "offset", rp.FetchOffset, "err", err)
		return kerr.KafkaStorageError.Code
	}
	// The offsets taken with the read keep the response consistent with its data.
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rr.HighWatermark, rr.LastStableOffset, rr.LogStartOffset
	if committed && rr.Size > 0 {
		for _, t := range l.AbortedTransactions(rp.FetchOffset, rr.NextOffset) {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = t.ProducerID, t.FirstOffset
			sp.AbortedTransactions = append(sp.AbortedTransactions, at)
		}
	}
	if !b.fetchMem.tryAcquire(rr.Size) {
		rr.Release()
		return 0 // --max-fetch-memory reached: no data this time (logged)
	}
	// With the segment files open at their bound (--max-open-files), the
	// data is copied and the file let go at once: a response over many
	// partitions would otherwise keep one descriptor each until written.
	if rr.Size >= sendfileMin && fromOSFiles(rr) && !b.reg.handles.Full() {
		// Sent from the files by the connection's writer, which releases
		// rr. (A read error then closes the connection; files that are
		// not OS files, as in fault-injection tests, are read here, so
		// their errors are answered with KAFKA_STORAGE_ERROR.)
		sp.RecordBatches = newMark(len(f.splices))
		f.splices = append(f.splices, splice{mark: sp.RecordBatches, data: rr})
	} else {
		// A few bytes (a tailing consumer): copying is cheaper.
		buf, err := rr.AppendTo(make([]byte, 0, rr.Size))
		rr.Release()
		if err != nil {
			b.fetchMem.release(rr.Size)
			b.storageErrs.error("read failed", "log", l.Dir(), "offset", rp.FetchOffset, "err", err)
			return kerr.KafkaStorageError.Code
		}
		sp.RecordBatches = buf
	}
	// Kafka reads up to the limit, not to a batch: a read the limit
	// stopped would have sent the limit's bytes, the start of the next
	// batch included, and counts them toward MinBytes and takes them from
	// what the fetch has left (its readFromLog).
	counted := rr.Size
	if rr.Limited {
		counted = max(counted, limit)
	}
	*budget -= counted
	f.size += rr.Size
	f.next = rr.NextOffset
	f.readied += counted
	return 0
}

// fetchedBytes calls fn with the record bytes of each topic of a Fetch
// response as it is sent, file data of a spliced one included (metrics).
func fetchedBytes(resp kmsg.Response, fn func(topic string, n int64)) {
	var splices []splice
	if r, ok := resp.(*splicedResponse); ok {
		resp, splices = r.Response, r.splices
	}
	fr, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return
	}
	for _, t := range fr.Topics {
		var n int64
		for _, p := range t.Partitions {
			if len(splices) > 0 && len(p.RecordBatches) > 0 && &p.RecordBatches[0] == &splices[0].mark[0] {
				n += splices[0].data.Size
				splices = splices[1:]
				continue
			}
			n += int64(len(p.RecordBatches))
		}
		fn(t.Topic, n)
	}
}
