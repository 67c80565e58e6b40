package admin

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/lageval"
)

// overview is the console's header and home page.
type overview struct {
	Version       string         `json:"version"`
	KafkaAddress  string         `json:"kafka_address"`
	Advertised    string         `json:"advertised"`
	Started       time.Time      `json:"started"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	Ready         bool           `json:"ready"`
	NotReady      string         `json:"not_ready,omitempty"`
	ReadOnly      string         `json:"read_only,omitempty"` // why, while the disk is full
	Topics        int            `json:"topics"`
	Partitions    int            `json:"partitions"`
	SizeBytes     int64          `json:"size_bytes"`
	Records       int64          `json:"records"`
	Groups        int            `json:"groups"`
	GroupStatus   map[string]int `json:"group_status"` // Burrow status -> groups
	TotalLag      int64          `json:"total_lag"`
}

func (s *Server) overview(w http.ResponseWriter, _ *http.Request) {
	o := overview{Version: s.version, KafkaAddress: s.b.Addr(), Advertised: s.b.Advertised(), Started: s.started,
		UptimeSeconds: int64(time.Since(s.started).Seconds()), Ready: true, GroupStatus: map[string]int{}}
	if err := s.b.Ready(); err != nil {
		o.Ready, o.NotReady = false, err.Error()
	}
	if err := s.b.ReadOnly(); err != nil {
		o.ReadOnly = err.Error()
	}
	for _, t := range s.b.Topics() {
		if t.Internal {
			continue
		}
		o.Topics++
		o.Partitions += len(t.Partitions)
		o.SizeBytes += t.SizeBytes
		o.Records += t.Records
	}
	for _, g := range s.groupRows() {
		o.Groups++
		o.GroupStatus[g.Status.String()]++
		o.TotalLag += g.Lag
	}
	writeJSON(w, http.StatusOK, o)
}

// topicRow is a topic with the groups that consume it.
type topicRow struct {
	broker.TopicInfo
	Consumers []topicConsumer `json:"consumers"`
}

type topicConsumer struct {
	Group string `json:"group"`
	Lag   int64  `json:"lag"`
}

func (s *Server) topicRows(internal bool) []topicRow {
	consumers := map[string][]topicConsumer{}
	for _, g := range s.b.Groups() {
		for topic, parts := range s.b.Committed(g.Name) {
			consumers[topic] = append(consumers[topic], topicConsumer{Group: g.Name})
			c := &consumers[topic][len(consumers[topic])-1]
			if ti, ok := s.b.Topic(topic); ok {
				for _, p := range ti.Partitions {
					if o, ok := parts[p.Partition]; ok {
						c.Lag += lageval.Lag(p.HighWatermark, o.Offset)
					}
				}
			}
		}
	}
	var out []topicRow
	for _, t := range s.b.Topics() {
		if t.Internal && !internal {
			continue
		}
		cs := consumers[t.Name]
		if cs == nil {
			cs = []topicConsumer{}
		}
		out = append(out, topicRow{TopicInfo: t, Consumers: cs})
	}
	if out == nil {
		out = []topicRow{}
	}
	return out
}

func (s *Server) topics(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.topicRows(r.URL.Query().Get("internal") == "true"))
}

func (s *Server) topic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	for _, t := range s.topicRows(true) {
		if t.Name == name {
			writeJSON(w, http.StatusOK, t)
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Errorf("unknown topic %q", name))
}

// recordView is one record as the message browser shows it. Keys and
// values that are not UTF-8 text come as base64 with their encoding named.
type recordView struct {
	Offset        int64        `json:"offset"`
	Timestamp     time.Time    `json:"timestamp"`
	Key           *string      `json:"key"` // null: no key
	KeyEncoding   string       `json:"key_encoding,omitempty"`
	Value         *string      `json:"value"` // null: tombstone
	ValueEncoding string       `json:"value_encoding,omitempty"`
	ValueBytes    int          `json:"value_bytes"`
	Truncated     bool         `json:"truncated,omitempty"`
	Headers       []headerView `json:"headers"`
}

type headerView struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Encoding string `json:"encoding,omitempty"`
}

type recordPage struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	LogStart      int64  `json:"log_start"`
	HighWatermark int64  `json:"high_watermark"`
	From          int64  `json:"from"` // the first offset the page covers
	Next          int64  `json:"next"` // where the next page starts
	End           int64  `json:"end"`  // the end of the range asked for (exclusive)
	// Filtered: key, value or header filters chose the records; Scanned
	// counts the records examined, and Stopped says why the scan ended
	// before the range did (a bound of work, api_records.go).
	Filtered bool         `json:"filtered"`
	Scanned  int          `json:"scanned"`
	Stopped  string       `json:"stopped,omitempty"`
	Records  []recordView `json:"records"`
}

// What one page of the message browser may cost. Records are streamed
// from their batches (storage.PreviewBatch), so a page holds at most
// maxShown bytes of each key, value and header, whatever the records
// hold; it reads at most pageDecoded bytes of records (decompressed),
// ending early past them; and at most maxBrowsing pages are read at once,
// a request waiting up to browseWait for its turn before it is answered
// 503. Decoders come from the broker-wide budget of the produce path.
const (
	maxShown     = 16 << 10
	maxHeaders   = 64
	pageDecoded  = 64 << 20
	maxBrowsing  = 2
	browseWait   = 2 * time.Second
	browseRetry  = "1"
	browseLimits = "the records from this offset are larger than a page of the browser may decode (64 MiB); read them with a Kafka client"
)

// show is a key, value or header value for JSON: text when it is UTF-8
// (a cut may split its last character), else base64.
func show(b []byte, trunc bool) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) || (trunc && len(b) > utf8.UTFMax && utf8.Valid(b[:len(b)-utf8.UTFMax])) {
		v := strings.ToValidUTF8(string(b), "")
		return &v, ""
	}
	v := base64.StdEncoding.EncodeToString(b)
	return &v, "base64"
}

// parseTime accepts RFC 3339, Unix milliseconds, or a duration meaning that
// long ago ("90m").
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04", s, time.Local); err == nil {
		return t, nil // what <input type=datetime-local> sends
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("time %q: use RFC 3339 (2026-01-02T09:00:00Z), Unix milliseconds, or a duration ago (90m)", s)
}

// groupRow is one line of the groups table.
type groupRow struct {
	Group string `json:"group"`
	// Type is classic or consumer (KIP-848); Epoch a consumer group's
	// group epoch.
	Type         string         `json:"type"`
	Epoch        int32          `json:"epoch,omitempty"`
	State        string         `json:"state"`
	ProtocolType string         `json:"protocol_type"`
	Protocol     string         `json:"protocol"`
	Members      int            `json:"members"`
	Topics       []string       `json:"topics"`
	Lag          int64          `json:"lag"`
	Status       lageval.Status `json:"status"`
	// Uncommitted counts partitions of consumed topics without a commit.
	Uncommitted int `json:"uncommitted"`
}

func (s *Server) groupRows() []groupRow {
	out := []groupRow{}
	// A consumer group keeps its offsets in the classic coordinator as an
	// offsets-only group: it is listed once, as a consumer group.
	rows := map[string]groupRow{}
	for _, g := range s.b.Groups() {
		rows[g.Name] = groupRow{Group: g.Name, Type: "classic", State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol, Members: g.Members}
	}
	for _, name := range s.b.ConsumerGroupNames() {
		d, err := s.b.DescribeGroup(context.Background(), name)
		if err != nil || d.Type != "consumer" {
			continue // gone since it was listed
		}
		rows[name] = groupRow{Group: name, Type: "consumer", Epoch: d.GroupEpoch, State: d.State, ProtocolType: d.ProtocolType, Protocol: d.Protocol, Members: len(d.Members)}
	}
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		row := rows[name]
		row.Topics = []string{}
		for topic, parts := range s.b.Committed(name) {
			row.Topics = append(row.Topics, topic)
			ti, ok := s.b.Topic(topic)
			if !ok {
				continue
			}
			for _, p := range ti.Partitions {
				if o, ok := parts[p.Partition]; ok {
					row.Lag += lageval.Lag(p.HighWatermark, o.Offset)
				} else {
					row.Uncommitted++
				}
			}
		}
		sort.Strings(row.Topics)
		row.Status = s.b.LagStatus(name).Status
		out = append(out, row)
	}
	return out
}

func (s *Server) groups(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.groupRows())
}
