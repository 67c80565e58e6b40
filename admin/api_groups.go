package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsettool"
)

// groupPartition is one partition of the group view.
type groupPartition struct {
	Topic      string   `json:"topic"`
	Partition  int32    `json:"partition"`
	Committed  int64    `json:"committed"` // -1: none
	LogStart   int64    `json:"log_start"`
	LogEnd     int64    `json:"log_end"`
	Lag        *int64   `json:"lag"`         // null without a commit
	LagSeconds *float64 `json:"lag_seconds"` // age of the first unconsumed record; null when unknown
	MemberID   string   `json:"member_id,omitempty"`
	// TargetMemberID: a consumer group's partition moving to this member.
	TargetMemberID string `json:"target_member_id,omitempty"`
	ClientID       string `json:"client_id,omitempty"`
	Host           string `json:"host,omitempty"`
	// Burrow's verdict and the commits it is based on.
	Status       lageval.Status   `json:"status"`
	StatusReason string           `json:"status_reason"`
	Window       []lageval.Commit `json:"window"`
	// TimeToLossSeconds: when, at this pace, retention deletes a record
	// the group has not read (0: it did already), and Loss why (loss.go).
	TimeToLossSeconds *float64 `json:"time_to_loss_seconds,omitempty"`
	Loss              string   `json:"loss,omitempty"`
}

type groupView struct {
	Group  string `json:"group"`
	Exists bool   `json:"exists"`
	// Type is classic or consumer (KIP-848); the epochs and the assignor
	// are a consumer group's, and its members carry their member epoch,
	// target, and the partitions they revoke or await.
	Type            string              `json:"type"`
	GroupEpoch      int32               `json:"group_epoch,omitempty"`
	AssignmentEpoch int32               `json:"assignment_epoch,omitempty"`
	Assignor        string              `json:"assignor,omitempty"`
	State           string              `json:"state"`
	ProtocolType    string              `json:"protocol_type"`
	Protocol        string              `json:"protocol"`
	Members         []offsettool.Member `json:"members"`
	Partitions      []groupPartition    `json:"partitions"`
	Lag             int64               `json:"lag"`
	Status          lageval.GroupStatus `json:"status"`
	Taken           time.Time           `json:"taken"`
}

func (s *Server) group(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	snap, err := s.snapshot(ctx, name, nil)
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	if !snap.Exists {
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown group %q: it has no members and no committed offsets", name))
		return
	}
	v := groupView{Group: snap.Group, Exists: true, Type: snap.Type, GroupEpoch: snap.GroupEpoch, AssignmentEpoch: snap.AssignmentEpoch,
		Assignor: snap.Assignor, State: snap.State, ProtocolType: snap.ProtocolType, Protocol: snap.Protocol,
		Members: snap.Members, Partitions: []groupPartition{}, Status: s.b.LagStatus(name), Taken: snap.Taken}
	if v.Members == nil {
		v.Members = []offsettool.Member{}
	}
	for i := range v.Members {
		if v.Members[i].Assigned == nil {
			v.Members[i].Assigned = []offsettool.TopicPartition{}
		}
	}
	verdict := map[lageval.TopicPartition]lageval.PartitionStatus{}
	for _, p := range v.Status.Partitions {
		verdict[lageval.TopicPartition{Topic: p.Topic, Partition: p.Partition}] = p
	}
	windows := s.b.LagWindows(name)
	byID := map[string]offsettool.Member{}
	for _, m := range snap.Members {
		byID[m.ID] = m
	}
	for _, p := range snap.Partitions {
		gp := groupPartition{Topic: p.Topic, Partition: p.Partition, Committed: p.Committed, LogStart: p.LogStart, LogEnd: p.LogEnd,
			MemberID: p.MemberID, Status: lageval.NotFound, StatusReason: "no commits recorded", Window: []lageval.Commit{}}
		if p.TargetMemberID != p.MemberID {
			gp.TargetMemberID = p.TargetMemberID
		}
		if m, ok := byID[p.MemberID]; ok {
			gp.ClientID, gp.Host = m.ClientID, m.Host
		}
		tp := lageval.TopicPartition{Topic: p.Topic, Partition: p.Partition}
		if vs, ok := verdict[tp]; ok {
			gp.Status, gp.StatusReason = vs.Status, vs.Reason
		}
		if w := windows[tp]; w != nil {
			gp.Window = w
		}
		if p.HasCommit() {
			lag := lageval.Lag(p.LogEnd, p.Committed)
			gp.Lag = &lag
			v.Lag += lag
			var first time.Time
			if lag > 0 {
				first, _ = s.b.RecordTime(p.Topic, p.Partition, lageval.FirstUnconsumed(p.Committed, p.LogStart))
			}
			if d, ok := lageval.LagTime(lag, first, snap.Taken); ok {
				secs := d.Seconds()
				gp.LagSeconds = &secs
				if l, risk := s.timeToLoss(p, lag, d, verdict[tp], snap.Taken); risk {
					in := l.In.Seconds()
					gp.TimeToLossSeconds, gp.Loss = &in, l.Say()
				}
			}
		}
		v.Partitions = append(v.Partitions, gp)
	}
	writeJSON(w, http.StatusOK, v)
}

