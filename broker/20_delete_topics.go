package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics: v1-6 (Kafka 4.0 removed v0, KIP-896)
//
// Deletes the topic from the catalog, then its partition directories. The
// internal offsets topic cannot be deleted.
//
// As Kafka's controller (ControllerApis.deleteTopics): a name or an id
// given more than once is not deleted and is answered once with
// INVALID_REQUEST; an entry with both a name and an id, or neither, gets
// INVALID_REQUEST. The response is reserved in --max-response-memory
// (respmem.go); a request whose response alone would exceed it closes the
// connection.
//
// The controller mutation quota (quota_mutation.go) charges each topic
// deleted its partitions; strict from v5: a topic met with the quota
// exhausted gets THROTTLING_QUOTA_EXCEEDED and is not deleted.
//
// Version notes:
//   - v5: ErrorMessage. v6: topics by name or by id.

func init() { regKey(20, 1, 6, handleDeleteTopics) }

var (
	dupTopicName  = strp("Duplicate topic name.")
	dupTopicID    = strp("Duplicate topic id.")
	nameAndID     = strp("You may not specify both topic name and topic id.")
	neitherNameID = strp("Neither topic name nor id were specified.")
)

func handleDeleteTopics(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		targets = make([]target, 0, len(req.Topics))
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		targets = make([]target, 0, len(req.TopicNames))
		for i := range req.TopicNames {
			targets = append(targets, target{name: &req.TopicNames[i]})
		}
	}
	var n respSize
	n.elems(len(targets), sizeOf[kmsg.DeleteTopicsResponseTopic](), 40)
	n.set(len(targets))
	for _, tg := range targets {
		if tg.name != nil {
			n.str(len(*tg.name))
		}
	}
	if err := r.reserveResponse("DeleteTopics", n); err != nil {
		return reply{}, err
	}

	var zero [16]byte
	names := map[string]int{}
	ids := map[[16]byte]int{}
	byID := false
	for _, tg := range targets {
		switch {
		case tg.name != nil && tg.id != zero, tg.name == nil && tg.id == zero:
		case tg.name != nil:
			names[*tg.name]++
		default:
			ids[tg.id]++
			byID = true
		}
	}
	var idName map[[16]byte]string
	if byID {
		idName = make(map[[16]byte]string)
		for _, t := range b.reg.list() {
			idName[t.ID] = t.Name
		}
	}

	mq := r.mutationQuota(5)
	resp.Topics = make([]kmsg.DeleteTopicsResponseTopic, 0, len(names)+len(ids))
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		switch {
		case tg.name != nil && tg.id != zero:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, nameAndID
			resp.Topics = append(resp.Topics, st)
			continue
		case tg.name == nil && tg.id == zero:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, neitherNameID
			resp.Topics = append(resp.Topics, st)
			continue
		}
		// Repetitions are answered once, at the first.
		dup := ids[tg.id] > 1 || ids[tg.id] < 0
		if tg.name != nil {
			dup = names[*tg.name] > 1 || names[*tg.name] < 0
		}
		if dup {
			if tg.name != nil {
				if names[*tg.name] < 0 {
					continue
				}
				names[*tg.name] = -1 // answered
				st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, dupTopicName
			} else {
				if ids[tg.id] < 0 {
					continue
				}
				ids[tg.id] = -1
				st.Topic = nil
				st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, dupTopicID
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		name := ""
		if tg.name != nil {
			name = *tg.name
		} else {
			var known bool
			if name, known = idName[tg.id]; !known {
				st.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
			st.Topic = strp(name)
		}
		var id [16]byte
		id, st.ErrorCode, st.ErrorMessage = deleteTopicNamed(b, name, mq)
		if id != zero {
			st.TopicID = id
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.throttleMutations(mq)
	return now(resp)
}

// deleteTopicNamed deletes one topic of a DeleteTopics request (and of the
// admin listener's, with no quota), charging mq its partitions, and
// returns its id and the answer's code and message.
func deleteTopicNamed(b *Broker, name string, mq *mutationQuota) ([16]byte, int16, *string) {
	meta, ok := b.topicMeta(name)
	switch {
	case !ok:
		return [16]byte{}, kerr.UnknownTopicOrPartition.Code, nil
	case meta.Internal:
		return [16]byte{}, kerr.InvalidTopicException.Code, strp("internal topic " + name + " cannot be deleted")
	}
	if err := mq.admit(meta.Partitions); err != nil {
		code, msg := catalogErrorCode(err)
		return meta.ID, code, msg
	}
	code, msg := catalogErrorCode(b.reg.delete(name))
	return meta.ID, code, msg
}
