package assign

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// randomGroup is a group of up to 12 members over up to 6 topics, all
// subscribing to the same topics when homog, with no current assignment.
func randomGroup(r *rand.Rand, homog bool) Group {
	g := Group{Topics: map[TopicID]int32{}}
	var tids []TopicID
	for i := 0; i < 1+r.IntN(6); i++ {
		var t TopicID
		t[0], t[1] = byte(i), byte(r.IntN(256))
		g.Topics[t] = int32(1 + r.IntN(20))
		tids = append(tids, t)
	}
	for i := 0; i < 1+r.IntN(12); i++ {
		m := Member{ID: fmt.Sprintf("member-%02d", i)}
		for _, t := range tids {
			if homog || r.IntN(2) == 0 {
				m.Subscribed = append(m.Subscribed, t)
			}
		}
		g.Members = append(g.Members, m)
	}
	return g
}

// withTargets returns g with each member's Target set to its partitions
// in a.
func withTargets(g Group, a Assignment) Group {
	out := Group{Topics: g.Topics}
	for _, m := range g.Members {
		m.Target = a[m.ID]
		out.Members = append(out.Members, m)
	}
	return out
}

func spread(a Assignment) (lo, hi int) {
	lo = 1 << 30
	for _, ps := range a {
		lo, hi = min(lo, ps.Count()), max(hi, ps.Count())
	}
	return lo, hi
}

// TestAssignorProperties: for random groups, both assignors give every
// partition of a subscribed topic to exactly one subscriber (Validate),
// range gives the same output whatever the member order, and
// feeding an assignment back in as the current target changes nothing
// (Kafka's testAssignmentReuse). Uniform balances a homogeneous group to
// within one partition per member.
func TestAssignorProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		homog := i%2 == 0
		g := randomGroup(r, homog)
		for _, a := range []Assignor{Uniform{}, Range{}} {
			got, err := a.Assign(g)
			if err != nil {
				t.Fatalf("%s: %v", a.Name(), err)
			}
			if err := Validate(g, got); err != nil {
				t.Fatalf("%s case %d: %v", a.Name(), i, err)
			}
			rev := Group{Topics: g.Topics}
			for j := len(g.Members) - 1; j >= 0; j-- {
				rev.Members = append(rev.Members, g.Members[j])
			}
			// Range orders members itself; uniform takes the order given
			// (Kafka's map order), so only range must not depend on it.
			if again, _ := a.Assign(rev); a.Name() == RangeName && fmt.Sprint(again) != fmt.Sprint(got) {
				t.Fatalf("%s case %d: member order changed the assignment", a.Name(), i)
			}
			if err := Validate(rev, mustAssign(t, a, rev)); err != nil {
				t.Fatalf("%s case %d, members reversed: %v", a.Name(), i, err)
			}
			if again, _ := a.Assign(withTargets(g, got)); fmt.Sprint(again) != fmt.Sprint(got) {
				t.Fatalf("%s case %d: not a fixpoint:\n%v\n%v", a.Name(), i, got, again)
			}
			if lo, hi := spread(got); a.Name() == UniformName && homog && hi-lo > 1 {
				t.Fatalf("uniform case %d: homogeneous group unbalanced (%d..%d)", i, lo, hi)
			}
		}
	}
}