// lagSeries is one partition's lag over time.
type lagSeries struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Points are [unix milliseconds, lag], lag null where the group had no
	// commit on the partition then.
	Points [][2]*int64 `json:"points"`
}

type lagHistory struct {
	Group  string      `json:"group"`
	From   time.Time   `json:"from"`
	To     time.Time   `json:"to"`
	StepMs int64       `json:"step_ms"`
	Series []lagSeries `json:"series"`
	// Commits are the group's commits in the range, for markers.
	Commits []historyEntry `json:"commits"`
}

// lagHistory answers ?range=1h&points=60: the lag of every partition the
// group commits to, computed for each point in time from the group's commit
// history (CommittedAt) and the log end then (the time index), so it needs
// no sampling and covers the history retention.
func (s *Server) lagHistory(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	q := r.URL.Query()
	rng := time.Hour
	if v := q.Get("range"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 31*24*time.Hour {
			writeError(w, http.StatusBadRequest, fmt.Errorf("range %q: use a duration up to 744h, like 15m, 1h or 24h", v))
			return
		}
		rng = d
	}
	points := 60
	if v := q.Get("points"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > 500 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("points %q: use 2 to 500", v))
			return
		}
		points = n
	}
	current := s.b.Committed(name)
	if current == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown group %q", name))
		return
	}
	now := time.Now()
	from := now.Add(-rng)
	step := rng / time.Duration(points-1)
	h := lagHistory{Group: name, From: from, To: now, StepMs: step.Milliseconds(), Series: []lagSeries{}, Commits: []historyEntry{}}
	var tps []lageval.TopicPartition
	for topic, parts := range current {
		for p := range parts {
			tps = append(tps, lageval.TopicPartition{Topic: topic, Partition: p})
		}
	}
	sortTPs(tps)
	series := make([]lagSeries, len(tps))
	for i, tp := range tps {
		series[i] = lagSeries{Topic: tp.Topic, Partition: tp.Partition, Points: make([][2]*int64, 0, points)}
	}
	for i := 0; i < points; i++ {
		t := from.Add(time.Duration(i) * step)
		committed := current
		last := i == points-1
		if last {
			t = now
		} else {
			committed = s.b.CommittedAt(name, t)
		}
		ms := t.UnixMilli()
		for j, tp := range tps {
			pt := [2]*int64{&ms, nil}
			if o, ok := committed[tp.Topic][tp.Partition]; ok {
				var le int64
				if last {
					le = s.logEnd(tp)
				} else {
					le = s.b.LogEndAt(tp.Topic, tp.Partition, t)
				}
				if le >= 0 {
					lag := lageval.Lag(le, o.Offset)
					pt[1] = &lag
				}
			}
			series[j].Points = append(series[j].Points, pt)
		}
	}
	h.Series = series
	for _, c := range s.historyEntries(name) {
		if !c.Time.Before(from) {
			h.Commits = append(h.Commits, c)
		}
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) logEnd(tp lageval.TopicPartition) int64 {
	ti, ok := s.b.Topic(tp.Topic)
	if !ok || int(tp.Partition) >= len(ti.Partitions) {
		return -1
	}
	return ti.Partitions[tp.Partition].HighWatermark
}

