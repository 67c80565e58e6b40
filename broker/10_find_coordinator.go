package broker

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-6
//
// This broker coordinates every group, except those whose __consumer_offsets
// partition is fenced (damaged on disk): COORDINATOR_NOT_AVAILABLE, as Kafka
// answers while that partition has no leader. Key type 1 (a transactional
// id) is this broker too (package txn), once __transaction_state exists:
// the first such request creates it, where Kafka answers
// COORDINATOR_NOT_AVAILABLE until its controller has; the ids of a fenced
// __transaction_state partition get COORDINATOR_NOT_AVAILABLE likewise.
//
// Version notes:
//   - v1: key type, throttle, error message. v3: flexible.
//   - v4: batched keys (KIP-699). Each distinct key is answered once
//     (Kafka answers every repetition alike; clients match by key), within
//     --max-response-memory (respmem.go): a request whose answer would not
//     fit closes the connection, as the response has no top-level error.
//   - v5: TRANSACTION_ABORTABLE may be answered (never here).
//   - v6: key type 2, the share coordinator of a share partition
//     (KIP-932; brokers ask it, not clients): share groups are served but
//     their state is kept in memory with no share coordinator, so a
//     well-formed key ("group:topicId:partition") is
//     COORDINATOR_NOT_AVAILABLE, as Kafka answers while it has none
//     available; a malformed one INVALID_REQUEST, as Kafka (and any
//     version below 6 gets for that type).

func init() { regKey(10, 0, 6, handleFindCoordinator) }

var unknownCoordType = strp("unknown coordinator type")

// shareCoordinatorMsg: share groups are served, their state kept in
// memory, and no share coordinator runs (the __share_group_state APIs,
// which brokers send it, are not served): the answer Kafka gives while
// it has none available.
var shareCoordinatorMsg = strp("no share coordinator: this broker keeps share group state in memory")

// shareCoordinatorKey tells whether key is a share coordinator key,
// "group:topicId:partition" with the topic id in Kafka's base64 form.
func shareCoordinatorKey(key string) bool {
	i := strings.LastIndexByte(key, ':')
	if i <= 0 {
		return false
	}
	p, err := strconv.ParseInt(key[i+1:], 10, 32)
	if err != nil || p < 0 {
		return false
	}
	key = key[:i]
	j := strings.LastIndexByte(key, ':')
	if j <= 0 {
		return false
	}
	id, err := base64.RawURLEncoding.DecodeString(key[j+1:])
	return err == nil && len(id) == 16
}

func handleFindCoordinator(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	find := func(key string) (int16, *string) {
		switch req.CoordinatorType {
		case 0:
			// A group whose __consumer_offsets partition is fenced has
			// no coordinator, as in Kafka while that partition has no
			// leader.
			if err := b.grp.GroupErr(key); err != nil {
				return kerr.CoordinatorNotAvailable.Code, strp(err.Error())
			}
			return 0, nil
		case 1:
			if err := b.ensureTxnTopic(); err != nil {
				b.log.Warn("transaction coordinator unavailable", "err", err)
				return kerr.CoordinatorNotAvailable.Code, strp(err.Error())
			}
			if err := b.txn.IDErr(key); err != nil {
				return kerr.CoordinatorNotAvailable.Code, strp(err.Error())
			}
			return 0, nil
		case 2:
			if req.Version < 6 || !shareCoordinatorKey(key) {
				return kerr.InvalidRequest.Code, unknownCoordType
			}
			return kerr.CoordinatorNotAvailable.Code, shareCoordinatorMsg
		default:
			return kerr.InvalidRequest.Code, unknownCoordType
		}
	}
	if req.Version >= 4 {
		keys := dedupStrings(req.CoordinatorKeys)
		var n respSize
		// Node, port, error code, lengths, tags, and a message: the shared
		// one of a key type, or the fence of a group's partition.
		wire := 24 + len(b.host) + 128
		n.elems(len(keys), sizeOf[kmsg.FindCoordinatorResponseCoordinator](), wire)
		n.set(len(keys))
		for _, k := range keys {
			n.str(2 * len(k)) // the key, and in a fence message
		}
		if err := r.reserveResponse("FindCoordinator", n); err != nil {
			return reply{}, err
		}
		resp.Coordinators = make([]kmsg.FindCoordinatorResponseCoordinator, len(keys))
		for i, k := range keys {
			c := &resp.Coordinators[i]
			*c = kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key = k
			c.ErrorCode, c.ErrorMessage = find(k)
			c.NodeID, c.Host, c.Port = -1, "", -1
			if c.ErrorCode == 0 {
				c.NodeID, c.Host, c.Port = r.c.b.cfg.NodeID, r.c.advHost(), r.c.advPort()
			}
		}
		return now(resp)
	}
	resp.ErrorCode, resp.ErrorMessage = find(req.CoordinatorKey)
	resp.NodeID, resp.Host, resp.Port = -1, "", -1
	if resp.ErrorCode == 0 {
		resp.NodeID, resp.Host, resp.Port = r.c.b.cfg.NodeID, r.c.advHost(), r.c.advPort()
	}
	return now(resp)
}
