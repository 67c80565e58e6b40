package offsettool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TargetKind is one of kafka-consumer-groups' reset scenarios.
type TargetKind string

const (
	ToEarliest    TargetKind = "to-earliest"
	ToLatest      TargetKind = "to-latest"
	ToOffset      TargetKind = "to-offset"
	ShiftBy       TargetKind = "shift-by"
	ToDatetime    TargetKind = "to-datetime"
	ByDuration    TargetKind = "by-duration"
	ToCommittedAt TargetKind = "to-committed-at"
	FromFile      TargetKind = "from-file"
	// ToCurrent keeps the committed offset, and commits the log end where
	// there is none, as kafka-consumer-groups.sh --to-current.
	ToCurrent TargetKind = "to-current"
	// ToGroup copies another group's committed offsets, as rpk group seek
	// --to-group; partitions it has not committed to are left as they are.
	ToGroup TargetKind = "to-group"
)

// Target is where a reset moves the group.
//
// Range rules (what happens to a target outside [log start, log end]):
//   - ToOffset and FromFile name absolute offsets: out of range is refused,
//     because a mistyped offset should not silently become another one.
//     (kafka-consumer-groups clamps these; we are stricter.)
//   - ShiftBy is clamped to the log, as kafka-consumer-groups does, and the
//     row says so: "shift back 1000" on a 10-record log means "as far as
//     there is".
//   - ToCommittedAt is clamped too: the position the group held may have
//     been deleted by retention since; the row says so.
//   - ToEarliest, ToLatest, ToDatetime, ByDuration are in range by
//     construction (a time after the last record resolves to the log end).
type Target struct {
	Kind   TargetKind
	Offset int64                    // ToOffset
	Shift  int64                    // ShiftBy
	Time   time.Time                // ToDatetime, ByDuration (now minus the duration), ToCommittedAt
	File   map[TopicPartition]int64 // FromFile; ToGroup: the other group's committed offsets
	Group  string                   // ToGroup: the group copied
}

// PlanRow is one partition of a reset plan.
type PlanRow struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current"` // NoOffset (-1) when nothing is committed
	New       int64  `json:"new"`
	LogStart  int64  `json:"log_start"`
	LogEnd    int64  `json:"log_end"`
	Replays   int64  `json:"replays"` // records read again (new < current)
	Skips     int64  `json:"skips"`   // records skipped (new > current)
	Effect    string `json:"effect"`
	Clamped   bool   `json:"clamped"`
}

// Plan is the dry-run result of a reset.
type Plan struct {
	Group    string     `json:"group"`
	Target   TargetKind `json:"target"`
	Exists   bool       `json:"group_exists"`
	Executed bool       `json:"executed"`
	Rows     []PlanRow  `json:"partitions"`
}

