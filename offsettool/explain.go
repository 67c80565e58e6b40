package offsettool

import (
	"fmt"
	"strings"
	"time"

	"github.com/rewindhq/rewind/lageval"
)

// Policy is a consumer's initial offset, used when the group has no valid
// committed offset: Sarama's Consumer.Offsets.Initial (OffsetNewest by
// default), franz-go's ConsumeResetOffset, Java's auto.offset.reset.
type Policy string

const (
	Newest Policy = "newest"
	Oldest Policy = "oldest"
	// None is Java's auto.offset.reset=none (franz-go NoResetOffset): no
	// reset at all, the consumer fails where a reset would apply.
	None Policy = "none"
)

// byDuration is the prefix of Kafka 4's auto.offset.reset=by_duration:D
// (KIP-1106): start at the first record at or after now minus D, which
// the consumer looks up with ListOffsets by timestamp.
const byDuration = "by_duration:"

// ParsePolicy accepts newest/latest, oldest/earliest, none and
// by_duration:D (D in ISO 8601 as Java writes it, PT1H, or Go's 1h).
func ParsePolicy(s string) (Policy, error) {
	switch l := strings.ToLower(s); {
	case l == "newest", l == "latest":
		return Newest, nil
	case l == "oldest", l == "earliest":
		return Oldest, nil
	case l == "none":
		return None, nil
	case strings.HasPrefix(l, byDuration):
		d, err := ParseDuration(s[len(byDuration):])
		if err != nil || d < 0 {
			return "", fmt.Errorf("--initial %q: by_duration takes a non-negative duration, by_duration:PT1H as Java writes it: %v", s, err)
		}
		return Policy(byDuration + s[len(byDuration):]), nil
	}
	return "", fmt.Errorf("--initial %q: use newest (Sarama's default OffsetNewest, Java latest), oldest (earliest), none or by_duration:PT1H", s)
}

// Duration is a by_duration policy's duration (ok false for the others).
func (p Policy) Duration() (time.Duration, bool) {
	if !strings.HasPrefix(string(p), byDuration) {
		return 0, false
	}
	d, err := ParseDuration(string(p)[len(byDuration):])
	return d, err == nil
}

func (p Policy) sarama() string {
	switch {
	case p == Oldest:
		return "OffsetOldest"
	case p == Newest, p == "":
		return "OffsetNewest"
	}
	return "auto.offset.reset=" + string(p)
}

// Case says why a partition starts where it does.
type Case string

const (
	CaseCommitted      Case = "committed"
	CaseNoCommitNewest Case = "no-commit-newest"
	CaseNoCommitOldest Case = "no-commit-oldest"
	CaseNoCommitNone   Case = "no-commit-none"
	CaseNoCommitByTime Case = "no-commit-by-duration"
	CaseBelowLogStart  Case = "committed-below-log-start"
	CaseAboveLogEnd    Case = "committed-above-log-end"
)

// Why a partition's lag (log end minus committed) cannot reach 0
// (PartitionStart.LagCase).
const (
	// LagOpenTxn: a transaction is open on the partition; read_committed
	// consumers stop at its first offset until it ends.
	LagOpenTxn Case = "open-transaction"
	// LagHangingTxn: as LagOpenTxn, but no coordinator holds the
	// transaction, so it never ends by itself.
	LagHangingTxn Case = "hanging-transaction"
	// LagControlRecords: the offsets after the committed one hold only
	// markers (and aborted records), which no consumer receives.
	LagControlRecords Case = "control-records"
)

// Kinds of GroupNote.
const (
	GroupNoteRebalance = "rebalancing"
	GroupNoteActive    = "active-members"
	GroupNoteEmpty     = "empty"
	GroupNoteUnknown   = "unknown-group"
)

