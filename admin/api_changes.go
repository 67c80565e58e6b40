package admin

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The changes the console can make besides resets: topics (create, delete,
// add partitions, configs), records (produce) and groups (delete, delete
// offsets). Each is one call of the Broker interface, which runs the code
// the broker's Kafka handler runs for it; a refusal answers the Kafka
// error (kafka_error, kafka_code) with the status kafkaStatus gives it.
// Like every state-changing request they must be JSON and same-origin
// (guard), DELETE included.

// maxChangeBody bounds the body of a change; a produce body of base64
// records is the largest (a batch above the topic's max.message.bytes is
// refused by the broker anyway), and at most maxProducing are decoded and
// appended at once (a third waits up to browseWait, then gets 503), so the
// produce bodies in memory stay within a few times 16 MiB.
const (
	maxChangeBody  = 1 << 20
	maxProduceBody = 8 << 20
	maxProducing   = 2
)

// decodeBody decodes the JSON body of a change into v, refusing unknown
// fields.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %v", err))
		return false
	}
	return true
}

type createTopicRequest struct {
	Name string `json:"name"`
	// Partitions and ReplicationFactor: absent takes the broker's default
	// (-1 in CreateTopics).
	Partitions        *int32            `json:"partitions"`
	ReplicationFactor *int16            `json:"replication_factor"`
	Configs           map[string]string `json:"configs"`
	ValidateOnly      bool              `json:"validate_only"`
}

// POST /api/v1/topics: 201 with the topic (200 for validate_only).
func (s *Server) createTopic(w http.ResponseWriter, r *http.Request) {
	var req createTopicRequest
	if !decodeBody(w, r, maxChangeBody, &req) {
		return
	}
	parts, rf := int32(-1), int16(-1)
	if req.Partitions != nil {
		parts = *req.Partitions
	}
	if req.ReplicationFactor != nil {
		rf = *req.ReplicationFactor
	}
	ti, err := s.b.CreateTopic(r.Context(), req.Name, parts, rf, req.Configs, req.ValidateOnly)
	if err != nil {
		writeErr(w, err)
		return
	}
	if req.ValidateOnly {
		writeJSON(w, http.StatusOK, ti)
		return
	}
	s.log.Info("console created a topic", "topic", req.Name, "partitions", len(ti.Partitions))
	writeJSON(w, http.StatusCreated, ti)
}

// DELETE /api/v1/topics/{topic}
func (s *Server) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if err := s.b.DeleteTopic(r.Context(), name); err != nil {
		writeErr(w, err)
		return
	}
	s.log.Info("console deleted a topic", "topic", name)
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

type addPartitionsRequest struct {
	Count        int32 `json:"count"` // the new total
	ValidateOnly bool  `json:"validate_only"`
}

// POST /api/v1/topics/{topic}/partitions: 200 with the topic.
func (s *Server) addPartitions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	var req addPartitionsRequest
	if !decodeBody(w, r, maxChangeBody, &req) {
		return
	}
	if err := s.b.AddPartitions(r.Context(), name, req.Count, req.ValidateOnly); err != nil {
		writeErr(w, err)
		return
	}
	if !req.ValidateOnly {
		s.log.Info("console added partitions", "topic", name, "partitions", req.Count)
	}
	s.writeTopic(w, name)
}

func (s *Server) writeTopic(w http.ResponseWriter, name string) {
	ti, ok := s.b.Topic(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown topic %q", name))
		return
	}
	writeJSON(w, http.StatusOK, ti)
}

