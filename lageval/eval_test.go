package lageval

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

func TestStatusNamesAndCodes(t *testing.T) {
	want := map[Status][2]any{
		NotFound: {"NOTFOUND", 1}, OK: {"OK", 2}, Warn: {"WARN", 3}, Err: {"ERR", 4},
		Stop: {"STOP", 5}, Stall: {"STALL", 6}, Rewind: {"REWIND", 7}, New: {"NEW", 2},
	}
	for s, w := range want {
		if s.String() != w[0] || s.Code() != w[1] {
			t.Errorf("%d: %s/%d, want %v", int(s), s, s.Code(), w)
		}
		b, _ := json.Marshal(s)
		var back Status
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%s: JSON round trip gave %v, %v", s, back, err)
		}
	}
	var s Status
	if s.UnmarshalText([]byte("BAD")) == nil {
		t.Error("unknown name accepted")
	}
}

// commits builds a window from (offset, lag) pairs, one every 10s.
func commits(pairs ...int64) []Commit {
	var w []Commit
	for i := 0; i+1 < len(pairs); i += 2 {
		w = append(w, Commit{Offset: pairs[i], Lag: pairs[i+1], Time: epoch.Add(time.Duration(i/2) * 10 * time.Second)})
	}
	return w
}

func TestEvaluateGroupTakesTheWorstAsBurrowDoes(t *testing.T) {
	now := epoch.Add(95 * time.Second) // a 90s window, last commit 5s ago
	ok := Partition{Topic: "orders", Partition: 0, Commits: commits(100, 0, 200, 5, 300, 0, 400, 3, 500, 0, 600, 2, 700, 0, 800, 1, 900, 0, 1000, 4), CurrentLag: 4}
	warn := Partition{Topic: "orders", Partition: 1, Commits: commits(100, 10, 200, 20, 300, 30, 400, 40, 500, 50, 600, 60, 700, 70, 800, 80, 900, 90, 1000, 100), CurrentLag: 110}
	stall := Partition{Topic: "audit", Partition: 0, Commits: commits(7, 3, 7, 9, 7, 12, 7, 20, 7, 22, 7, 30, 7, 31, 7, 40, 7, 41, 7, 50), CurrentLag: 60}
	rewind := Partition{Topic: "audit", Partition: 1, Commits: commits(500, 5, 600, 8, 100, 600, 200, 550, 300, 500, 400, 450, 500, 400, 600, 390, 700, 380, 800, 370), CurrentLag: 360}
	short := Partition{Topic: "audit", Partition: 2, Commits: commits(1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8, 0, 9, 0)[5:], CurrentLag: 0}

	g := EvaluateGroup("billing", []Partition{ok, warn}, DefaultConfig(), now)
	if g.Status != Warn || g.TotalLag != 114 || g.TotalPartitions != 2 || g.Complete != 1 {
		t.Fatalf("ok+warn: %+v", g)
	}
	if g.MaxLag == nil || g.MaxLag.Partition != 1 || g.MaxLag.CurrentLag != 110 {
		t.Fatalf("max lag: %+v", g.MaxLag)
	}
	g = EvaluateGroup("billing", []Partition{ok, warn, stall, rewind}, DefaultConfig(), now)
	if g.Status != Err {
		t.Fatalf("STALL and REWIND partitions must make the group ERR, got %s", g.Status)
	}
	wantP := []Status{OK, Warn, Stall, Rewind}
	for i, p := range g.Partitions {
		if p.Status != wantP[i] {
			t.Errorf("partition %s/%d: %s (%s), want %s", p.Topic, p.Partition, p.Status, p.Reason, wantP[i])
		}
	}
	g = EvaluateGroup("billing", []Partition{ok, short}, DefaultConfig(), now)
	if g.Status != OK || g.Complete != 0.5 { // the short window has 4 of 10 commits
		t.Errorf("ok+short: %s complete %v, want OK 0.5", g.Status, g.Complete)
	}
	if e := EvaluateGroup("idle", nil, DefaultConfig(), now); e.Status != OK || e.Complete != 0 || e.MaxLag != nil {
		t.Errorf("no partitions: %+v", e)
	}
}

