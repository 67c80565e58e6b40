package lageval

import (
	"fmt"
	"time"
)

// Status is Burrow's verdict on a partition or a group.
type Status int

// Statuses in Burrow's order of severity (protocol.StatusConstant).
const (
	NotFound Status = iota // the group is unknown
	OK                     // the consumer keeps up
	Warn                   // the consumer moves but its lag never decreases
	Err                    // group level: some partition is STOP, STALL or REWIND
	Stop                   // the consumer stopped committing while there is lag
	Stall                  // the consumer commits the same offset while there is lag
	Rewind                 // the committed offset went backwards in the window
	// New: the partition has lag but its window holds a single commit
	// (a reset, a first commit), which spans no time: too short to tell a
	// stopped consumer from one that has just started. Not an error; it
	// ranks below OK in a group and counts as OK in burrow_exporter's
	// codes, as Burrow's minimum-complete makes a short window OK.
	New
)

var statusNames = [...]string{"NOTFOUND", "OK", "WARN", "ERR", "STOP", "STALL", "REWIND", "NEW"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("Status(%d)", int(s))
	}
	return statusNames[s]
}

// Code is burrow_exporter's number for the status (NOTFOUND 1, OK 2, WARN 3,
// ERR 4, STOP 5, STALL 6, REWIND 7), used by the kafka_burrow_* series.
// NEW, which burrow_exporter does not know, is OK's 2.
func (s Status) Code() int {
	if s == New {
		return OK.Code()
	}
	return int(s) + 1
}

// worse reports whether s is more severe than t; NEW is below OK.
func (s Status) worse(t Status) bool {
	rank := func(x Status) int {
		switch x {
		case NotFound:
			return 0
		case New:
			return 1
		}
		return int(x) + 1
	}
	return rank(s) > rank(t)
}

// MarshalText writes the Burrow name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a Burrow name.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("lageval: unknown status %q", b)
}

// Commit is one entry of a partition's window.
type Commit struct {
	Offset int64     `json:"offset"`
	Time   time.Time `json:"time"`
	// Lag is the log end offset minus Offset when the commit was made
	// (0 when the commit was at or past the log end), or -1 when unknown
	// (Burrow's nil lag: the rules that look at lag skip such commits).
	Lag int64 `json:"lag"`
}

// Config holds Burrow's storage and evaluator settings.
type Config struct {
	// Intervals is how many commits a window keeps (Burrow: intervals, 10).
	Intervals int
	// MinDistance merges a commit into the previous one when it comes sooner
	// than this after it (Burrow: min-distance, 1s).
	MinDistance time.Duration
	// MinimumComplete is the fraction of a full window a partition needs
	// before it is judged at all; below it the partition is OK (Burrow:
	// minimum-complete, 0).
	MinimumComplete float64
	// BrokerInterval is the spacing of the log-end samples kept to tell
	// whether a consumer was recently caught up (Burrow refreshes broker
	// offsets every offset-refresh, 30s); samples older than Intervals
	// times this are ignored.
	BrokerInterval time.Duration
}

// DefaultConfig returns Burrow's defaults.
func DefaultConfig() Config {
	return Config{Intervals: 10, MinDistance: time.Second, BrokerInterval: 30 * time.Second}
}

func (c Config) normalize() Config {
	d := DefaultConfig()
	if c.Intervals <= 0 {
		c.Intervals = d.Intervals
	}
	if c.BrokerInterval <= 0 {
		c.BrokerInterval = d.BrokerInterval
	}
	return c
}

// LogEnd is a log-end offset seen at a time.
type LogEnd struct {
	Offset int64     `json:"offset"`
	Time   time.Time `json:"time"`
}

// Partition is what EvaluatePartition needs to know about one partition.
type Partition struct {
	Topic     string
	Partition int32
	// Commits is the window, oldest first (Append builds it).
	Commits []Commit
	// LogEnds are recent log-end offsets, oldest first (Burrow's broker
	// offsets); older than Config.Intervals × Config.BrokerInterval are
	// ignored.
	LogEnds []LogEnd
	// CurrentLag is the log end now minus the last committed offset
	// (0 when negative).
	CurrentLag int64
}

