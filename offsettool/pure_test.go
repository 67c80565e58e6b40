package offsettool

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func snap(parts ...Partition) GroupSnapshot {
	return GroupSnapshot{Group: "g", Exists: true, State: StateEmpty, Partitions: parts}
}

func tpart(p int32, committed, start, end int64) Partition {
	return Partition{Topic: "t", Partition: p, Committed: committed, LogStart: start, LogEnd: end}
}

func TestPlanReset(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		s        GroupSnapshot
		target   Target
		resolved map[TopicPartition]int64
		want     []PlanRow
		err      error
		errText  string
	}{
		{name: "to earliest replays", s: snap(tpart(0, 40, 10, 50)), target: Target{Kind: ToEarliest},
			want: []PlanRow{{Topic: "t", Current: 40, New: 10, LogStart: 10, LogEnd: 50, Replays: 30, Effect: "replays 30"}}},
		{name: "to latest skips", s: snap(tpart(0, 40, 10, 50)), target: Target{Kind: ToLatest},
			want: []PlanRow{{Topic: "t", Current: 40, New: 50, LogStart: 10, LogEnd: 50, Skips: 10, Effect: "skips 10"}}},
		{name: "no commit", s: snap(tpart(0, NoOffset, 0, 50)), target: Target{Kind: ToEarliest},
			want: []PlanRow{{Topic: "t", Current: -1, New: 0, LogStart: 0, LogEnd: 50, Effect: "no commit yet; reads 50"}}},
		{name: "to offset in range", s: snap(tpart(0, 40, 10, 50)), target: Target{Kind: ToOffset, Offset: 40},
			want: []PlanRow{{Topic: "t", Current: 40, New: 40, LogStart: 10, LogEnd: 50, Effect: "unchanged"}}},
		{name: "to offset below start refused", s: snap(tpart(0, 40, 10, 50)), target: Target{Kind: ToOffset, Offset: 5},
			err: ErrOutOfRange, errText: "--to-offset 5 is outside the log of t/0 [10, 50]"},
		{name: "to offset above end refused", s: snap(tpart(0, 40, 10, 50), tpart(1, 0, 0, 100)), target: Target{Kind: ToOffset, Offset: 60},
			err: ErrOutOfRange, errText: "t/0 [10, 50]"},
		{name: "shift back clamped like kafka", s: snap(tpart(0, 40, 10, 50)), target: Target{Kind: ShiftBy, Shift: -100},
			want: []PlanRow{{Topic: "t", Current: 40, New: 10, LogStart: 10, LogEnd: 50, Replays: 30, Clamped: true, Effect: "replays 30 (clamped to log start 10)"}}},
		{name: "shift forward", s: snap(tpart(0, 40, 10, 50)), target: Target{Kind: ShiftBy, Shift: 5},
			want: []PlanRow{{Topic: "t", Current: 40, New: 45, LogStart: 10, LogEnd: 50, Skips: 5, Effect: "skips 5"}}},
		{name: "shift without commit refused", s: snap(tpart(0, NoOffset, 10, 50)), target: Target{Kind: ShiftBy, Shift: -1},
			errText: "no committed offset there"},
		{name: "datetime", s: snap(tpart(0, 40, 10, 50)), target: Target{Kind: ToDatetime, Time: at},
			resolved: map[TopicPartition]int64{{"t", 0}: 20},
			want:     []PlanRow{{Topic: "t", Current: 40, New: 20, LogStart: 10, LogEnd: 50, Replays: 20, Effect: "replays 20"}}},
		{name: "datetime after last record", s: snap(tpart(0, 40, 10, 50)), target: Target{Kind: ByDuration, Time: at},
			resolved: map[TopicPartition]int64{{"t", 0}: -1},
			want:     []PlanRow{{Topic: "t", Current: 40, New: 50, LogStart: 10, LogEnd: 50, Skips: 10, Effect: "skips 10"}}},
		{name: "committed at", s: snap(tpart(0, 40, 0, 50), tpart(1, 9, 0, 50), tpart(2, NoOffset, 0, 5)), target: Target{Kind: ToCommittedAt, Time: at},
			resolved: map[TopicPartition]int64{{"t", 0}: 12},
			want: []PlanRow{
				{Topic: "t", Current: 40, New: 12, LogStart: 0, LogEnd: 50, Replays: 28, Effect: "replays 28"},
				{Topic: "t", Partition: 1, Current: 9, New: 9, LogStart: 0, LogEnd: 50, Effect: "no commit at that time; unchanged"},
			}},
		{name: "committed at deleted since", s: snap(tpart(0, 40, 30, 50)), target: Target{Kind: ToCommittedAt, Time: at},
			resolved: map[TopicPartition]int64{{"t", 0}: 12},
			want: []PlanRow{{Topic: "t", Current: 40, New: 30, LogStart: 30, LogEnd: 50, Replays: 10, Clamped: true,
				Effect: "replays 10 (clamped to log start 30 (offsets before it were deleted since 2026-01-02T03:04:05Z))"}}},
		{name: "from file", s: snap(tpart(0, 40, 0, 50), tpart(1, 3, 0, 50)), target: Target{Kind: FromFile, File: map[TopicPartition]int64{{"t", 1}: 7}},
			want: []PlanRow{{Topic: "t", Partition: 1, Current: 3, New: 7, LogStart: 0, LogEnd: 50, Skips: 4, Effect: "skips 4"}}},
		{name: "from file out of range", s: snap(tpart(0, 40, 0, 50)), target: Target{Kind: FromFile, File: map[TopicPartition]int64{{"t", 0}: 70}},
			err: ErrOutOfRange, errText: "--from-file offset 70"},
		{name: "nothing selected", s: snap(), target: Target{Kind: ToEarliest}, errText: "nothing to reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := PlanReset(tc.s, tc.target, tc.resolved)
			if tc.errText != "" || tc.err != nil {
				if err == nil {
					t.Fatalf("no error; plan %+v", plan)
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Errorf("error %v is not %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("error %q lacks %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(plan.Rows, tc.want) {
				t.Fatalf("rows\n got %+v\nwant %+v", plan.Rows, tc.want)
			}
		})
	}
}

func TestParseResetCSV(t *testing.T) {
	got, err := ParseResetCSV(strings.NewReader("orders,0,5\n\n# comment\norders, 1 ,7\ng,other,0,3\n"), "g")
	if err != nil {
		t.Fatal(err)
	}
	want := map[TopicPartition]int64{{"orders", 0}: 5, {"orders", 1}: 7, {"other", 0}: 3}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for in, wantErr := range map[string]string{
		"orders,0\n":                           "line 1",
		"orders,x,1\n":                         "partition \"x\"",
		"orders,0,-3\n":                        "offset \"-3\"",
		"orders,0,1\norders,0,2":               "appears twice",
		"h,orders,0,1\n":                       "no line for group \"g\"",
		"orders,0,1\ntopic,partition,offset\n": "partition \"partition\"",
		"":                                     "no topic,partition,offset lines",
	} {
		if _, err := ParseResetCSV(strings.NewReader(in), "g"); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseResetCSV(%q) = %v, want error containing %q", in, err, wantErr)
		}
	}
}