// PlanReset computes new offsets for every partition of the snapshot.
// resolved carries what needs the broker: for ToDatetime and ByDuration the
// first offset at or after the time (log end when none), for ToCommittedAt
// the group's committed offset at the time (absent: no commit then, the
// partition is left as it is). It fails, changing nothing, when a target
// is outside the log (see Target).
func PlanReset(s GroupSnapshot, t Target, resolved map[TopicPartition]int64) (Plan, error) {
	plan := Plan{Group: s.Group, Target: t.Kind, Exists: s.Exists, Rows: []PlanRow{}}
	if len(s.Partitions) == 0 {
		return plan, fmt.Errorf("nothing to reset: group %q has no committed offsets on the selected topics; name them with --topic", s.Group)
	}
	for _, p := range s.Partitions {
		r := PlanRow{Topic: p.Topic, Partition: p.Partition, Current: p.Committed, LogStart: p.LogStart, LogEnd: p.LogEnd}
		var note string
		clamp := func(v int64, why string) int64 {
			switch {
			case v < p.LogStart:
				r.Clamped, note = true, fmt.Sprintf("clamped to log start %d%s", p.LogStart, why)
				return p.LogStart
			case v > p.LogEnd:
				r.Clamped, note = true, fmt.Sprintf("clamped to log end %d", p.LogEnd)
				return p.LogEnd
			}
			return v
		}
		refuse := func(v int64, what string) error {
			return fmt.Errorf("%w: %s %d is outside the log of %s/%d [%d, %d]; pick an offset in that range or use --to-earliest/--to-latest",
				ErrOutOfRange, what, v, p.Topic, p.Partition, p.LogStart, p.LogEnd)
		}
		switch t.Kind {
		case ToEarliest:
			r.New = p.LogStart
		case ToLatest:
			r.New = p.LogEnd
		case ToOffset:
			if t.Offset < p.LogStart || t.Offset > p.LogEnd {
				return plan, refuse(t.Offset, "--to-offset")
			}
			r.New = t.Offset
		case FromFile:
			v, ok := t.File[p.TP()]
			if !ok {
				continue
			}
			if v < p.LogStart || v > p.LogEnd {
				return plan, refuse(v, "--from-file offset")
			}
			r.New = v
		case ToCurrent:
			r.New = p.Committed
			if !p.HasCommit() {
				r.New = p.LogEnd
			}
		case ToGroup:
			v, ok := t.File[p.TP()]
			if !ok {
				continue // the other group has no commit here
			}
			r.New = clamp(v, fmt.Sprintf(" (group %s's offset %d was deleted by retention)", t.Group, v))
		case ShiftBy:
			if !p.HasCommit() {
				return plan, fmt.Errorf("cannot shift %s/%d: group %q has no committed offset there; use --to-earliest, --to-offset or --to-datetime", p.Topic, p.Partition, s.Group)
			}
			r.New = clamp(p.Committed+t.Shift, "")
		case ToDatetime, ByDuration:
			v, ok := resolved[p.TP()]
			if !ok || v < 0 {
				v = p.LogEnd
			}
			r.New = clamp(v, "")
		case ToCommittedAt:
			v, ok := resolved[p.TP()]
			if !ok {
				r.New = p.Committed
				if !p.HasCommit() {
					// Nothing then, nothing now: leave it out.
					continue
				}
				note = "no commit at that time; unchanged"
				break
			}
			r.New = clamp(v, fmt.Sprintf(" (offsets before it were deleted since %s)", t.Time.Format(time.RFC3339)))
		default:
			return plan, fmt.Errorf("unknown reset target %q", t.Kind)
		}
		switch {
		case !p.HasCommit():
			r.Effect = fmt.Sprintf("no commit yet; reads %d", p.LogEnd-r.New)
		case r.New < p.Committed:
			r.Replays = min(p.Committed, p.LogEnd) - r.New
			r.Effect = fmt.Sprintf("replays %d", r.Replays)
		case r.New > p.Committed:
			r.Skips = r.New - max(p.Committed, p.LogStart)
			r.Effect = fmt.Sprintf("skips %d", r.Skips)
		default:
			r.Effect = "unchanged"
		}
		if note != "" && r.Effect != "unchanged" {
			r.Effect += " (" + note + ")"
		} else if note != "" {
			r.Effect = note
		}
		plan.Rows = append(plan.Rows, r)
	}
	if len(plan.Rows) == 0 {
		return plan, fmt.Errorf("nothing to reset for group %q with --%s on the selected partitions", s.Group, t.Kind)
	}
	return plan, nil
}

// ParseResetCSV reads kafka-consumer-groups' reset file: one
// "topic,partition,offset" per line (or "group,topic,partition,offset",
// as --export writes for several groups: the lines of other groups are
// skipped), after an optional header line naming the columns.
func ParseResetCSV(r io.Reader, group string) (map[TopicPartition]int64, error) {
	out := map[TopicPartition]int64{}
	others := false
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) == 4 && len(out) == 0 && csvHeader(f) {
			continue
		}
		if len(f) == 4 {
			if f[0] != group {
				// Another group's line of a several-group export: as
				// kafka-consumer-groups.sh, each group takes its own.
				others = true
				continue
			}
			f = f[1:]
		}
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("reset file line %d: %q is not topic,partition,offset", n, line)
		}
		if len(out) == 0 && csvHeader(f) {
			continue // a header line, as spreadsheets write
		}
		p, err := strconv.ParseInt(f[1], 10, 32)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("reset file line %d: partition %q is not a number", n, f[1])
		}
		o, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || o < 0 {
			return nil, fmt.Errorf("reset file line %d: offset %q is not a non-negative number", n, f[2])
		}
		tp := TopicPartition{f[0], int32(p)}
		if _, dup := out[tp]; dup {
			return nil, fmt.Errorf("reset file line %d: %s appears twice", n, tp)
		}
		out[tp] = o
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reset file: %w", err)
	}
	if len(out) == 0 && others {
		return nil, fmt.Errorf("reset file has no line for group %q", group)
	}
	if len(out) == 0 {
		return nil, errors.New("reset file has no topic,partition,offset lines")
	}
	return out, nil
}