func TestEvaluatePartitionUsesOnlyTheLastIntervals(t *testing.T) {
	// An old rewind that has left the window no longer counts.
	w := commits(500, 5, 100, 400, 200, 350, 300, 300, 400, 250)
	cfg := DefaultConfig()
	cfg.Intervals = 4
	st := EvaluatePartition(Partition{Commits: w, CurrentLag: 250}, cfg, epoch.Add(45*time.Second))
	if st.Status != OK || st.Start.Offset != 100 || st.End.Offset != 400 {
		t.Fatalf("%+v", st)
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder(DefaultConfig())
	tp := TopicPartition{"orders", 0}
	logEnds := map[TopicPartition]int64{tp: 1000}
	logEnd := func(tp TopicPartition) (int64, bool) { le, ok := logEnds[tp]; return le, ok }

	if g := r.Evaluate("nobody", logEnd, epoch); g.Status != NotFound {
		t.Fatalf("unknown group: %s", g.Status)
	}
	// Replayed commits (lag unknown), then estimated from a time index.
	for i := int64(0); i < 5; i++ {
		r.Commit("billing", tp, 100*i, epoch.Add(time.Duration(i)*10*time.Second), -1)
	}
	r.Estimate("billing", func(_ TopicPartition, at time.Time) int64 {
		return 50 + 100*int64(at.Sub(epoch)/(10*time.Second)) // 50 records ahead at each commit
	})
	w := r.Windows("billing")[tp]
	if len(w) != 5 {
		t.Fatalf("window %+v", w)
	}
	for _, c := range w {
		if c.Lag != 50 {
			t.Fatalf("estimated lag %+v", w)
		}
	}
	g := r.Evaluate("billing", logEnd, epoch.Add(41*time.Second))
	if g.Status != Warn || g.Partitions[0].CurrentLag != 600 {
		t.Fatalf("%+v", g)
	}
	// A live commit with its log end: lag known at once.
	r.Commit("billing", tp, 1000, epoch.Add(50*time.Second), 1000)
	if g := r.Evaluate("billing", logEnd, epoch.Add(51*time.Second)); g.Status != OK {
		t.Fatalf("caught up: %+v", g)
	}
	// A deleted topic's partition is skipped; a forgotten group is gone.
	delete(logEnds, tp)
	if g := r.Evaluate("billing", logEnd, epoch.Add(52*time.Second)); len(g.Partitions) != 0 || g.Status != OK {
		t.Fatalf("deleted partition: %+v", g)
	}
	r.Forget("billing", tp)
	if got := r.Groups(); len(got) != 0 {
		t.Fatalf("groups after Forget: %v", got)
	}
	r.Commit("a", tp, 1, epoch, 1)
	r.Commit("b", tp, 1, epoch, 1)
	r.ForgetGroup("a")
	if got := r.Groups(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("groups: %v", got)
	}
}

func TestRecorderConcurrentUse(t *testing.T) {
	r := NewRecorder(DefaultConfig())
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tp := TopicPartition{"t", int32(i)}
			for j := 0; j < 200; j++ {
				r.Commit("g", tp, int64(j), epoch.Add(time.Duration(j)*time.Second), int64(j+5))
				r.Evaluate("g", func(TopicPartition) (int64, bool) { return int64(j + 5), true }, epoch.Add(time.Duration(j)*time.Second))
				r.Estimate("g", func(TopicPartition, time.Time) int64 { return -1 })
			}
		}(i)
	}
	wg.Wait()
	if n := len(r.Windows("g")); n != 4 {
		t.Fatalf("%d windows", n)
	}
}

// A partition with a single commit is NEW, not STOP: it ranks below OK in
// its group, and a group is NEW only when every partition is.
func TestNewWindowIsNotAnError(t *testing.T) {
	cfg := DefaultConfig()
	one := Partition{Topic: "orders", Partition: 0, Commits: []Commit{{Offset: 5, Lag: 3, Time: epoch}}, CurrentLag: 3}
	moving := Partition{Topic: "orders", Partition: 1, Commits: commits(10, 5, 20, 2), CurrentLag: 2}
	stopped := Partition{Topic: "orders", Partition: 2, Commits: commits(10, 5, 20, 5), CurrentLag: 90}
	now := epoch.Add(13 * time.Millisecond)
	if st := EvaluatePartition(one, cfg, now); st.Status != New {
		t.Fatalf("one commit 13ms ago: %s (%s), want NEW", st.Status, st.Reason)
	}
	if g := EvaluateGroup("g", []Partition{one}, cfg, now); g.Status != New {
		t.Errorf("group of NEW partitions: %s, want NEW", g.Status)
	}
	later := epoch.Add(15 * time.Second)
	if g := EvaluateGroup("g", []Partition{one, moving}, cfg, later); g.Status != OK {
		t.Errorf("NEW and OK: %s, want OK", g.Status)
	}
	if g := EvaluateGroup("g", []Partition{one, stopped}, cfg, epoch.Add(time.Minute)); g.Status != Err {
		t.Errorf("NEW and STOP: %s, want ERR", g.Status)
	}
}
