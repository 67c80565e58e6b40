package lageval

import (
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{400 * time.Microsecond, "0s"},
		{850 * time.Millisecond, "850ms"},
		{1234567 * time.Microsecond, "1s"},
		{45 * time.Second, "45s"},
		{59600 * time.Millisecond, "1m"},
		{2*time.Minute + 5*time.Second, "2m5s"},
		{5 * time.Minute, "5m"},
		{5*time.Hour + 3*time.Minute, "5h3m"},
		{5*time.Hour + 3*time.Minute + 20*time.Second, "5h3m"},
		{5 * time.Hour, "5h"},
		{59*time.Minute + 59*time.Second + 600*time.Millisecond, "1h"},
		{23*time.Hour + 59*time.Minute + 40*time.Second, "1d"},
		{52 * time.Hour, "2d4h"},
		{48*time.Hour + 40*time.Minute, "2d1h"},
		{47*time.Hour + 45*time.Minute, "2d"},
	} {
		if got := HumanDuration(c.d); got != c.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestLagAndLagTime(t *testing.T) {
	if Lag(130, 100) != 30 || Lag(100, 130) != 0 || Lag(5, 5) != 0 {
		t.Errorf("Lag: %d %d %d", Lag(130, 100), Lag(100, 130), Lag(5, 5))
	}
	if FirstUnconsumed(10, 40) != 40 || FirstUnconsumed(50, 40) != 50 {
		t.Error("FirstUnconsumed must not point below the log start")
	}
	now := epoch.Add(time.Hour)
	if d, ok := LagTime(0, time.Time{}, now); !ok || d != 0 {
		t.Errorf("no lag: %v %v", d, ok)
	}
	if _, ok := LagTime(3, time.Time{}, now); ok {
		t.Error("lag with an unknown first record must not be dated")
	}
	if d, ok := LagTime(3, epoch, now); !ok || d != time.Hour {
		t.Errorf("lag of an hour-old record: %v %v", d, ok)
	}
	if d, ok := LagTime(3, now.Add(time.Minute), now); !ok || d != 0 {
		t.Errorf("a record dated in the future: %v %v", d, ok)
	}
}

func TestPartitionFromMergesSamplesAndTheWindowsLogEnds(t *testing.T) {
	cfg := DefaultConfig()
	tp := TopicPartition{Topic: "orders", Partition: 3}
	w := []Commit{
		{Offset: 100, Time: epoch, Lag: 20},                      // saw the log end at 120
		{Offset: 110, Time: epoch.Add(time.Minute), Lag: -1},     // lag unknown: no sample
		{Offset: 130, Time: epoch.Add(2 * time.Minute), Lag: 10}, // saw 140
	}
	samples := []LogEnd{{Offset: 125, Time: epoch.Add(70 * time.Second)}}
	now := epoch.Add(3 * time.Minute)
	p := PartitionFrom(tp, w, samples, 150, now, cfg)
	want := []LogEnd{{120, epoch}, {125, epoch.Add(70 * time.Second)}, {140, epoch.Add(2 * time.Minute)}, {150, now}}
	if p.Topic != "orders" || p.Partition != 3 || p.CurrentLag != 20 || len(p.Commits) != 3 {
		t.Fatalf("partition: %+v", p)
	}
	if len(p.LogEnds) != len(want) {
		t.Fatalf("log ends %+v, want %+v", p.LogEnds, want)
	}
	for i := range want {
		if p.LogEnds[i].Offset != want[i].Offset || !p.LogEnds[i].Time.Equal(want[i].Time) {
			t.Fatalf("log ends %+v, want %+v", p.LogEnds, want)
		}
	}
}