func sortTPs(tps []lageval.TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// historyEntry is one position the group committed, from the coordinator.
type historyEntry struct {
	Time      time.Time  `json:"time"`
	Last      time.Time  `json:"last_commit"`
	Topic     string     `json:"topic"`
	Partition int32      `json:"partition"`
	Offset    int64      `json:"offset"`
	Replaced  *time.Time `json:"replaced"` // null: the current position
}

func (s *Server) historyEntries(group string) []historyEntry {
	out := []historyEntry{}
	for _, c := range s.b.History(group) {
		e := historyEntry{Time: c.CommitTime, Last: c.LastCommitTime, Topic: c.Topic, Partition: c.Partition, Offset: c.Offset}
		if !c.SupersededAt.IsZero() {
			t := c.SupersededAt
			e.Replaced = &t
		}
		out = append(out, e)
	}
	return out
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	if s.b.Committed(name) == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown group %q", name))
		return
	}
	writeJSON(w, http.StatusOK, s.historyEntries(name))
}

func parseSelections(vals []string) ([]offsettool.TopicSelection, error) {
	var sels []offsettool.TopicSelection
	for _, v := range vals {
		for _, t := range strings.Split(v, " ") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			sel, err := offsettool.ParseTopicSelection(t)
			if err != nil {
				return nil, err
			}
			sels = append(sels, sel)
		}
	}
	return sels, nil
}

// explain is `rewind group explain`: ?initial=newest|oldest|none|by_duration:D&topic=T[:p,p].
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	q := r.URL.Query()
	initial := q.Get("initial")
	if initial == "" {
		initial = "newest"
	}
	pol, err := offsettool.ParsePolicy(initial)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	sels, err := parseSelections(q["topic"])
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	snap, err := s.snapshot(ctx, name, sels)
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	var never *offsettool.GroupNote
	if snap.Exists && len(snap.Partitions) == 0 && !snap.Active() && len(sels) == 0 {
		// Consumed but never committed: the topics from the
		// subscriptions __consumer_offsets kept (pastmembers.go).
		pm, past, err := s.pastMembership(ctx, name)
		if err != nil {
			writeError(w, errorStatus(err), err)
			return
		}
		n := offsettool.NeverCommittedNote(snap, pm, pol)
		never = &n
		if len(past) > 0 {
			if snap, err = s.snapshot(ctx, name, past); err != nil {
				writeError(w, errorStatus(err), err)
				return
			}
		}
	}
	s.dateStarts(&snap, pol)
	ex := offsettool.Explain(snap, pol)
	if never != nil {
		ex.Notes = append([]offsettool.GroupNote{*never}, ex.Notes...)
	}
	if ex.Members == nil {
		ex.Members = []offsettool.Member{}
	}
	if ex.Notes == nil {
		ex.Notes = []offsettool.GroupNote{}
	}
	if ex.Partitions == nil {
		ex.Partitions = []offsettool.PartitionStart{}
	}
	writeJSON(w, http.StatusOK, ex)
}

// consoleTargets are the reset targets, the CLI's.
const consoleTargets = "to-earliest, to-latest, to-offset, shift-by, to-datetime, by-duration, to-current, to-committed-at, to-group or from-file"