// TestUniformStickiness: when a member joins or leaves a balanced
// homogeneous group, uniform moves only what balance needs. Joining, the
// newcomer gets its share and at most one more partition moves per
// existing member (an extra partition passing between them); leaving,
// only the leaver's partitions and at most one per remaining member move.
// Range, which is not sticky, is the control: the same joins move more.
func TestUniformStickiness(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rangeMovedMore := 0
	for i := 0; i < 1000; i++ {
		g := randomGroup(r, true)
		before, _ := Uniform{}.Assign(g)
		joined := withTargets(g, before)
		joined.Members = append(joined.Members, Member{ID: "member-99", Subscribed: g.Members[0].Subscribed})
		after, err := Uniform{}.Assign(joined)
		if err != nil {
			t.Fatal(err)
		}
		moved := movedPartitions(before, after)
		newcomer := after["member-99"].Count()
		if moved > newcomer+len(g.Members) {
			t.Fatalf("case %d: a join moved %d partitions, the newcomer got %d, %d members", i, moved, newcomer, len(g.Members))
		}
		rb, _ := Range{}.Assign(g)
		ra, _ := Range{}.Assign(joined)
		if movedPartitions(rb, ra) > moved {
			rangeMovedMore++
		}
		if len(g.Members) < 2 {
			continue
		}
		left := withTargets(g, before)
		gone := left.Members[0]
		left.Members = left.Members[1:]
		afterLeave, err := Uniform{}.Assign(left)
		if err != nil {
			t.Fatal(err)
		}
		if m := movedPartitions(before, afterLeave) - before[gone.ID].Count(); m > len(left.Members) {
			t.Fatalf("case %d: a leave moved %d partitions beyond the leaver's", i, m)
		}
	}
	if rangeMovedMore == 0 {
		t.Fatal("the range control never moved more than uniform: the stickiness check cannot tell")
	}
}

// movedPartitions counts partitions owned in both assignments by different
// members (partitions of a member absent from after count when taken by
// someone else).
func movedPartitions(before, after Assignment) int {
	owner := map[topicPartition]string{}
	for id, ps := range before {
		for t, parts := range ps {
			for _, p := range parts {
				owner[topicPartition{t, p}] = id
			}
		}
	}
	n := 0
	for id, ps := range after {
		for t, parts := range ps {
			for _, p := range parts {
				if o, ok := owner[topicPartition{t, p}]; ok && o != id {
					n++
				}
			}
		}
	}
	return n
}

func BenchmarkUniform(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	g := Group{Topics: map[TopicID]int32{}}
	var tids []TopicID
	for i := 0; i < 50; i++ {
		var t TopicID
		t[0], t[1] = byte(i), byte(r.IntN(256))
		g.Topics[t] = 20
		tids = append(tids, t)
	}
	for i := 0; i < 100; i++ {
		g.Members = append(g.Members, Member{ID: fmt.Sprintf("m%03d", i), Subscribed: tids})
	}
	first, _ := Uniform{}.Assign(g)
	g = withTargets(g, first)
	g.Members = append(g.Members, Member{ID: "new", Subscribed: tids})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Uniform{}).Assign(g); err != nil {
			b.Fatal(err)
		}
	}
}

func mustAssign(t *testing.T, a Assignor, g Group) Assignment {
	t.Helper()
	out, err := a.Assign(g)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestJavaMemberOrder: the order java.util.HashMap iterates member ids
// (these six, put in this order by Java 17, share no bucket, so the order
// is wholly the table's), and a table that grew past 16 buckets.
func TestJavaMemberOrder(t *testing.T) {
	in := []string{"alQQCvwmnZKJDeOr2dqGgA", "wl8UkALgrTa8WMNQVn2IXw", "hdQ9NCQuGNvwofbNEYqMuA", "mBH39PRDvAZK231YD5x79w", "TNFFZP3_8hHJId_yoMPOMQ", "U_B4G6kGwxid2PQA2injSg"}
	want := []string{"alQQCvwmnZKJDeOr2dqGgA", "U_B4G6kGwxid2PQA2injSg", "hdQ9NCQuGNvwofbNEYqMuA", "mBH39PRDvAZK231YD5x79w", "wl8UkALgrTa8WMNQVn2IXw", "TNFFZP3_8hHJId_yoMPOMQ"}
	if got := JavaMemberOrder(in); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// 13 keys make Java double the table to 32: "a".."l" hash to 97..108
	// (buckets 1..12 either way) and "q" to 113, bucket 17 of 32 (it would
	// share bucket 1 with "a" in a table of 16).
	keys := []string{"q"}
	for c := 'l'; c >= 'a'; c-- {
		keys = append(keys, string(c))
	}
	got := JavaMemberOrder(keys)
	if got[0] != "a" || got[1] != "b" || got[12] != "q" {
		t.Fatalf("13 single letters: %v", got)
	}
}
