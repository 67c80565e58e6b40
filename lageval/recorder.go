package lageval

import (
	"sort"
	"sync"
	"time"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// Recorder keeps the commit windows of every group and the recent log-end
// samples of every partition, for a broker that sees commits as they
// happen. It is safe for concurrent use; it holds only its own lock, never
// while calling out except in Evaluate (see there).
type Recorder struct {
	cfg     Config
	mu      sync.Mutex
	groups  map[string]map[TopicPartition][]Commit
	logEnds map[TopicPartition][]LogEnd
}

// NewRecorder returns an empty recorder.
func NewRecorder(cfg Config) *Recorder {
	return &Recorder{
		cfg:     cfg.normalize(),
		groups:  map[string]map[TopicPartition][]Commit{},
		logEnds: map[TopicPartition][]LogEnd{},
	}
}

// Config returns the recorder's settings.
func (r *Recorder) Config() Config { return r.cfg }

// Commit records a commit of group on tp. logEnd is the partition's log end
// when the commit was made (-1 when unknown, as for commits replayed from
// __consumer_offsets: Estimate fills them later).
func (r *Recorder) Commit(group string, tp TopicPartition, offset int64, at time.Time, logEnd int64) {
	c := Commit{Offset: offset, Time: at, Lag: -1}
	if logEnd >= 0 {
		c.Lag = Lag(logEnd, offset)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.groups[group]
	if g == nil {
		g = map[TopicPartition][]Commit{}
		r.groups[group] = g
	}
	g[tp] = Append(g[tp], c, r.cfg)
	if logEnd >= 0 {
		r.logEnds[tp] = AppendLogEnd(r.logEnds[tp], LogEnd{Offset: logEnd, Time: at}, r.cfg)
	}
}

// Forget drops group's window on tp (its offset was deleted or expired).
func (r *Recorder) Forget(group string, tp TopicPartition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.groups[group]; g != nil {
		delete(g, tp)
		if len(g) == 0 {
			delete(r.groups, group)
		}
	}
}

// ForgetGroup drops every window of group (it was deleted).
func (r *Recorder) ForgetGroup(group string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.groups, group)
}

// Groups lists the groups with at least one window, sorted.
func (r *Recorder) Groups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.groups))
	for g := range r.groups {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// Windows returns copies of group's windows, nil if it has none.
func (r *Recorder) Windows(group string) map[TopicPartition][]Commit {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.groups[group]
	if g == nil {
		return nil
	}
	out := make(map[TopicPartition][]Commit, len(g))
	for tp, w := range g {
		out[tp] = append([]Commit(nil), w...)
	}
	return out
}

// Estimate fills the unknown lags of group's windows (commits replayed from
// __consumer_offsets, or dated by the client) with EstimateLags. logEndAt
// is called without the recorder's lock held; a lag it cannot tell (-1)
// stays unknown and is tried again at the next Estimate.
func (r *Recorder) Estimate(group string, logEndAt func(tp TopicPartition, at time.Time) int64) {
	type job struct {
		group string
		tp    TopicPartition
		w     []Commit
	}
	var jobs []job
	r.mu.Lock()
	for tp, w := range r.groups[group] {
		for _, c := range w {
			if c.Lag < 0 {
				jobs = append(jobs, job{group, tp, append([]Commit(nil), w...)})
				break
			}
		}
	}
	r.mu.Unlock()
	for _, j := range jobs {
		EstimateLags(j.w, func(at time.Time) int64 { return logEndAt(j.tp, at) })
		r.mu.Lock()
		// Fill in place only commits still present (a live commit may have
		// moved the window meanwhile).
		if w := r.groups[j.group][j.tp]; w != nil {
			for i := range w {
				for _, e := range j.w {
					if w[i].Lag < 0 && e.Lag >= 0 && w[i].Offset == e.Offset && w[i].Time.Equal(e.Time) {
						w[i].Lag = e.Lag
					}
				}
			}
		}
		r.mu.Unlock()
	}
}

// Evaluate judges group at time now. logEnd returns a partition's current
// log end (false: the partition no longer exists, and is skipped); it is
// called without the recorder's lock held, and each answer is also kept as
// a log-end sample. A group without windows is NOTFOUND, as in Burrow.
func (r *Recorder) Evaluate(group string, logEnd func(TopicPartition) (int64, bool), now time.Time) GroupStatus {
	ws := r.Windows(group)
	if ws == nil {
		return GroupStatus{Group: group, Status: NotFound, Partitions: []PartitionStatus{}}
	}
	tps := make([]TopicPartition, 0, len(ws))
	for tp := range ws {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	ends := make(map[TopicPartition]int64, len(tps))
	for _, tp := range tps {
		if le, ok := logEnd(tp); ok {
			ends[tp] = le
		}
	}
	parts := make([]Partition, 0, len(tps))
	r.mu.Lock()
	for _, tp := range tps {
		le, ok := ends[tp]
		if !ok {
			continue
		}
		samples := append([]LogEnd(nil), r.logEnds[tp]...)
		r.logEnds[tp] = AppendLogEnd(r.logEnds[tp], LogEnd{Offset: le, Time: now}, r.cfg)
		parts = append(parts, PartitionFrom(tp, ws[tp], samples, le, now, r.cfg))
	}
	r.mu.Unlock()
	return EvaluateGroup(group, parts, r.cfg, now)
}