// PartitionStatus is the verdict on one partition.
type PartitionStatus struct {
	Topic      string  `json:"topic"`
	Partition  int32   `json:"partition"`
	Status     Status  `json:"status"`
	CurrentLag int64   `json:"current_lag"`
	Complete   float64 `json:"complete"` // commits in the window / Intervals
	Start      *Commit `json:"start"`    // oldest commit of the window
	End        *Commit `json:"end"`      // newest commit of the window
	// Reason says in plain words why the partition has its status.
	Reason string `json:"reason"`
}

// EvaluatePartition judges one partition at time now with Burrow's rules.
func EvaluatePartition(p Partition, cfg Config, now time.Time) PartitionStatus {
	cfg = cfg.normalize()
	st := PartitionStatus{Topic: p.Topic, Partition: p.Partition, Status: OK, CurrentLag: max(p.CurrentLag, 0)}
	offs := p.Commits
	if len(offs) > cfg.Intervals {
		offs = offs[len(offs)-cfg.Intervals:]
	}
	if len(offs) == 0 {
		st.Reason = "no commits recorded yet"
		return st
	}
	st.Complete = min(1, float64(len(offs))/float64(cfg.Intervals))
	first, last := offs[0], offs[len(offs)-1]
	st.Start, st.End = &first, &last
	if st.Complete < cfg.MinimumComplete {
		st.Reason = fmt.Sprintf("only %d of %d commits in the window yet", len(offs), cfg.Intervals)
		return st
	}
	if len(offs) == 1 && st.CurrentLag > 0 {
		// One commit spans no time, so Burrow's rules would call it
		// STALL at once and STOP a millisecond later: a group seeded by a
		// reset, or a consumer's first commit, is not judged until a
		// second commit (at least MinDistance later) gives the window a
		// length.
		st.Status = New
		st.Reason = fmt.Sprintf("one commit so far (offset %d, %s ago) while %d record(s) wait: a verdict needs a second commit to measure how the consumer moves",
			first.Offset, HumanDuration(now.Sub(first.Time)), st.CurrentLag)
		return st
	}
	st.Status, st.Reason = judge(offs, recentLogEnds(p.LogEnds, cfg, now), st.CurrentLag, now)
	return st
}

// recentLogEnds keeps the samples young enough to count as "recent".
func recentLogEnds(les []LogEnd, cfg Config, now time.Time) []LogEnd {
	horizon := now.Add(-time.Duration(cfg.Intervals) * cfg.BrokerInterval)
	var out []LogEnd
	for _, le := range les {
		if !le.Time.Before(horizon) {
			out = append(out, le)
		}
	}
	return out
}

// judge is Burrow's calculatePartitionStatus, with the reason spelled out.
func judge(offs []Commit, logEnds []LogEnd, currentLag int64, now time.Time) (Status, string) {
	if currentLag == 0 {
		return OK, "no lag"
	}
	first, last := offs[0], offs[len(offs)-1]
	if stopped(offs, now) && !recentLagZero(offs, logEnds) {
		return Stop, fmt.Sprintf("no commit for %s, longer than the %s the window spans, while %d record(s) wait",
			HumanDuration(now.Sub(last.Time)), HumanDuration(last.Time.Sub(first.Time)), currentLag)
	}
	for _, c := range offs {
		if c.Lag == 0 {
			return OK, fmt.Sprintf("caught up at the commit of %s (lag 0); %d record(s) wait now", c.Time.UTC().Format(time.RFC3339), currentLag)
		}
	}
	for i := 1; i < len(offs); i++ {
		if offs[i].Offset < offs[i-1].Offset {
			return Rewind, fmt.Sprintf("the committed offset went back from %d to %d at %s",
				offs[i-1].Offset, offs[i].Offset, offs[i].Time.UTC().Format(time.RFC3339))
		}
	}
	if stalled(offs) {
		return Stall, fmt.Sprintf("%d commit(s) over %s all at offset %d while %d record(s) wait: the consumer commits but does not move",
			len(offs), HumanDuration(last.Time.Sub(first.Time)), last.Offset, currentLag)
	}
	if lagNotDecreasing(offs) {
		return Warn, fmt.Sprintf("the consumer moves (offset %d to %d) but its lag never decreased over %d commit(s) (%s)",
			first.Offset, last.Offset, len(offs), lagTrail(offs))
	}
	return OK, fmt.Sprintf("the consumer moves and its lag decreases at times; %d record(s) wait", currentLag)
}