// A header line is accepted, and what ExportCSV writes reads back.
func TestResetCSVHeaderAndExport(t *testing.T) {
	for _, in := range []string{"topic,partition,offset\norders,0,5\n", "group,topic,partition,new-offset\ng,orders,0,5\nh,orders,0,9\n"} {
		got, err := ParseResetCSV(strings.NewReader(in), "g")
		if err != nil || len(got) != 1 || got[TopicPartition{"orders", 0}] != 5 {
			t.Errorf("ParseResetCSV(%q) = %v, %v", in, got, err)
		}
	}
	plans := []Plan{{Group: "g", Rows: []PlanRow{{Topic: "orders", Partition: 0, New: 5}, {Topic: "orders", Partition: 1, New: 7}}}}
	var one strings.Builder
	if err := ExportCSV(&one, plans); err != nil || one.String() != "orders,0,5\norders,1,7\n" {
		t.Errorf("export of one group: %q, %v", one.String(), err)
	}
	var two strings.Builder
	plans = append(plans, Plan{Group: "h", Rows: []PlanRow{{Topic: "orders", Partition: 0, New: 9}}})
	if err := ExportCSV(&two, plans); err != nil || two.String() != "g,orders,0,5\ng,orders,1,7\nh,orders,0,9\n" {
		t.Errorf("export of two groups: %q, %v", two.String(), err)
	}
	back, err := ParseResetCSV(strings.NewReader(two.String()), "h")
	if err != nil || !reflect.DeepEqual(back, map[TopicPartition]int64{{"orders", 0}: 9}) {
		t.Errorf("export read back for h: %v, %v", back, err)
	}
}

func TestCommittedAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := []HistoryEntry{
		{Time: t0, Kind: EventCommit, Topic: "t", Partition: 0, Offset: 5},
		{Time: t0.Add(time.Minute), Kind: EventGroup, Partition: -1, Generation: 2},
		{Time: t0.Add(2 * time.Minute), Kind: EventCommit, Topic: "t", Partition: 0, Offset: 9},
		{Time: t0.Add(2 * time.Minute), Kind: EventCommit, Topic: "t", Partition: 1, Offset: 3},
		{Time: t0.Add(3 * time.Minute), Kind: EventDelete, Topic: "t", Partition: 1},
		{Time: t0.Add(4 * time.Minute), Kind: EventCommit, Topic: "t", Partition: 0, Offset: 20},
	}
	for _, tc := range []struct {
		at   time.Time
		want map[TopicPartition]int64
	}{
		{t0.Add(-time.Second), map[TopicPartition]int64{}},
		{t0, map[TopicPartition]int64{{"t", 0}: 5}},
		{t0.Add(150 * time.Second), map[TopicPartition]int64{{"t", 0}: 9, {"t", 1}: 3}},
		{t0.Add(200 * time.Second), map[TopicPartition]int64{{"t", 0}: 9}},
		{t0.Add(time.Hour), map[TopicPartition]int64{{"t", 0}: 20}},
	} {
		if got := CommittedAt(h, tc.at); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CommittedAt(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestLagRowsAndTrend(t *testing.T) {
	a := GroupSnapshot{Group: "a", State: StateStable, Members: []Member{{ID: "m"}}, Partitions: []Partition{
		{Topic: "x", Partition: 0, Committed: 5, LogEnd: 10},
		{Topic: "x", Partition: 1, Committed: NoOffset, LogEnd: 10},
		{Topic: "w", Partition: 0, Committed: 12, LogEnd: 10}, // above the end: counts 0
	}}
	b := GroupSnapshot{Group: "b", State: StateEmpty}
	rows := LagRows([]GroupSnapshot{b, a})
	want := []LagRow{
		{Group: "a", Topic: "w", State: StateStable, Members: 1, Partitions: 1, Lag: 0},
		{Group: "a", Topic: "x", State: StateStable, Members: 1, Partitions: 2, Uncommitted: 1, Lag: 5},
		{Group: "b", Topic: "", State: StateEmpty},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows\n got %+v\nwant %+v", rows, want)
	}
	next := append([]LagRow(nil), rows...)
	next[1].Lag = 2
	next = append(next, LagRow{Group: "c", Topic: "z", Lag: 1})
	tr := Trend(rows, next)
	if tr[0].Trend == nil || *tr[0].Trend != 0 || tr[1].Trend == nil || *tr[1].Trend != -3 || tr[3].Trend != nil {
		t.Fatalf("trend = %+v", tr)
	}
}

func TestFormatRecord(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 2, Offset: 7, Key: []byte("k"), Value: []byte("v"),
		Timestamp: time.UnixMilli(1700000000123).UTC(), Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}}
	for format, want := range map[string]string{
		`%v\n`:           "v\n",
		`%s\n`:           "v\n",
		`%t/%p@%o %k=%v`: "t/2@7 k=v",
		// kcat's %T is Unix ms; Rewind's RFC 3339 time is %D.
		`%T %d %D`: "1700000000123 1700000000123 2023-11-14T22:13:20.123Z",
		`%S %K`:    "1 1",
		`%R`:       "\x00\x00\x00\x01",
		// kcat's escapes: \c is c, \xHH hex, \NNN decimal, \0NNN octal.
		`[%h]\t100%% %x\q\\\r`: "[a=1,b=2]\t100% %xq\\\r",
		`\x41\66\0103!`:        "ABC!",
		`trailing %`:           "trailing %",
	} {
		if got := FormatRecord(format, r); got != want {
			t.Errorf("FormatRecord(%q) = %q, want %q", format, got, want)
		}
	}
}

// kcat's null conventions: lengths -1, NULL header values; -J's envelope.
func TestKcatNullsAndJSON(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 1, Offset: 3, Timestamp: time.UnixMilli(5),
		Headers: []kgo.RecordHeader{{Key: "n"}, {Key: "a", Value: []byte("1")}}}
	if got := FormatRecord(`%S %K %h`, r); got != "-1 -1 n=NULL,a=1" {
		t.Errorf("null key and value: %q", got)
	}
	b, _ := json.Marshal(ToKcatJSON(r, 1))
	if want := `{"topic":"t","partition":1,"offset":3,"tstype":"create","ts":5,"broker":1,"headers":["n",null,"a","1"],"key":null,"payload":null}`; string(b) != want {
		t.Errorf("kcat -J envelope:\n%s\nwant\n%s", b, want)
	}
	for _, bad := range []string{"%x", "%", "ok %"} {
		if CheckFormat(bad) == nil {
			t.Errorf("CheckFormat(%q) accepted", bad)
		}
	}
	if err := CheckFormat(`%s %k %t %p %o %T %h %S %K %R %% %v %d %D`); err != nil {
		t.Error(err)
	}
}

