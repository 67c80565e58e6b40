package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/share"
	"github.com/rewindhq/rewind/storage"
)

// ShareFetch: v1-2 (KIP-932; v2: ShareAcquireMode and renew
// acknowledgements, KIP-1206 and KIP-1222). The request opens (epoch 0),
// continues or closes (-1) the member's share session, applies its
// acknowledgements, then acquires records of the session's partitions for
// the member: whole batches up to MaxRecords (exactly MaxRecords in v2's
// record-limit mode), locked for share.record.lock.duration.ms, waiting up
// to MaxWaitMs when there is nothing to acquire. Kafka's answers:
// acknowledgements at epoch 0 are INVALID_REQUEST, an unknown session
// SHARE_SESSION_NOT_FOUND, a wrong epoch INVALID_SHARE_SESSION_EPOCH, a
// malformed batch INVALID_REQUEST and one naming records the member does
// not hold INVALID_RECORD_STATE (per partition, AcknowledgeErrorCode). The
// response of a new session lists each of its partitions; later ones the
// partitions with records, an error or acknowledgement results, and those
// just added.

func init() { regKey(78, 1, 2, handleShareFetch) }

// shareFetchPart is one partition's answer being built.
type shareFetchPart struct {
	tp      shareTP
	code    int16
	ackCode int16
	ackMsg  *string
	acked   bool // acknowledgements were sent for it
	listed  bool // listed even without records (new session, just added)
	records []byte
	ranges  []share.AcquiredRange
}

// shareFetchParts is the partitions of one answer, in the order they are
// listed.
type shareFetchParts struct {
	list []*shareFetchPart
	byTP map[shareTP]*shareFetchPart
}

func (ps *shareFetchParts) get(tp shareTP) *shareFetchPart {
	if p := ps.byTP[tp]; p != nil {
		return p
	}
	p := &shareFetchPart{tp: tp}
	ps.byTP[tp] = p
	ps.list = append(ps.list, p)
	return p
}

func handleShareFetch(r *request) (reply, error) {
	req := r.kreq.(*kmsg.ShareFetchRequest)
	b := r.c.b
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	group, member := derefStr(req.GroupID), derefStr(req.MemberID)
	hasAcks := false
	nparts := 0
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			nparts++
			hasAcks = hasAcks || len(p.AcknowledgementBatches) > 0
		}
	}
	renew := req.Version >= 2 && req.IsRenewAck
	if group == "" || member == "" || (req.ShareSessionEpoch == 0 && hasAcks) || req.ShareSessionEpoch < -1 || nparts > shareMaxSessionParts {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return now(resp)
	}
	if r.c.b.sec.authz != nil && !r.allowedGroup(kmsg.ACLOperationRead, group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return now(resp)
	}
	s := &b.shares
	at := time.Now()
	s.mu.Lock()
	s.tickLocked(at)
	sess, code := s.sessionLocked(r.c.id, group, member, req.ShareSessionEpoch)
	if code != 0 {
		s.mu.Unlock()
		resp.ErrorCode = code
		return now(resp)
	}
	parts := &shareFetchParts{byTP: map[shareTP]*shareFetchPart{}}
	get := parts.get
	full := req.ShareSessionEpoch == 0
	closing := req.ShareSessionEpoch == -1
	for _, t := range req.Topics {
		for _, rp := range t.Partitions {
			tp := shareTP{t.TopicID, rp.Partition}
			p := get(tp)
			if len(rp.AcknowledgementBatches) > 0 {
				batches := make([]ackBatch, len(rp.AcknowledgementBatches))
				for i, a := range rp.AcknowledgementBatches {
					batches[i] = ackBatch{a.FirstOffset, a.LastOffset, a.AcknowledgeTypes}
				}
				p.acked = true
				p.ackCode, p.ackMsg = s.acknowledgeLocked(at, group, member, tp, batches, renew)
			}
			if closing {
				continue
			}
			if !sess.in[tp] {
				if len(sess.parts) >= shareMaxSessionParts {
					p.code = kerr.InvalidRequest.Code
					continue
				}
				p.listed = true
				if _, ok := b.reg.byID(tp.id); ok {
					sess.add(tp)
				} else {
					p.code = kerr.UnknownTopicID.Code
				}
			}
		}
	}
	if closing {
		s.closeSessionLocked(group, member)
	}
	for _, f := range req.ForgottenTopicsData {
		for _, p := range f.Partitions {
			sess.forget(shareTP{f.TopicID, p})
		}
	}
	if full {
		for _, tp := range sess.parts {
			get(tp).listed = true
		}
	}
	s.mu.Unlock()
	st := s.settings(group)
	lock := int32(st.part.LockDuration / time.Millisecond)
	if closing || renew {
		return now(shareFetchResponse(r, resp, parts, lock))
	}
	maxRecords := int(req.MaxRecords)
	if req.Version < 1 || maxRecords <= 0 {
		maxRecords = shareDefaultMaxRecords
	}
	maxRecords = min(maxRecords, int(st.part.MaxInFlight))
	maxBytes := int64(min(max(req.MaxBytes, 1), fetchMaxBytes))
	strict := req.Version >= 2 && req.ShareAcquireMode == 1
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, shareMaxWait)
	ctx := r.c.ctx
	canRead := func(string) bool { return true }
	if b.sec.authz != nil {
		canRead = r.authCache(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic).ok
	}
	return reply{later: func() (kmsg.Response, error) {
		held := b.shareFetchWait(ctx, group, member, parts, canRead, maxRecords, maxBytes, strict, wait)
		r.holdFetchMemory(held)
		return shareFetchResponse(r, resp, parts, lock), nil
	}}, nil
}

