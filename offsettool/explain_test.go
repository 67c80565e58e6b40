package offsettool

import (
	"strings"
	"testing"
	"time"
)

func part(committed, start, end int64) Partition {
	return Partition{Topic: "orders", Partition: 0, Committed: committed, LogStart: start, LogEnd: end, LastStable: end}
}

func TestExplainCases(t *testing.T) {
	for _, tc := range []struct {
		name               string
		p                  Partition
		initial            Policy
		wantCase           Case
		start, reads, skip int64
		why                []string // substrings of Why
		replay             bool
	}{
		{"committed wins over newest", part(40, 0, 50), Newest, CaseCommitted, 40, 10, 40,
			[]string{"Committed offset 40 wins", "OffsetNewest is ignored", "reads the 10 record(s)"}, true},
		{"committed wins over oldest", part(40, 0, 50), Oldest, CaseCommitted, 40, 10, 40,
			[]string{"Committed offset 40 wins", "OffsetOldest is ignored"}, true},
		{"committed at log end", part(50, 0, 50), Newest, CaseCommitted, 50, 0, 50,
			[]string{"caught up"}, true},
		{"committed at log start", part(0, 0, 50), Newest, CaseCommitted, 0, 50, 0,
			[]string{"resumes at 0"}, false},
		{"no commit newest skips existing", part(NoOffset, 0, 50), Newest, CaseNoCommitNewest, 50, 0, 50,
			[]string{"No committed offset", "OffsetNewest", "the 50 existing record(s) (offsets 0-49) will not be read"}, true},
		{"no commit newest empty partition", part(NoOffset, 7, 7), Newest, CaseNoCommitNewest, 7, 0, 0,
			[]string{"partition is empty"}, false},
		{"no commit oldest reads all", part(NoOffset, 5, 50), Oldest, CaseNoCommitOldest, 5, 45, 0,
			[]string{"OffsetOldest", "log start 5", "all 45 existing"}, false},
		{"below log start newest", part(10, 30, 50), Newest, CaseBelowLogStart, 50, 0, 20,
			[]string{"below the log start 30", "retention", "offsets 10-29", "OFFSET_OUT_OF_RANGE", "auto.offset.reset", "skips the 20"}, true},
		{"below log start oldest", part(10, 30, 50), Oldest, CaseBelowLogStart, 30, 20, 0,
			[]string{"below the log start 30", "oldest starts at the log start 30"}, false},
		{"above log end newest", part(80, 0, 50), Newest, CaseAboveLogEnd, 50, 0, 50,
			[]string{"above the log end 50", "recreated", "OFFSET_OUT_OF_RANGE", "skips the 50"}, true},
		{"above log end oldest", part(80, 0, 50), Oldest, CaseAboveLogEnd, 0, 50, 0,
			[]string{"above the log end 50", "reads the 50 record(s)"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := GroupSnapshot{Group: "g", Exists: true, State: StateEmpty, Partitions: []Partition{tc.p}}
			ex := Explain(s, tc.initial)
			if len(ex.Partitions) != 1 {
				t.Fatalf("partitions = %d", len(ex.Partitions))
			}
			got := ex.Partitions[0]
			if got.Case != tc.wantCase || got.Start != tc.start || got.Reads != tc.reads || got.Skips != tc.skip {
				t.Fatalf("got case %s start %d reads %d skips %d; want %s %d %d %d\n%s",
					got.Case, got.Start, got.Reads, got.Skips, tc.wantCase, tc.start, tc.reads, tc.skip, got.Why)
			}
			for _, w := range tc.why {
				if !strings.Contains(got.Why, w) {
					t.Errorf("why %q lacks %q", got.Why, w)
				}
			}
			if (got.Replay != "") != tc.replay {
				t.Errorf("replay = %q, want present=%v", got.Replay, tc.replay)
			}
			if tc.replay && !strings.Contains(got.Replay, "rewind group reset g --topic orders --to-earliest --execute") {
				t.Errorf("replay hint lacks the reset command: %q", got.Replay)
			}
			if tc.wantCase == CaseNoCommitNewest && tc.replay && !strings.Contains(got.Replay, "sarama.OffsetOldest") {
				t.Errorf("replay hint lacks the Sarama setting: %q", got.Replay)
			}
		})
	}
}

func TestExplainGroupNotes(t *testing.T) {
	members := []Member{{ID: "m-1", ClientID: "sarama", Host: "/10.0.0.7"}}
	for _, tc := range []struct {
		name string
		s    GroupSnapshot
		kind string
		want []string
	}{
		{"unknown group", GroupSnapshot{Group: "g", State: StateDead}, GroupNoteUnknown, []string{"no record of group \"g\"", "initial offset policy"}},
		{"preparing rebalance", GroupSnapshot{Group: "g", Exists: true, State: StatePreparingRebalance, Members: members}, GroupNoteRebalance, []string{"mid-rebalance (PreparingRebalance)"}},
		{"completing rebalance", GroupSnapshot{Group: "g", Exists: true, State: StateCompletingRebalance, Members: members}, GroupNoteRebalance, []string{"mid-rebalance (CompletingRebalance)"}},
		{"active members", GroupSnapshot{Group: "g", Exists: true, State: StateStable, Members: members}, GroupNoteActive, []string{"1 active member(s)", "sarama on /10.0.0.7", "Stop them before resetting"}},
		{"empty", GroupSnapshot{Group: "g", Exists: true, State: StateEmpty}, GroupNoteEmpty, []string{"no active members"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := Explain(tc.s, Newest)
			if len(ex.Notes) != 1 || ex.Notes[0].Kind != tc.kind {
				t.Fatalf("notes = %+v, want kind %s", ex.Notes, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(ex.Notes[0].Text, w) {
					t.Errorf("note %q lacks %q", ex.Notes[0].Text, w)
				}
			}
		})
	}
}

func TestExplainAssignedWithoutCommit(t *testing.T) {
	p := part(NoOffset, 0, 10)
	p.MemberID = "m-1"
	s := GroupSnapshot{Group: "g", Exists: true, State: StateStable, Members: []Member{{ID: "m-1"}}, Partitions: []Partition{p}}
	got := Explain(s, Newest).Partitions[0]
	if !strings.Contains(got.Why, "has not committed yet") || !strings.Contains(got.Why, "MarkMessage") {
		t.Fatalf("why = %q", got.Why)
	}
}

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"newest": Newest, "latest": Newest, "oldest": Oldest, "EARLIEST": Oldest} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePolicy("middle"); err == nil {
		t.Error("ParsePolicy(middle) succeeded")
	}
}