// PartitionStart is where a consumer of the group starts on one partition.
type PartitionStart struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"` // NoOffset (-1) when none
	LogStart  int64  `json:"log_start"`
	LogEnd    int64  `json:"log_end"`
	Start     int64  `json:"start"`  // the offset the consumer reads first; NoOffset when it fails (policy none)
	Reads     int64  `json:"reads"`  // existing records it will read
	Skips     int64  `json:"skips"`  // existing records it will not read
	Case      Case   `json:"case"`   // machine-readable reason
	Why       string `json:"why"`    // plain words
	Replay    string `json:"replay"` // how to read the skipped records, if any
	MemberID  string `json:"member_id,omitempty"`
	// TargetMemberID is a consumer group's target owner of the partition
	// when it differs from MemberID (the partition is moving).
	TargetMemberID string `json:"target_member_id,omitempty"`
	// LastStable is where a read_committed consumer stops.
	LastStable int64 `json:"last_stable"`
	// LagCase and LagWhy say why the lag cannot reach 0 for a consumer
	// that has read everything it can; empty when nothing holds it.
	LagCase Case   `json:"lag_case,omitempty"`
	LagWhy  string `json:"lag_why,omitempty"`
	// NextFetch states where a restarted consumer's first fetch goes, as
	// a fact: "next fetch starts at offset N (record at TIME)". StartTime
	// is that record's timestamp, when the snapshot has it (records at
	// the committed offset and the log start; see Partition).
	NextFetch string     `json:"next_fetch"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

// GroupNote is a remark about the whole group.
type GroupNote struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// Explanation is the answer of `rewind group explain`.
type Explanation struct {
	Group      string           `json:"group"`
	State      string           `json:"state"`
	Initial    Policy           `json:"initial"`
	Members    []Member         `json:"members"`
	Notes      []GroupNote      `json:"notes"`
	Partitions []PartitionStart `json:"partitions"`
}

// Explain says, for every partition of the snapshot, where a consumer of
// the group would start and why, assuming its initial offset policy is
// initial. It follows Apache Kafka and Sarama exactly:
//
//   - a committed offset inside [log start, log end] wins over the policy;
//   - no committed offset: newest starts at the log end (existing records
//     are never read), oldest at the log start;
//   - a committed offset outside the log (retention or DeleteRecords moved
//     the log start past it, or the topic was recreated) makes the fetch
//     fail with OFFSET_OUT_OF_RANGE, and the reset policy applies (Sarama
//     resets to Consumer.Offsets.Initial because
//     Consumer.Group.ResetInvalidOffsets is true by default).
func Explain(s GroupSnapshot, initial Policy) Explanation {
	if initial == "" {
		initial = Newest
	}
	ex := Explanation{Group: s.Group, State: s.State, Initial: initial, Members: s.Members}
	if ex.Members == nil {
		ex.Members = []Member{}
	}
	ex.Notes = append(groupNotes(s), consumerNotes(s)...)
	ex.Partitions = make([]PartitionStart, 0, len(s.Partitions))
	for _, p := range s.Partitions {
		ex.Partitions = append(ex.Partitions, explainPartition(s, p, initial))
	}
	return ex
}

func groupNotes(s GroupSnapshot) []GroupNote {
	var notes []GroupNote
	switch {
	case !s.Exists:
		notes = append(notes, GroupNote{GroupNoteUnknown, fmt.Sprintf(
			"The broker has no record of group %q (no members, no committed offsets): a consumer joining it starts from its initial offset policy on every partition.", s.Group)})
	case s.Rebalancing() && s.Type == TypeConsumer:
		notes = append(notes, GroupNote{GroupNoteRebalance, fmt.Sprintf(
			"The consumer group (KIP-848) is %s at group epoch %d: its members move to the target assignment one heartbeat at a time, and every partition not being moved is consumed meanwhile (no stop-the-world rebalance). Members: %s.", s.State, s.GroupEpoch, memberList(s.Members))})
	case s.Rebalancing():
		notes = append(notes, GroupNote{GroupNoteRebalance, fmt.Sprintf(
			"The group is mid-rebalance (%s): members are rejoining and no partition is consumed until it settles; then each partition starts as shown below. If it never settles, a member is slow to rejoin (check its rebalance timeout and that it polls).", s.State)})
	case s.Active():
		notes = append(notes, GroupNote{GroupNoteActive, fmt.Sprintf(
			"The group has %d active member(s) consuming now (%s): the starts below are where each partition resumes after a restart or rebalance; the live position may be ahead of the last commit. Stop them before resetting offsets.", len(s.Members), memberList(s.Members))})
	default:
		notes = append(notes, GroupNote{GroupNoteEmpty,
			"The group has no active members: the next consumer to join starts as shown below."})
	}
	return notes
}

func memberList(ms []Member) string {
	var parts []string
	for _, m := range ms {
		name := m.ClientID
		if name == "" {
			name = "member " + m.ID
		}
		if m.Host != "" {
			name += " on " + m.Host
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, ", ")
}

func explainPartition(s GroupSnapshot, p Partition, initial Policy) PartitionStart {
	ps := PartitionStart{
		Topic: p.Topic, Partition: p.Partition, Committed: p.Committed,
		LogStart: p.LogStart, LogEnd: p.LogEnd, MemberID: p.MemberID, LastStable: p.LastStable,
	}
	ps.LagCase, ps.LagWhy = explainLag(s, p)
	policyStart := p.LogEnd
	_, byTime := initial.Duration()
	switch {
	case initial == Oldest:
		policyStart = p.LogStart
	case initial == None:
		policyStart = NoOffset
	case byTime && p.DurationStart >= 0:
		// What ListOffsets by timestamp answered for now minus D, kept
		// inside the log (a snapshot without it leaves the log end).
		policyStart = min(max(p.DurationStart, p.LogStart), p.LogEnd)
	}
	existing := p.LogEnd - p.LogStart
	replay := fmt.Sprintf("To read them: stop the consumers and run `rewind group reset %s --topic %s --to-earliest --execute`, or, before the group's first commit, set Sarama's Consumer.Offsets.Initial = sarama.OffsetOldest.", s.Group, p.Topic)

	switch {
	case p.HasCommit() && p.Committed >= p.LogStart && p.Committed <= p.LogEnd:
		ps.Case, ps.Start = CaseCommitted, p.Committed
		ps.Reads, ps.Skips = p.LogEnd-p.Committed, p.Committed-p.LogStart
		if p.Committed == p.LogEnd {
			ps.Why = fmt.Sprintf("Committed offset %d wins over the initial policy (%s is ignored once the group has committed). It is the log end: the consumer is caught up and reads only new records.", p.Committed, initial.sarama())
		} else {
			ps.Why = fmt.Sprintf("Committed offset %d wins over the initial policy (%s is ignored once the group has committed): the consumer resumes at %d and reads the %d record(s) up to the log end %d.", p.Committed, initial.sarama(), p.Committed, ps.Reads, p.LogEnd)
		}
		if ps.Skips > 0 {
			// The broker knows the commit, not how the group got there:
			// a group that started at the log end (newest) and read one
			// record commits the same offset as one that read them all.
			ps.Replay = fmt.Sprintf("The %d record(s) before it (offsets %d-%d) are behind the committed offset: the group read them, or skipped them when it started at its initial offset policy before its first commit (the broker keeps commits, not what was fetched; `rewind group history %s` shows where its first commit was). To read them: stop the consumers and run `rewind group reset %s --topic %s --to-earliest --execute` (or --shift-by -N, --to-datetime).", ps.Skips, p.LogStart, p.Committed-1, s.Group, s.Group, p.Topic)
		}

	case !p.HasCommit() && initial == None:
		ps.Case, ps.Start = CaseNoCommitNone, NoOffset
		ps.Why = "No committed offset and the policy none (auto.offset.reset=none): there is nothing to start from, so the consumer fails instead of fetching (Java's poll throws NoOffsetForPartitionException); it reads nothing until the group commits or its offsets are reset (`rewind group reset " + s.Group + " --topic " + p.Topic + " --to-earliest|--to-latest --execute`)."

	case !p.HasCommit() && byTime:
		ps.Case, ps.Start = CaseNoCommitByTime, policyStart
		ps.Reads, ps.Skips = p.LogEnd-policyStart, policyStart-p.LogStart
		ps.Why = fmt.Sprintf("No committed offset, so the initial policy %s applies: the consumer looks up the first record at or after now minus the duration (ListOffsets by timestamp) and starts at offset %d, reading %d of the %d existing record(s).", initial, policyStart, ps.Reads, existing)
		if ps.Skips > 0 {
			ps.Replay = replay
		}

	case !p.HasCommit():
		ps.Start = policyStart
		ps.Reads, ps.Skips = p.LogEnd-policyStart, policyStart-p.LogStart
		if initial == Oldest {
			ps.Case = CaseNoCommitOldest
			ps.Why = fmt.Sprintf("No committed offset, so the initial policy oldest (sarama.OffsetOldest) applies: the consumer starts at the log start %d and reads all %d existing record(s).", p.LogStart, existing)
		} else {
			ps.Case = CaseNoCommitNewest
			if existing == 0 {
				ps.Why = fmt.Sprintf("No committed offset, so the initial policy newest (Sarama's default OffsetNewest) applies: the consumer starts at the log end %d. The partition is empty, so it reads every record produced from now on.", p.LogEnd)
			} else {
				ps.Why = fmt.Sprintf("No committed offset, so the initial policy newest (Sarama's default OffsetNewest) applies: the consumer starts at the log end %d and the %d existing record(s) (offsets %d-%d) will not be read, only new ones.", p.LogEnd, existing, p.LogStart, p.LogEnd-1)
				ps.Replay = replay
			}
		}
		if p.MemberID != "" {
			ps.Why += " A member holds this partition but has not committed yet: with Sarama only marked messages are committed (session.MarkMessage), so until then every restart starts again from the initial policy."
		}

	default:
		ps.Start = policyStart
		if policyStart >= 0 {
			ps.Reads, ps.Skips = p.LogEnd-policyStart, policyStart-p.LogStart
		}
		var what string
		if p.Committed < p.LogStart {
			ps.Case = CaseBelowLogStart
			what = fmt.Sprintf("Committed offset %d is below the log start %d: retention (retention.ms/retention.bytes) or DeleteRecords deleted %d record(s), offsets %d-%d, before the group read them: they are lost to it.", p.Committed, p.LogStart, p.LogStart-p.Committed, p.Committed, p.LogStart-1)
		} else {
			ps.Case = CaseAboveLogEnd
			what = fmt.Sprintf("Committed offset %d is above the log end %d: the topic was probably deleted and recreated, or the offset was committed by hand.", p.Committed, p.LogEnd)
		}
		reset := fmt.Sprintf(" The fetch fails with OFFSET_OUT_OF_RANGE and the reset policy applies (Sarama: Consumer.Offsets.Initial with Consumer.Group.ResetInvalidOffsets; Java: auto.offset.reset): %s starts at ", initial)
		switch {
		case byTime:
			reset += fmt.Sprintf("the first record at or after now minus the duration, offset %d, and reads the %d record(s) from there.", policyStart, p.LogEnd-policyStart)
		case initial == None:
			reset = " The fetch fails with OFFSET_OUT_OF_RANGE and, with the policy none (auto.offset.reset=none), nothing resets it: the consumer fails (Java's poll throws OffsetOutOfRangeException) and reads nothing until the offset is reset."
		case initial == Oldest:
			reset += fmt.Sprintf("the log start %d and reads the %d record(s) still in the log.", p.LogStart, existing)
		default:
			reset += fmt.Sprintf("the log end %d", p.LogEnd)
			if existing > 0 {
				reset += fmt.Sprintf(" and skips the %d record(s) still in the log.", existing)
				ps.Replay = replay
			} else {
				reset += "."
			}
		}
		ps.Why = what + reset
	}
	ps.NextFetch, ps.StartTime = nextFetch(p, ps, initial)
	if p.TargetMemberID != "" && p.TargetMemberID != p.MemberID {
		ps.TargetMemberID = p.TargetMemberID
		if p.MemberID != "" {
			ps.Why += fmt.Sprintf(" The partition is moving: member %s owns it and must revoke it before member %s, its owner in the target assignment, gets it and resumes from the committed offset.", p.MemberID, p.TargetMemberID)
		} else {
			ps.Why += fmt.Sprintf(" Member %s gets it on its next heartbeat (the target assignment gives it the partition and no member owns it).", p.TargetMemberID)
		}
	}
	return ps
}

// nextFetch states where the first fetch of a consumer that starts now
// goes, with the record's timestamp when the snapshot has it.
func nextFetch(p Partition, ps PartitionStart, initial Policy) (string, *time.Time) {
	var first string
	if ps.Case == CaseBelowLogStart || ps.Case == CaseAboveLogEnd {
		first = fmt.Sprintf("first fetch, at committed offset %d, fails with OFFSET_OUT_OF_RANGE (log %d-%d); ", p.Committed, p.LogStart, p.LogEnd)
	}
	if ps.Start < 0 {
		if ps.Case == CaseNoCommitNone {
			return "no fetch: no committed offset, and auto.offset.reset=none makes the consumer fail (NoOffsetForPartitionException)", nil
		}
		return first + "no reset follows: auto.offset.reset=none makes the consumer fail (OffsetOutOfRangeException)", nil
	}
	lead := "next fetch starts at offset"
	if first != "" {
		lead = first + "the reset to " + string(initial) + " makes the next fetch start at offset"
	}
	if ps.Start >= p.LogEnd {
		return fmt.Sprintf("%s %d, the log end: it returns the next record produced", lead, ps.Start), nil
	}
	var at time.Time
	switch {
	case ps.Start == p.Committed && ps.Start >= p.LogStart:
		at = p.FirstUnconsumed
	case ps.Start == p.LogStart:
		at = p.OldestTime
	case ps.Start == p.DurationStart:
		at = p.DurationTime
	}
	if at.IsZero() {
		return fmt.Sprintf("%s %d (record time not looked up)", lead, ps.Start), nil
	}
	at = at.UTC()
	return fmt.Sprintf("%s %d (record at %s)", lead, ps.Start, at.Format("2006-01-02T15:04:05.000Z07:00")), &at
}

// explainLag says why the lag of a committed partition cannot reach 0 when
// a transaction holds the last stable offset back or only markers and
// aborted records follow the commit.
func explainLag(s GroupSnapshot, p Partition) (Case, string) {
	if !p.HasCommit() || p.Committed < p.LogStart || p.Committed > p.LogEnd {
		return "", ""
	}
	lag := p.LogEnd - p.Committed
	if p.LastStable < p.LogEnd {
		var b strings.Builder
		if p.Committed >= p.LastStable {
			fmt.Fprintf(&b, "A read_committed consumer (librdkafka's default, Kafka Streams, exactly-once applications) has read all it can: it stops at the last stable offset %d, below the log end %d, ", p.LastStable, p.LogEnd)
		} else {
			fmt.Fprintf(&b, "A read_committed consumer (librdkafka's default, Kafka Streams, exactly-once applications) reads the %d record(s) up to the last stable offset %d and then waits there, below the log end %d, ", p.LastStable-p.Committed, p.LastStable, p.LogEnd)
		}
		c := LagOpenTxn
		if len(p.OpenTxns) == 0 {
			b.WriteString("because a transaction is open there (the broker did not say whose).")
		} else {
			o := p.OpenTxns[0]
			fmt.Fprintf(&b, "because producer %d (epoch %d", o.ProducerID, o.ProducerEpoch)
			if o.TransactionalID != "" {
				fmt.Fprintf(&b, ", transactional id %q", o.TransactionalID)
			}
			fmt.Fprintf(&b, ") has had a transaction open there since offset %d", o.StartOffset)
			if !o.Started.IsZero() && !o.Hanging {
				fmt.Fprintf(&b, ", for %s", lageval.HumanDuration(s.Taken.Sub(o.Started)))
			}
			fmt.Fprintf(&b, "; it last wrote %s ago.", lageval.HumanDuration(s.Taken.Sub(o.LastWrite)))
			if len(p.OpenTxns) > 1 {
				fmt.Fprintf(&b, " %d other transaction(s) are open after it.", len(p.OpenTxns)-1)
			}
			if o.Hanging {
				c = LagHangingTxn
				if o.TransactionalID != "" {
					fmt.Fprintf(&b, " Its coordinator does not hold this transaction on %s/%d (transactional id %q is %s): it is hanging and will never end by itself.", p.Topic, p.Partition, o.TransactionalID, o.State)
				} else {
					fmt.Fprintf(&b, " No transactional id uses producer id %d: the transaction is hanging and will never end by itself.", o.ProducerID)
				}
				fmt.Fprintf(&b, " Check with `rewind transactions find-hanging --topic %s --partition %d` and abort it with `rewind transactions abort --topic %s --partition %d --start-offset %d`.", p.Topic, p.Partition, p.Topic, p.Partition, o.StartOffset)
			} else if o.State != "" {
				fmt.Fprintf(&b, " Its coordinator has it %s", o.State)
				if o.TimeoutMillis > 0 {
					fmt.Fprintf(&b, " with a timeout of %s, after which it aborts it", lageval.HumanDuration(time.Duration(o.TimeoutMillis)*time.Millisecond))
				}
				b.WriteString(".")
			}
		}
		fmt.Fprintf(&b, " The lag of %d cannot fall below %d until that transaction commits or aborts; a read_uncommitted consumer reads on.", lag, p.LogEnd-max(p.LastStable, p.Committed))
		return c, b.String()
	}
	if t := p.Tail; t != nil && t.From == p.Committed && t.To == p.LogEnd && lag > 0 {
		what := fmt.Sprintf("%d control record(s) (transaction commit and abort markers)", t.Markers)
		if t.Aborted > 0 {
			what += fmt.Sprintf(" and %d record(s) of aborted transactions", t.Aborted)
		}
		return LagControlRecords, fmt.Sprintf("The lag of %d never reaches 0, and that is expected: offsets %d-%d hold only %s, which no consumer receives. The consumer is caught up. Its committed offset stays below the log end because it commits the offset after the last record it processed (as Sarama's MarkMessage does) rather than its fetch position, which moves past markers.",
			lag, t.From, t.To-1, what)
	}
	return "", ""
}
