package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareAcknowledge: v1-2 (v2: renew acknowledgements, KIP-1222, and the
// lock duration in the response). Acknowledgements within the member's
// share session, which must exist (SHARE_SESSION_NOT_FOUND) at the epoch
// the request carries; epoch 0 is INVALID_SHARE_SESSION_EPOCH, -1 closes
// the session after the acknowledgements and releases what the member
// still holds. Each partition answers its first failing batch:
// INVALID_REQUEST (malformed, or a renewal without IsRenewAck) or
// INVALID_RECORD_STATE (records the member does not hold).

func init() { regKey(79, 1, 2, handleShareAcknowledge) }

func handleShareAcknowledge(r *request) (reply, error) {
	req := r.kreq.(*kmsg.ShareAcknowledgeRequest)
	b := r.c.b
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	group, member := derefStr(req.GroupID), derefStr(req.MemberID)
	nparts := 0
	for _, t := range req.Topics {
		nparts += len(t.Partitions)
	}
	if group == "" || member == "" || req.ShareSessionEpoch < -1 || nparts > shareMaxSessionParts {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return now(resp)
	}
	if req.ShareSessionEpoch == 0 {
		resp.ErrorCode = kerr.InvalidShareSessionEpoch.Code
		return now(resp)
	}
	if b.sec.authz != nil && !r.allowedGroup(kmsg.ACLOperationRead, group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return now(resp)
	}
	canRead := func(string) bool { return true }
	if b.sec.authz != nil {
		canRead = r.authCache(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic).ok
	}
	renew := req.Version >= 2 && req.IsRenewAck
	s := &b.shares
	at := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked(at)
	if _, code := s.sessionLocked(r.c.id, group, member, req.ShareSessionEpoch); code != 0 {
		resp.ErrorCode = code
		return now(resp)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewShareAcknowledgeResponseTopic()
		rt.TopicID = t.TopicID
		name, known := b.reg.byID(t.TopicID)
		for _, rp := range t.Partitions {
			sp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			sp.Partition = rp.Partition
			if known && !canRead(name) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else {
				batches := make([]ackBatch, len(rp.AcknowledgementBatches))
				for i, a := range rp.AcknowledgementBatches {
					batches[i] = ackBatch{a.FirstOffset, a.LastOffset, a.AcknowledgeTypes}
				}
				sp.ErrorCode, sp.ErrorMessage = s.acknowledgeLocked(at, group, member, shareTP{t.TopicID, rp.Partition}, batches, renew)
			}
			rt.Partitions = append(rt.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.ShareSessionEpoch == -1 {
		s.closeSessionLocked(group, member)
	}
	if req.Version >= 2 {
		resp.AcquisitionLockTimeoutMillis = int32(s.settings(group).part.LockDuration / time.Millisecond)
	}
	return now(resp)
}
