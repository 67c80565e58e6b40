package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics: v0-6
//
// Deletes the topic from the catalog, then its partition directories. The
// internal offsets topic cannot be deleted.
//
// Version notes:
//   - v5: ErrorMessage. v6: topics by name or by id.

func init() { regKey(20, 0, 6, handleDeleteTopics) }

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
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: strp(n)})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		name := ""
		if tg.name != nil {
			name = *tg.name
		} else {
			for _, t := range b.cat.List() {
				if t.ID == tg.id {
					name = t.Name
				}
			}
			if name == "" {
				st.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
			st.Topic = strp(name)
		}
		meta, ok := b.topicMeta(name)
		switch {
		case !ok:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case meta.Internal:
			st.ErrorCode = kerr.InvalidTopicException.Code
			st.ErrorMessage = strp("internal topic " + name + " cannot be deleted")
		default:
			st.TopicID = meta.ID
			if err := b.deleteTopic(name); err != nil {
				st.ErrorCode, st.ErrorMessage = catalogErrorCode(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}