// shareFetchWait acquires records for the session until some are, the
// wait ends or the connection closes; it returns the record bytes held
// in --max-fetch-memory.
func (b *Broker) shareFetchWait(ctx context.Context, group, member string, parts *shareFetchParts, canRead func(string) bool,
	maxRecords int, maxBytes int64, strict bool, wait time.Duration) int64 {
	deadline := time.Now().Add(wait)
	wake := make(chan struct{}, 1)
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	watched := map[*storage.Log]bool{}
	s := &b.shares
	var first *shareSession
	for {
		s.mu.Lock()
		changed := s.changed
		sess := s.sessions[shareSessionKey{group, member}]
		if first == nil {
			first = sess
		}
		if sess == nil || sess != first {
			// Closed, or replaced by a new session of the member (epoch
			// 0): this answer is no longer awaited for records.
			s.mu.Unlock()
			return 0
		}
		// The partitions from a rotating start, so that a busy first
		// partition does not take every fetch's records.
		tps := make([]shareTP, 0, len(sess.parts))
		if n := len(sess.parts); n > 0 {
			k := int(uint32(sess.epoch) % uint32(n))
			tps = append(append(tps, sess.parts[k:]...), sess.parts[:k]...)
		}
		s.mu.Unlock()
		// Watch before reading: a record appended after the read wakes us.
		for _, tp := range tps {
			name, ok := b.reg.byID(tp.id)
			if !ok {
				continue
			}
			if l := b.partition(name, tp.partition); l != nil && !watched[l] {
				watched[l] = true
				stops = append(stops, l.Watch(func() {
					select {
					case wake <- struct{}{}:
					default:
					}
				}))
			}
		}
		held, got := b.shareFetchOnce(group, member, tps, parts, canRead, maxRecords, maxBytes, strict)
		if got || held > 0 {
			return held
		}
		for _, p := range parts.list {
			if p.code != 0 || p.acked {
				return 0 // errors and acknowledgement results are answered at once
			}
		}
		left := time.Until(deadline)
		if left <= 0 || len(tps) == 0 {
			return 0
		}
		t := time.NewTimer(left)
		select {
		case <-wake:
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0
		}
		t.Stop()
	}
}

