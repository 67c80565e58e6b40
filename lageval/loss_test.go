package lageval

import (
	"strings"
	"testing"
	"time"
)

func TestTimeToLoss(t *testing.T) {
	cases := []struct {
		name string
		in   LossInput
		ok   bool
		in2  time.Duration
		by   string
	}{
		{"no lag", LossInput{Lag: 0, Age: time.Hour, Retention: time.Minute}, false, 0, ""},
		{"no retention", LossInput{Lag: 100, Age: 10 * time.Second}, false, 0, ""},
		{"stopped: the first unread record reaches retention", LossInput{Lag: 100, Age: 10 * time.Second, Retention: time.Minute}, true, 50 * time.Second, "retention.ms"},
		// 100 records over 10s: 10/s arrive, 5/s read, the head ages 0.5 s a second.
		{"half the pace", LossInput{Lag: 100, Age: 10 * time.Second, ConsumeRate: 5, Retention: time.Minute}, true, 100 * time.Second, "retention.ms"},
		{"catching up", LossInput{Lag: 100, Age: 10 * time.Second, ConsumeRate: 20, Retention: time.Minute}, false, 0, ""},
		{"already past retention", LossInput{Lag: 100, Age: 2 * time.Minute, ConsumeRate: 50, Retention: time.Minute}, true, 0, "retention.ms"},
		// 10,000 unread bytes of 20,000 allowed, growing by (10-5)*100 B/s.
		{"by size first", LossInput{Lag: 100, Age: 10 * time.Second, ConsumeRate: 5, Retention: time.Hour, RetentionBytes: 20000, BytesPerRecord: 100}, true, 20 * time.Second, "retention.bytes"},
		{"backlog over retention.bytes", LossInput{Lag: 100, Age: 10 * time.Second, RetentionBytes: 5000, BytesPerRecord: 100}, true, 0, "retention.bytes"},
	}
	for _, c := range cases {
		l, ok := TimeToLoss(c.in)
		if ok != c.ok || (ok && (l.By != c.by || (l.In-c.in2).Abs() > time.Millisecond)) {
			t.Errorf("%s: %+v %v, want in %s by %s (%v)", c.name, l, ok, c.in2, c.by, c.ok)
		}
		if ok && (l.Why == "" || !strings.Contains(l.Say(), c.by)) {
			t.Errorf("%s: says %q", c.name, l.Say())
		}
	}
}

func TestCommitRate(t *testing.T) {
	st := PartitionStatus{Start: &Commit{Offset: 100, Time: epoch}, End: &Commit{Offset: 200, Time: epoch.Add(10 * time.Second)}}
	if r := CommitRate(st, epoch.Add(15*time.Second)); r != 10 {
		t.Errorf("moving: %v records/s, want 10", r)
	}
	if r := CommitRate(st, epoch.Add(30*time.Second)); r != 0 {
		t.Errorf("no commit for longer than the window spans: %v, want 0", r)
	}
	if r := CommitRate(PartitionStatus{Start: st.Start, End: st.Start}, epoch); r != 0 {
		t.Errorf("one commit: %v, want 0", r)
	}
}