// stopped is Burrow's rule 3: the time since the last commit is longer
// than the time the window spans.
func stopped(offs []Commit, now time.Time) bool {
	first, last := offs[0].Time, offs[len(offs)-1].Time
	return now.Sub(last) > last.Sub(first)
}

// recentLagZero: a recent log end at or below the last committed offset
// means the consumer was caught up a short while ago.
func recentLagZero(offs []Commit, logEnds []LogEnd) bool {
	last := offs[len(offs)-1].Offset
	for _, le := range logEnds {
		if le.Offset <= last {
			return true
		}
	}
	return false
}

func stalled(offs []Commit) bool {
	for i := 1; i < len(offs); i++ {
		if offs[i].Offset != offs[i-1].Offset {
			return false
		}
	}
	return true
}

// lagNotDecreasing is Burrow's rule 5 over the commits whose lag is known.
func lagNotDecreasing(offs []Commit) bool {
	prev := int64(-1)
	for _, c := range offs {
		if c.Lag < 0 {
			continue
		}
		if prev >= 0 && c.Lag < prev {
			return false
		}
		prev = c.Lag
	}
	return true
}

func lagTrail(offs []Commit) string {
	s := "lag"
	n := 0
	for _, c := range offs {
		if c.Lag < 0 {
			continue
		}
		if n > 0 {
			s += " →"
		}
		s += fmt.Sprintf(" %d", c.Lag)
		n++
	}
	if n == 0 {
		return "lag at the commits unknown"
	}
	return s
}

// GroupStatus is the verdict on a group: its partitions' and the worst.
type GroupStatus struct {
	Group  string `json:"group"`
	Status Status `json:"status"`
	// Complete is the fraction of partitions whose window is full.
	Complete        float64           `json:"complete"`
	TotalPartitions int               `json:"total_partitions"`
	TotalLag        int64             `json:"total_lag"`
	MaxLag          *PartitionStatus  `json:"max_lag"`
	Partitions      []PartitionStatus `json:"partitions"`
}

// EvaluateGroup judges every partition and the group. A group with no
// partitions is OK with Complete 0, as Burrow answers; a group whose every
// partition is NEW is NEW, otherwise NEW partitions count for nothing.
func EvaluateGroup(group string, parts []Partition, cfg Config, now time.Time) GroupStatus {
	g := GroupStatus{Group: group, Status: OK, Partitions: make([]PartitionStatus, 0, len(parts))}
	full, fresh := 0, 0
	for _, p := range parts {
		ps := EvaluatePartition(p, cfg, now)
		g.TotalLag += ps.CurrentLag
		if ps.Status == New {
			fresh++
		} else if ps.Status.worse(g.Status) {
			g.Status = min(ps.Status, Err)
		}
		if ps.Complete == 1 {
			full++
		}
		g.Partitions = append(g.Partitions, ps)
	}
	for i := range g.Partitions {
		if g.MaxLag == nil || g.Partitions[i].CurrentLag > g.MaxLag.CurrentLag {
			g.MaxLag = &g.Partitions[i]
		}
	}
	g.TotalPartitions = len(parts)
	if fresh > 0 && fresh == len(parts) {
		g.Status = New
	}
	if len(parts) > 0 {
		g.Complete = float64(full) / float64(len(parts))
	}
	return g
}