func TestParseFrom(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]From{
		"oldest":               {Kind: "oldest"},
		"earliest":             {Kind: "oldest"},
		"newest":               {Kind: "newest"},
		"42":                   {Kind: "offset", Offset: 42},
		"2026-01-02T10:00:00Z": {Kind: "time", Time: now.Add(-2 * time.Hour)},
		"90m":                  {Kind: "time", Time: now.Add(-90 * time.Minute)},
		"-5":                   {Kind: "relative", Offset: -5},
		"s@1767348000000":      {Kind: "time", Time: time.UnixMilli(1767348000000)},
	} {
		got, err := ParseFrom(in, now)
		if err != nil || got.Kind != want.Kind || got.Offset != want.Offset || !got.Time.Equal(want.Time) {
			t.Errorf("ParseFrom(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"s@x", "yesterday", ""} {
		if _, err := ParseFrom(bad, now); err == nil {
			t.Errorf("ParseFrom(%q) succeeded", bad)
		}
	}
}

func TestParseTopicSelection(t *testing.T) {
	s, err := ParseTopicSelection("orders:0,2")
	if err != nil || s.Topic != "orders" || !reflect.DeepEqual(s.Partitions, []int32{0, 2}) {
		t.Fatalf("got %+v, %v", s, err)
	}
	if s, err := ParseTopicSelection("orders"); err != nil || s.Partitions != nil {
		t.Fatalf("got %+v, %v", s, err)
	}
	for _, bad := range []string{"", ":1", "orders:x", "orders:-1"} {
		if _, err := ParseTopicSelection(bad); err == nil {
			t.Errorf("ParseTopicSelection(%q) succeeded", bad)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90m": 90 * time.Minute, "1h30m": 90 * time.Minute,
		"PT3H": 3 * time.Hour, "P1DT2H": 26 * time.Hour, "P2D": 48 * time.Hour, "pt90m": 90 * time.Minute,
		"PT0.5S": 500 * time.Millisecond, "PT1H2M3S": time.Hour + 2*time.Minute + 3*time.Second, "-PT5M": -5 * time.Minute,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "P1H", "3 hours", "P1Y"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

// TestRebalancesStaticReplacement: a static member's restart under a new
// member id is a static replacement whichever record Kafka writes first,
// the new member's or the old one's tombstone, told in the epoch it
// happened in (it bumps none), and the partitions the instance owned are
// no move (the same consumer keeps them); a subscription change and a
// plain leave say so.
func TestRebalancesStaticReplacement(t *testing.T) {
	at := time.Unix(1000, 0)
	tp := TopicPartition{"orders", 0}
	member := func(id, inst string, topics ...string) HistoryEntry {
		return HistoryEntry{Kind: EventMember, Time: at, Member: &MemberRecord{ID: id, InstanceID: inst, ClientID: "c-" + id, Subscribed: topics}}
	}
	gone := func(id string) HistoryEntry {
		return HistoryEntry{Kind: EventMemberGone, Time: at, Member: &MemberRecord{ID: id}}
	}
	epoch := func(e int32) HistoryEntry { return HistoryEntry{Kind: EventGroupEpoch, Time: at, Generation: e} }
	owns := func(id string, e int32, tps ...TopicPartition) HistoryEntry {
		return HistoryEntry{Kind: EventAssignment, Time: at, MemberEpoch: e, Member: &MemberRecord{ID: id, Assigned: tps}}
	}
	for _, newFirst := range []bool{true, false} {
		h := []HistoryEntry{member("a", "i1", "orders"), epoch(1), owns("a", 1, tp),
			{Kind: EventCommit, Time: at, Topic: "orders", Partition: 0, Offset: 7}, owns("a", -2)}
		if newFirst {
			h = append(h, member("b", "i1", "orders"), gone("a"))
		} else {
			h = append(h, gone("a"), member("b", "i1", "orders"))
		}
		h = append(h, epoch(2), owns("b", 2, tp), member("b", "i1", "orders", "audit"), epoch(3), gone("b"), epoch(4))
		rs := Rebalances(h)
		if len(rs) != 4 {
			t.Fatalf("new first %v: %d rebalances: %+v", newFirst, len(rs), rs)
		}
		r := rs[0]
		if len(r.Joined) != 2 || r.Joined[1].ID != "b" || !strings.Contains(r.Joined[1].Reason, "static replacement of member a") ||
			len(r.Left) != 1 || r.Left[0].ID != "a" || r.Left[0].Reason != ReasonStaticReplaced {
			t.Errorf("new first %v: epoch 1 joined %+v left %+v", newFirst, r.Joined, r.Left)
		}
		if len(rs[1].Moved) != 0 || len(rs[1].Joined) != 0 {
			t.Errorf("new first %v: epoch 2 joined %+v, moves %+v", newFirst, rs[1].Joined, rs[1].Moved)
		}
		if c := rs[2].Changed; len(c) != 1 || c[0].Reason != ReasonNewSubscription {
			t.Errorf("epoch 3 changed %+v", c)
		}
		if l := rs[3].Left; len(l) != 1 || l[0].Reason != ReasonLeft {
			t.Errorf("epoch 4 left %+v", l)
		}
	}
}