func TestExplainLagCases(t *testing.T) {
	taken := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	ongoing := OpenTxn{ProducerID: 4001, ProducerEpoch: 2, StartOffset: 10, LastWrite: taken.Add(-20 * time.Second),
		TransactionalID: "etl-7", State: "Ongoing", Started: taken.Add(-3 * time.Minute), TimeoutMillis: 60000}
	hanging := ongoing
	hanging.State, hanging.Hanging, hanging.LastWrite = "Empty", true, taken.Add(-2*time.Hour)
	orphan := hanging
	orphan.TransactionalID, orphan.State = "", ""
	withTxn := func(c, lso, end int64, txns ...OpenTxn) Partition {
		p := part(c, 0, end)
		p.LastStable, p.OpenTxns = lso, txns
		return p
	}
	withTail := func(c, end int64, tail UnreadableTail) Partition {
		p := part(c, 0, end)
		p.Tail = &tail
		return p
	}
	for _, tc := range []struct {
		name string
		p    Partition
		want Case
		why  []string
		not  []string
	}{
		{"caught up at an open transaction", withTxn(10, 10, 15, ongoing), LagOpenTxn, []string{
			"read_committed consumer", "has read all it can", "last stable offset 10, below the log end 15",
			`producer 4001 (epoch 2, transactional id "etl-7") has had a transaction open there since offset 10, for 3m`,
			"last wrote 20s ago", "coordinator has it Ongoing with a timeout of 1m, after which it aborts it",
			"lag of 5 cannot fall below 5 until that transaction commits or aborts", "read_uncommitted consumer reads on"}, []string{"hanging"}},
		{"behind an open transaction", withTxn(4, 10, 15, ongoing), LagOpenTxn, []string{
			"reads the 6 record(s) up to the last stable offset 10 and then waits there", "lag of 11 cannot fall below 5"}, nil},
		{"two open transactions", withTxn(10, 10, 15, ongoing, OpenTxn{ProducerID: 4002, StartOffset: 12}), LagOpenTxn, []string{
			"producer 4001", "1 other transaction(s) are open after it"}, nil},
		{"hanging transaction", withTxn(10, 10, 15, hanging), LagHangingTxn, []string{
			"since offset 10;", "last wrote 2h ago", `transactional id "etl-7" is Empty`, "hanging and will never end by itself",
			"rewind transactions find-hanging --topic orders --partition 0",
			"rewind transactions abort --topic orders --partition 0 --start-offset 10"}, []string{"for 3m", "timeout"}},
		{"hanging without a transactional id", withTxn(10, 10, 15, orphan), LagHangingTxn, []string{
			"No transactional id uses producer id 4001", "--start-offset 10"}, nil},
		{"open transaction of an unknown producer", withTxn(10, 10, 15), LagOpenTxn, []string{
			"the broker did not say whose", "lag of 5 cannot fall below 5"}, nil},
		{"a commit marker after the last record", withTail(49, 50, UnreadableTail{From: 49, To: 50, Markers: 1}), LagControlRecords, []string{
			"The lag of 1 never reaches 0, and that is expected", "offsets 49-49 hold only 1 control record(s) (transaction commit and abort markers)",
			"no consumer receives", "caught up", "MarkMessage"}, []string{"aborted"}},
		{"an aborted transaction after the last record", withTail(40, 50, UnreadableTail{From: 40, To: 50, Markers: 2, Aborted: 8}), LagControlRecords, []string{
			"The lag of 10 never reaches 0", "offsets 40-49 hold only 2 control record(s)", "and 8 record(s) of aborted transactions"}, nil},
		{"a tail scanned for another commit", withTail(45, 50, UnreadableTail{From: 40, To: 50, Markers: 2, Aborted: 8}), "", nil, nil},
		{"plain lag", part(40, 0, 50), "", nil, nil},
		{"no commit", withTxn(NoOffset, 10, 15, ongoing), "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := GroupSnapshot{Group: "g", Exists: true, State: StateEmpty, Taken: taken, Partitions: []Partition{tc.p}}
			got := Explain(s, Newest).Partitions[0]
			if got.LagCase != tc.want {
				t.Fatalf("lag case %q, want %q: %s", got.LagCase, tc.want, got.LagWhy)
			}
			if tc.want == "" && got.LagWhy != "" {
				t.Fatalf("lag why %q, want none", got.LagWhy)
			}
			if got.LastStable != tc.p.LastStable {
				t.Errorf("last stable %d, want %d", got.LastStable, tc.p.LastStable)
			}
			for _, w := range tc.why {
				if !strings.Contains(got.LagWhy, w) {
					t.Errorf("lag why %q lacks %q", got.LagWhy, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got.LagWhy, w) {
					t.Errorf("lag why %q has %q", got.LagWhy, w)
				}
			}
		})
	}
}
