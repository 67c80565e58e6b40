package compat

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rewindhq/rewind/offsettool"
)

// TestConsumerProtocolStaticRestartJava: three Java consumers of
// kafka-clients 4.4 with group.protocol=consumer, each a static member
// (group.instance.id), share six partitions; one restarts (its close
// leaves with member epoch -2, its next incarnation joins with a new
// member id and the same instance id). It gets its two partitions back,
// the other two members are not revoked or given anything, and the
// rebalance timeline that offsettool reads from __consumer_offsets names
// the static replacement and moves no partition after the group settled.
func TestConsumerProtocolStaticRestartJava(t *testing.T) {
	if err := javaAvailable(); err != nil {
		if required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	e := startEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic, group, parts = "kip848-static", "kip848-static-java", 6
	if _, err := e.adm.CreateTopics(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	produce := func(n int) {
		var recs []*kgo.Record
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("v%d", i))})
		}
		if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(60)
	l := newCPLog()
	argv := func(name, instance string) []string {
		return append(append([]string{"java"}, jvmFlags...), "-cp", javaClasspath(), "rewind.compat.Main", "member", e.addr, topic, group, name, instance)
	}
	// holding returns the partitions member owns now (assigned, not yet
	// revoked); revocations counts the partitions it gave up so far.
	holding := func(member string) []int32 {
		l.mu.Lock()
		defer l.mu.Unlock()
		var ps []int32
		for p := range l.open[member] {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		return ps
	}
	spans := func(member string) int {
		l.mu.Lock()
		defer l.mu.Unlock()
		n := 0
		for _, ss := range l.owned {
			for _, s := range ss {
				if s.member == member {
					n++
				}
			}
		}
		return n
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("%s: not within 3 minutes (own: s1 %v, s2 %v, s2b %v, s3 %v; %d records processed)", what,
					holding("s1"), holding("s2"), holding("s2b"), holding("s3"), l.processed())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	members := map[string]*cpMember{}
	for _, n := range []string{"s1", "s2", "s3"} {
		members[n] = startCPMember(t, l, n, argv(n, "inst-"+n)...)
	}
	waitFor("three static members with two partitions each", func() bool {
		return len(holding("s1")) == 2 && len(holding("s2")) == 2 && len(holding("s3")) == 2 && l.processed() >= 60
	})
	before := map[string][]int32{"s1": holding("s1"), "s3": holding("s3")}
	s2 := holding("s2")
	spansBefore := map[string]int{"s1": spans("s1"), "s3": spans("s3")}
	settled := time.Now()

	// s2 restarts: the same instance id under a new process (and member id).
	members["s2"].stop(t)
	members["s2b"] = startCPMember(t, l, "s2b", argv("s2b", "inst-s2")...)
	waitFor("the restarted s2 owning its partitions again", func() bool { return slices.Equal(holding("s2b"), s2) })
	produce(30)
	waitFor("the records produced after the restart", func() bool { return l.processed() >= 90 })
	for _, n := range []string{"s1", "s3"} {
		if got := holding(n); !slices.Equal(got, before[n]) || spans(n) != spansBefore[n] {
			t.Errorf("%s owns %v (%d revoked) after s2's restart, want %v (%d revoked): it was revoked or given partitions", n, got, spans(n), before[n], spansBefore[n])
		}
	}
	for _, m := range members {
		if m.name != "s2" {
			m.stop(t)
		}
	}
	if ov := l.overlaps(); len(ov) > 0 {
		t.Errorf("partitions owned twice at once: %s", strings.Join(ov, "; "))
	}

	// The timeline from __consumer_offsets: the replacement is named, and
	// nothing moved from the settled group until the members left.
	oc, err := offsettool.Dial(ctx, []string{e.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	rs, err := oc.Rebalances(ctx, group, nil)
	if err != nil {
		t.Fatal(err)
	}
	replaced := false
	for _, r := range rs {
		for _, j := range r.Joined {
			if j.InstanceID == "inst-s2" && strings.HasPrefix(j.Reason, "static replacement of member") {
				replaced = true
			}
		}
		for _, mv := range r.Moved {
			// The members' last leaves (s1, s3, s2b) free their partitions;
			// a move to one of the members still there is what must not be.
			if mv.At.After(settled) && mv.To != "" {
				t.Errorf("epoch %d: partition %d moved from %s (%s) to %s (%s) after the group settled", r.Epoch, mv.Partition, mv.From, mv.FromClient, mv.To, mv.ToClient)
			}
		}
	}
	if !replaced {
		t.Errorf("the timeline does not name s2's static replacement: %+v", rs)
	}
}