// csvHeader reports whether a reset file's line names its columns
// (topic,partition,offset; group first; new-offset for offset).
func csvHeader(f []string) bool {
	for _, c := range f {
		switch strings.ToLower(c) {
		case "group", "topic", "partition", "offset", "new-offset", "current-offset":
		default:
			return false
		}
	}
	return true
}

// ExportCSV writes plans as kafka-consumer-groups.sh --export does, which
// ParseResetCSV (--from-file) reads back: topic,partition,new offset per
// line, no header; with several groups the group first on each line.
func ExportCSV(w io.Writer, plans []Plan) error {
	for _, p := range plans {
		for _, r := range p.Rows {
			var err error
			if len(plans) > 1 {
				_, err = fmt.Fprintf(w, "%s,%s,%d,%d\n", p.Group, r.Topic, r.Partition, r.New)
			} else {
				_, err = fmt.Fprintf(w, "%s,%d,%d\n", r.Topic, r.Partition, r.New)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// ResolveTimes lists, for every partition of s, the first offset whose
// timestamp is at or after t (the log end when there is none).
func (c *Client) ResolveTimes(ctx context.Context, s GroupSnapshot, t time.Time) (map[TopicPartition]int64, error) {
	topics := map[string]bool{}
	var names []string
	for _, p := range s.Partitions {
		if !topics[p.Topic] {
			topics[p.Topic] = true
			names = append(names, p.Topic)
		}
	}
	l, err := c.adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), names...)
	if err != nil {
		return nil, fmt.Errorf("list offsets by time: %s", oneLine(err))
	}
	out := map[TopicPartition]int64{}
	for _, p := range s.Partitions {
		v, err := listed(l, p.TP())
		if err != nil {
			return nil, err
		}
		out[p.TP()] = v
	}
	return out, nil
}

// ActiveMembersError refuses a change while consumers are running, naming
// them, as kafka-consumer-groups does.
type ActiveMembersError struct {
	Group   string
	State   string
	Type    string // TypeClassic or TypeConsumer; "" when not known
	Members []Member
}

func (e *ActiveMembersError) Error() string {
	kind := ""
	if e.Type != "" {
		kind = e.Type + " "
	}
	return fmt.Sprintf("%sgroup %q is %s with %d active member(s) (%s): offsets can only be reset while the group is inactive (Empty); stop these consumers and run again",
		kind, e.Group, e.State, len(e.Members), memberList(e.Members))
}

func (e *ActiveMembersError) Unwrap() error { return ErrActiveMembers }

// ExecuteReset commits the plan, after checking again that the group has
// no members (a consumer that joined since the dry run would overwrite the
// reset with its next commit). As kafka-consumer-groups.sh, it refuses
// unless the group is Empty or Dead, for classic and consumer groups
// alike: a consumer group's broker would refuse the commit of a group
// with members anyway (UNKNOWN_MEMBER_ID for a commit without a member).
func (c *Client) ExecuteReset(ctx context.Context, plan *Plan) error {
	now := GroupSnapshot{Group: plan.Group}
	if err := c.describeGroup(ctx, &now, map[string]bool{}); err != nil {
		return err
	}
	if len(now.Members) > 0 || (now.State != StateEmpty && now.State != StateDead && now.State != "") {
		return &ActiveMembersError{Group: plan.Group, State: now.State, Type: now.Type, Members: now.Members}
	}
	os := kadm.Offsets{}
	for _, r := range plan.Rows {
		os.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.New, LeaderEpoch: -1})
	}
	resp, err := c.adm.CommitOffsets(ctx, plan.Group, os)
	if err != nil {
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.IllegalGeneration) {
			return fmt.Errorf("%w: group %q gained members while resetting; stop its consumers and run again", ErrActiveMembers, plan.Group)
		}
		return fmt.Errorf("commit offsets for %q: %s", plan.Group, oneLine(err))
	}
	if err := resp.Error(); err != nil {
		return fmt.Errorf("commit offsets for %q: %s", plan.Group, oneLine(err))
	}
	plan.Executed = true
	return nil
}