// resetRequest is the body of POST /api/v1/groups/{group}/reset.
type resetRequest struct {
	// Target is one of offsettool's kinds: to-earliest, to-latest,
	// to-offset, shift-by, to-datetime, by-duration, to-committed-at.
	Target string `json:"target"`
	Offset int64  `json:"offset"` // to-offset
	Shift  int64  `json:"shift"`  // shift-by
	// Time is for to-datetime and to-committed-at (RFC 3339, Unix ms, or a
	// duration ago); Duration for by-duration.
	Time     string `json:"time"`
	Duration string `json:"duration"` // Go (90m) or ISO 8601 (PT90M)
	// Group is to-group's other group; File from-file's CSV
	// (kafka-consumer-groups' topic,partition,offset lines).
	Group string `json:"group"`
	File  string `json:"file"`
	// Topics select partitions as --topic does ("orders", "orders:0,1");
	// none means every topic the group has committed to.
	Topics  []string `json:"topics"`
	Execute bool     `json:"execute"`
}

type resetResponse struct {
	Plan    offsettool.Plan     `json:"plan"`
	State   string              `json:"state"`
	Members []offsettool.Member `json:"members"` // active members: execute is refused while there are any
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	var req resetRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("reset request: %v", err))
		return
	}
	now := time.Now()
	t := offsettool.Target{Kind: offsettool.TargetKind(req.Target)}
	switch t.Kind {
	case offsettool.ToEarliest, offsettool.ToLatest:
	case offsettool.ToOffset:
		if req.Offset < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("offset %d: offsets are not negative; use to-earliest or to-latest", req.Offset))
			return
		}
		t.Offset = req.Offset
	case offsettool.ShiftBy:
		t.Shift = req.Shift
	case offsettool.ToDatetime, offsettool.ToCommittedAt:
		tm, err := parseTime(req.Time, now)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		t.Time = tm
	case offsettool.ByDuration:
		d, err := offsettool.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("duration %q: use a positive duration like 90m, 36h or PT90M", req.Duration))
			return
		}
		t.Time = now.Add(-d)
	case offsettool.ToCurrent:
	case offsettool.ToGroup:
		if req.Group == "" {
			writeError(w, http.StatusBadRequest, errors.New("to-group: name the group whose offsets to copy"))
			return
		}
		t.Group, t.File = req.Group, map[offsettool.TopicPartition]int64{}
		for topic, ps := range s.b.Committed(req.Group) {
			for p, o := range ps {
				t.File[offsettool.TopicPartition{Topic: topic, Partition: p}] = o.Offset
			}
		}
		if len(t.File) == 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("to-group %q: it has no committed offsets", req.Group))
			return
		}
	case offsettool.FromFile:
		file, err := offsettool.ParseResetCSV(strings.NewReader(req.File), name)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		t.File = file
		if len(req.Topics) == 0 { // the file names its partitions
			for tp := range file {
				req.Topics = append(req.Topics, fmt.Sprintf("%s:%d", tp.Topic, tp.Partition))
			}
		}
	case "":
		writeError(w, http.StatusBadRequest, errors.New("choose a target: "+consoleTargets))
		return
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("unknown target %q: use %s", req.Target, consoleTargets))
		return
	}
	sels, err := parseSelections(req.Topics)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	var resp resetResponse
	err = func() error {
		snap, err := s.snapshot(ctx, name, sels)
		if err != nil {
			return err
		}
		if len(sels) == 0 && !snap.Exists {
			return fmt.Errorf("%w %q: it has no committed offsets, so there is nothing to reset; name topics", offsettool.ErrUnknownGroup, name)
		}
		resp.State, resp.Members = snap.State, snap.Members
		if resp.Members == nil {
			resp.Members = []offsettool.Member{}
		}
		if resp.Plan, err = s.planReset(snap, t); err != nil {
			return err
		}
		if req.Execute {
			return s.executeReset(ctx, &resp.Plan)
		}
		return nil
	}()
	if err != nil {
		writeJSON(w, errorStatus(err), errorBody(err))
		return
	}
	if req.Execute {
		s.log.Info("console reset a group", "group", name, "target", req.Target, "partitions", len(resp.Plan.Rows))
	}
	writeJSON(w, http.StatusOK, resp)
}