// GET /api/v1/topics/{topic}/configs: every config with its value.
func (s *Server) topicConfigs(w http.ResponseWriter, r *http.Request) {
	cs, err := s.b.TopicConfigs(r.PathValue("topic"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

type alterConfigsRequest struct {
	Set          map[string]string `json:"set"`
	Delete       []string          `json:"delete"` // back to the default
	ValidateOnly bool              `json:"validate_only"`
}

// POST /api/v1/topics/{topic}/configs: all or nothing; 200 with the
// configs.
func (s *Server) alterConfigs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	var req alterConfigsRequest
	if !decodeBody(w, r, maxChangeBody, &req) {
		return
	}
	if err := s.b.AlterTopicConfigs(r.Context(), name, req.Set, req.Delete, req.ValidateOnly); err != nil {
		writeErr(w, err)
		return
	}
	if !req.ValidateOnly {
		s.log.Info("console changed topic configs", "topic", name, "set", len(req.Set), "deleted", len(req.Delete))
	}
	s.topicConfigs(w, r)
}

// produceRecord is one record to produce. Keys, values and header values
// are text, or base64 with their encoding named, as the browser shows
// them; a null key is no key, a null value a tombstone.
type produceRecord struct {
	Key           *string      `json:"key"`
	KeyEncoding   string       `json:"key_encoding"`
	Value         *string      `json:"value"`
	ValueEncoding string       `json:"value_encoding"`
	Headers       []headerView `json:"headers"`
	// Timestamp is RFC 3339 or Unix milliseconds; absent means now.
	Timestamp string `json:"timestamp"`
}

// produceRequest: without a partition (absent or null) each record goes
// where a Kafka client's default partitioner puts it: murmur2 of its key
// modulo the partitions, as Java's, franz-go's and librdkafka's
// murmur2_random partitioners hash, and the records without a key to one
// partition chosen at random (the sticky partitioner, for one batch).
type produceRequest struct {
	Partition *int32          `json:"partition"`
	Records   []produceRecord `json:"records"`
}

// produceResponse is where the records went: the first batch's partition
// and offsets, and every batch (one per partition) in Batches.
type produceResponse struct {
	broker.Produced
	Batches []broker.Produced `json:"batches"`
}

func decodeField(v *string, enc, what string) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	switch enc {
	case "":
		return []byte(*v), nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(*v)
		if err != nil {
			return nil, fmt.Errorf("%s: not base64: %v", what, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s: encoding %q: use base64 or leave it out for text", what, enc)
}

// POST /api/v1/topics/{topic}/records: the records go as one batch to the
// partition, answered once durable: 200 with the offsets.
func (s *Server) produce(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	select {
	case s.producing <- struct{}{}:
		defer func() { <-s.producing }()
	case <-time.After(browseWait):
		w.Header().Set("Retry-After", browseRetry)
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("the console is busy with %d other produces; retry in a moment", maxProducing))
		return
	case <-r.Context().Done():
		return
	}
	var req produceRequest
	if !decodeBody(w, r, maxProduceBody, &req) {
		return
	}
	if len(req.Records) == 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("no records: send {\"partition\":0,\"records\":[{\"key\":\"k\",\"value\":\"v\"}]}"))
		return
	}
	now := time.Now()
	recs := make([]storage.Record, 0, len(req.Records))
	for i, pr := range req.Records {
		var rec storage.Record
		var err error
		if rec.Key, err = decodeField(pr.Key, pr.KeyEncoding, fmt.Sprintf("record %d: key", i)); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if rec.Value, err = decodeField(pr.Value, pr.ValueEncoding, fmt.Sprintf("record %d: value", i)); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		for j, h := range pr.Headers {
			v, err := decodeField(&h.Value, h.Encoding, fmt.Sprintf("record %d: header %d", i, j))
			if err != nil {
				writeError(w, http.StatusBadRequest, err)
				return
			}
			rec.Headers = append(rec.Headers, storage.Header{Key: h.Key, Value: v})
		}
		rec.Timestamp = now.UnixMilli()
		if pr.Timestamp != "" {
			ts, err := parseTimestamp(pr.Timestamp)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("record %d: %w", i, err))
				return
			}
			rec.Timestamp = ts.UnixMilli()
		}
		recs = append(recs, rec)
	}
	batches, order := s.partitionRecords(name, req.Partition, recs)
	var resp produceResponse
	for _, p := range order {
		res, err := s.b.Produce(r.Context(), name, p, batches[p])
		if err != nil {
			if len(resp.Batches) > 0 {
				err = fmt.Errorf("%w (the batches before it were written: %s)", err, describeBatches(name, resp.Batches))
			}
			writeErr(w, err)
			return
		}
		if len(resp.Batches) == 0 {
			resp.Produced = res
		}
		resp.Batches = append(resp.Batches, res)
	}
	writeJSON(w, http.StatusOK, resp)
}

// partitionRecords splits recs by the partition each goes to: the one
// asked for, or the default partitioner's choice (produceRequest). A topic
// the console does not know goes to partition 0 as one batch, for the
// produce path to refuse as it refuses a Kafka client.
func (s *Server) partitionRecords(topic string, asked *int32, recs []storage.Record) (map[int32][]storage.Record, []int32) {
	if asked != nil {
		return map[int32][]storage.Record{*asked: recs}, []int32{*asked}
	}
	ti, ok := s.b.Topic(topic)
	if !ok || len(ti.Partitions) == 0 {
		return map[int32][]storage.Record{0: recs}, []int32{0}
	}
	tp := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	out := map[int32][]storage.Record{}
	var order []int32
	for _, rec := range recs {
		p := int32(tp.Partition(&kgo.Record{Key: rec.Key}, len(ti.Partitions)))
		if _, seen := out[p]; !seen {
			order = append(order, p)
		}
		out[p] = append(out[p], rec)
	}
	slices.Sort(order)
	return out, order
}

func describeBatches(topic string, bs []broker.Produced) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("%s/%d offsets %d-%d", topic, b.Partition, b.BaseOffset, b.LastOffset)
	}
	return strings.Join(parts, ", ")
}

// parseTimestamp accepts RFC 3339 or Unix milliseconds.
func parseTimestamp(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q: use RFC 3339 (2026-01-02T09:00:00Z) or Unix milliseconds", s)
}

// DELETE /api/v1/groups/{group}: an empty group and its offsets.
func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	if err := s.b.DeleteGroup(r.Context(), name); err != nil {
		writeErr(w, err)
		return
	}
	s.log.Info("console deleted a group", "group", name)
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

// DELETE /api/v1/groups/{group}/offsets?topic=T[:p,p]: the group's offsets
// of those partitions (all of a topic without a list); 200 with them.
func (s *Server) deleteOffsets(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	sels, err := parseSelections(r.URL.Query()["topic"])
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if len(sels) == 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("name the topics whose offsets to delete: ?topic=orders or ?topic=orders:0,1"))
		return
	}
	parts := map[string][]int32{}
	deleted := []offsettool.TopicPartition{}
	for _, sel := range sels {
		ti, ok := s.b.Topic(sel.Topic)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Errorf("%w %q", offsettool.ErrUnknownTopic, sel.Topic))
			return
		}
		ps := sel.Partitions
		if len(ps) == 0 {
			for _, p := range ti.Partitions {
				ps = append(ps, p.Partition)
			}
		}
		parts[sel.Topic] = append(parts[sel.Topic], ps...)
		for _, p := range ps {
			deleted = append(deleted, offsettool.TopicPartition{Topic: sel.Topic, Partition: p})
		}
	}
	if err := s.b.DeleteOffsets(r.Context(), name, parts); err != nil {
		writeErr(w, err)
		return
	}
	sortTopicPartitions(deleted)
	s.log.Info("console deleted committed offsets", "group", name, "partitions", len(deleted))
	writeJSON(w, http.StatusOK, map[string]any{"group": name, "deleted": deleted})
}