// shareFetchOnce acquires what it can of each partition in order, within
// maxRecords and maxBytes (the first partition with records gets its
// first batch whole, as a fetch does).
func (b *Broker) shareFetchOnce(group, member string, tps []shareTP, parts *shareFetchParts, canRead func(string) bool,
	maxRecords int, maxBytes int64, strict bool) (held int64, got bool) {
	s := &b.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	st := s.settings(group)
	for _, tp := range tps {
		name, ok := b.reg.byID(tp.id)
		l := b.partition(name, tp.partition)
		code := int16(0)
		switch {
		case !ok:
			code = kerr.UnknownTopicID.Code
		case !canRead(name):
			code = kerr.TopicAuthorizationFailed.Code
		case l == nil:
			code = kerr.UnknownTopicOrPartition.Code
		case l.Err() != nil:
			code = kerr.KafkaStorageError.Code
		}
		if code != 0 {
			parts.get(tp).code = code
			continue
		}
		if maxRecords <= 0 || maxBytes-held <= 0 {
			continue
		}
		if s.c.Group(group) == nil {
			// No share group of that name: nothing is kept for it (and a
			// client naming groups cannot make the broker keep state).
			continue
		}
		sp := s.partLocked(group, tp, l, st)
		sp.LogStartMoved(l.LogStartOffset())
		hwm := l.HighWatermark()
		if st.committed {
			hwm = l.LastStableOffset() // nothing of an open transaction
		}
		from := sp.FirstAvailable()
		if from >= hwm || (from == sp.End() && sp.End()-sp.Start() >= sp.Config().MaxInFlight) {
			continue // nothing to acquire: the log is not read
		}
		rr, err := l.Read(from, int32(min(maxBytes-held, fetchMaxBytes)), held == 0)
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			sp.LogStartMoved(l.LogStartOffset())
			continue
		}
		if err != nil {
			b.storageErrs.error("share fetch read failed", "log", l.Dir(), "offset", from, "err", err)
			continue
		}
		if rr.Size == 0 || !b.fetchMem.tryAcquire(rr.Size) {
			rr.Release()
			continue
		}
		buf, err := rr.AppendTo(make([]byte, 0, rr.Size))
		next := rr.NextOffset
		size := rr.Size
		rr.Release()
		if err != nil {
			b.fetchMem.release(size)
			b.storageErrs.error("share fetch read failed", "log", l.Dir(), "offset", from, "err", err)
			continue
		}
		batches, ends := batchBounds(buf)
		if len(batches) == 0 {
			b.fetchMem.release(size)
			continue
		}
		// Nothing past the last batch read is acquired: its bytes are not
		// here.
		limit := min(hwm, next, batches[len(batches)-1].Last+1)
		if st.committed {
			skipAborted(batches, ends, buf, l.AbortedTransactions(from, limit))
		}
		var acq []share.AcquiredRange
		if strict {
			acq = sp.AcquireStrict(now, member, maxRecords, limit, batches)
		} else {
			acq = sp.Acquire(now, member, maxRecords, limit, batches)
		}
		if len(acq) == 0 {
			b.fetchMem.release(size)
			continue
		}
		// Send the batches that hold acquired records, from the first to
		// the last.
		lo, hi := 0, len(batches)
		for lo < hi && batches[lo].Last < acq[0].First {
			lo++
		}
		for hi > lo && batches[hi-1].First > acq[len(acq)-1].Last {
			hi--
		}
		if hi <= lo { // cannot happen: what was acquired was read
			b.fetchMem.release(size)
			continue
		}
		start := 0
		if lo > 0 {
			start = ends[lo-1]
		}
		out := buf[start:ends[hi-1]]
		if len(out) < len(buf)/2 {
			// The rest of the read is not kept alive by the answer.
			out = append([]byte(nil), out...)
		}
		b.fetchMem.release(size - int64(len(out)))
		held += int64(len(out))
		n := 0
		for _, a := range acq {
			n += int(a.Last - a.First + 1)
		}
		maxRecords -= n
		p := parts.get(tp)
		p.records, p.ranges = out, acq
		got = true
	}
	if got {
		s.dueLocked(now, now.Add(st.part.LockDuration))
	}
	return held, got
}

func shareFetchResponse(r *request, resp *kmsg.ShareFetchResponse, parts *shareFetchParts, lock int32) *kmsg.ShareFetchResponse {
	resp.AcquisitionLockTimeoutMillis = lock
	topics := map[[16]byte]int{}
	for _, p := range parts.list {
		if !p.listed && !p.acked && p.code == 0 && len(p.ranges) == 0 {
			continue
		}
		k, ok := topics[p.tp.id]
		if !ok {
			t := kmsg.NewShareFetchResponseTopic()
			t.TopicID = p.tp.id
			resp.Topics = append(resp.Topics, t)
			k = len(resp.Topics) - 1
			topics[p.tp.id] = k
		}
		sp := kmsg.NewShareFetchResponseTopicPartition()
		sp.Partition, sp.ErrorCode = p.tp.partition, p.code
		sp.AcknowledgeErrorCode, sp.AcknowledgeErrorMessage = p.ackCode, p.ackMsg
		sp.Records = p.records
		if sp.Records == nil {
			sp.Records = []byte{}
		}
		for _, a := range p.ranges {
			ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = a.First, a.Last, a.DeliveryCount
			sp.AcquiredRecords = append(sp.AcquiredRecords, ar)
		}
		resp.Topics[k].Partitions = append(resp.Topics[k].Partitions, sp)
	}
	return resp
}

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
