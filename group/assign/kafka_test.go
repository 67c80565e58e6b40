package assign

import (
	"encoding/base64"
	"errors"
	"reflect"
	"testing"
)

// The cases of Kafka 4.4's own assignor tests (group-coordinator's
// OptimizedUniformAssignmentBuilderTest, UniformHeterogeneousAssignmentBuilderTest
// and RangeAssignorTest), with their topic ids, members and expected
// assignments: Rewind's assignors must compute what Kafka's compute.

// kafkaTopic decodes a Kafka Uuid string (base64url, no padding).
func kafkaTopic(t *testing.T, s string) TopicID {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("uuid %q: %v", s, err)
	}
	return TopicID(b)
}

type kafkaTopics struct{ t1, t2, t3, t4 TopicID }

func topicsOfKafkaTests(t *testing.T) kafkaTopics {
	return kafkaTopics{
		kafkaTopic(t, "T1-A4s3VTwiI5CTbEp6POw"), kafkaTopic(t, "T2-B4s3VTwiI5YHbPp6YUe"),
		kafkaTopic(t, "T3-CU8fVTLCz5YMkLoDQsa"), kafkaTopic(t, "T4-Tw9fVTLCz5HbPp6YQsa"),
	}
}

func tps(kv ...any) Partitions {
	ps := Partitions{}
	for i := 0; i < len(kv); i += 2 {
		ps[kv[i].(TopicID)] = kv[i+1].([]int32)
	}
	return ps
}

func ids(ts ...TopicID) []TopicID { return ts }

func p(ns ...int32) []int32 { return ns }

type kafkaCase struct {
	name    string
	topics  map[TopicID]int32
	members []Member
	want    Assignment
}

func checkCase(t *testing.T, c kafkaCase, run func(Group) (Assignment, error)) {
	t.Helper()
	g := Group{Members: c.members, Topics: c.topics}
	got, err := run(g)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	if err := Validate(g, got); err != nil {
		t.Fatalf("%s: invalid: %v", c.name, err)
	}
	for id, ps := range c.want {
		if !reflect.DeepEqual(got[id], ps) {
			t.Errorf("%s: member %s\n got %v\nwant %v", c.name, id, got[id], ps)
		}
	}
}

// The homogeneous cases of Kafka's OptimizedUniformAssignmentBuilderTest,
// with the assignments Kafka 4.4's jar computes for them (KafkaAssign.java):
// 4.4 gives a quota's extra partition to a member that can fill it from
// what it holds, or else to the last members, so several answers differ
// from those that test file expected before that change.
func TestUniformHomogeneousKafkaCases(t *testing.T) {
	k := topicsOfKafkaTests(t)
	all := func(id string, target Partitions, subs ...TopicID) Member {
		return Member{ID: id, Subscribed: subs, Target: target}
	}
	for _, c := range []kafkaCase{
		{"testFirstAssignmentTwoMembersTwoTopicsNoMemberRacks", map[TopicID]int32{k.t1: 3, k.t3: 2},
			[]Member{all("A", nil, k.t1, k.t3), all("B", nil, k.t1, k.t3)},
			Assignment{"A": tps(k.t3, p(0, 1)), "B": tps(k.t1, p(0, 1, 2))}},
		{"testFirstAssignmentNumMembersGreaterThanTotalNumPartitions", map[TopicID]int32{k.t3: 2},
			[]Member{all("A", nil, k.t3), all("B", nil, k.t3), all("C", nil, k.t3)},
			Assignment{"A": tps(), "B": tps(k.t3, p(0)), "C": tps(k.t3, p(1))}},
		{"testReassignmentForTwoMembersTwoTopicsGivenUnbalancedPrevAssignment", map[TopicID]int32{k.t1: 3, k.t2: 3},
			[]Member{all("A", tps(k.t1, p(0, 1), k.t2, p(0, 1)), k.t1, k.t2), all("B", tps(k.t1, p(2), k.t2, p(2)), k.t1, k.t2)},
			Assignment{"A": tps(k.t1, p(0), k.t2, p(0, 1)), "B": tps(k.t1, p(1, 2), k.t2, p(2))}},
		{"testReassignmentWhenPartitionsAreAddedForTwoMembersTwoTopics", map[TopicID]int32{k.t1: 6, k.t2: 5},
			[]Member{all("A", tps(k.t1, p(0, 2), k.t2, p(0)), k.t1, k.t2), all("B", tps(k.t1, p(1), k.t2, p(1, 2)), k.t1, k.t2)},
			Assignment{"A": tps(k.t1, p(0, 2), k.t2, p(0, 3, 4)), "B": tps(k.t1, p(1, 3, 4, 5), k.t2, p(1, 2))}},
		{"testReassignmentWhenOneMemberAddedAfterInitialAssignmentWithTwoMembersTwoTopics", map[TopicID]int32{k.t1: 3, k.t2: 3},
			[]Member{all("A", tps(k.t1, p(0, 2), k.t2, p(0)), k.t1, k.t2), all("B", tps(k.t1, p(1), k.t2, p(1, 2)), k.t1, k.t2), all("C", nil, k.t1, k.t2)},
			Assignment{"A": tps(k.t1, p(0), k.t2, p(0)), "B": tps(k.t2, p(1, 2)), "C": tps(k.t1, p(1, 2))}},
		{"testReassignmentWhenOneMemberRemovedAfterInitialAssignmentWithThreeMembersTwoTopics", map[TopicID]int32{k.t1: 3, k.t2: 3},
			[]Member{all("A", tps(k.t1, p(0), k.t2, p(0)), k.t1, k.t2), all("B", tps(k.t1, p(1), k.t2, p(1)), k.t1, k.t2)},
			Assignment{"A": tps(k.t1, p(0), k.t2, p(0, 2)), "B": tps(k.t1, p(1, 2), k.t2, p(1))}},
		{"testReassignmentWhenOneSubscriptionRemovedAfterInitialAssignmentWithTwoMembersTwoTopics", map[TopicID]int32{k.t1: 2, k.t2: 2},
			[]Member{all("A", tps(k.t1, p(0), k.t2, p(0)), k.t2), all("B", tps(k.t1, p(1), k.t2, p(1)), k.t2)},
			Assignment{"A": tps(k.t2, p(0)), "B": tps(k.t2, p(1))}},
	} {
		checkCase(t, c, uniformHomogeneous)
		checkCase(t, c, Uniform{}.Assign)
	}
}

func TestUniformHeterogeneousKafkaCases(t *testing.T) {
	k := topicsOfKafkaTests(t)
	m := func(id string, target Partitions, subs ...TopicID) Member {
		return Member{ID: id, Subscribed: subs, Target: target}
	}
	het := func(g Group) (Assignment, error) { return newHeterogeneous(g).build(), nil }
	for _, c := range []kafkaCase{
		{"testFirstAssignmentTwoMembersTwoTopics", map[TopicID]int32{k.t1: 3, k.t3: 6},
			[]Member{m("A", nil, k.t1, k.t3), m("B", nil, k.t3)},
			Assignment{"A": tps(k.t1, p(0, 1, 2), k.t3, p(4)), "B": tps(k.t3, p(0, 1, 2, 3, 5))}},
		{"testFirstAssignmentNumMembersGreaterThanTotalNumPartitions", map[TopicID]int32{k.t1: 2, k.t3: 1},
			[]Member{m("A", nil, k.t3), m("B", nil, k.t3), m("C", nil, k.t1)},
			Assignment{"A": tps(k.t3, p(0)), "B": tps(), "C": tps(k.t1, p(0, 1))}},
		{"testReassignmentForTwoMembersThreeTopicsGivenUnbalancedPrevAssignment", map[TopicID]int32{k.t1: 6, k.t2: 4, k.t3: 4},
			[]Member{m("A", tps(k.t1, p(0, 1, 2)), k.t1), m("B", tps(k.t1, p(3), k.t2, p(0)), k.t1, k.t2),
				m("C", tps(k.t1, p(4, 5), k.t2, p(1, 2, 3), k.t3, p(0, 1, 2, 3)), k.t1, k.t2, k.t3)},
			Assignment{"A": tps(k.t1, p(0, 1, 2, 5)), "B": tps(k.t1, p(3), k.t2, p(0, 1, 2, 3)), "C": tps(k.t1, p(4), k.t3, p(0, 1, 2, 3))}},
		{"testReassignmentWhenPartitionsAreAddedForTwoMembers", map[TopicID]int32{k.t1: 6, k.t2: 5, k.t3: 3, k.t4: 3},
			[]Member{m("A", tps(k.t1, p(0, 1, 2, 3), k.t3, p(0, 1)), k.t1, k.t3),
				m("B", tps(k.t2, p(0, 1, 2), k.t4, p(0, 1, 2)), k.t1, k.t2, k.t3, k.t4)},
			Assignment{"A": tps(k.t1, p(0, 1, 2, 3, 4, 5), k.t3, p(0, 1, 2)), "B": tps(k.t2, p(0, 1, 2, 3, 4), k.t4, p(0, 1, 2))}},
		{"testReassignmentWhenOneMemberAddedAndPartitionsAddedTwoMembersTwoTopics", map[TopicID]int32{k.t1: 6, k.t2: 7},
			[]Member{m("A", tps(k.t1, p(0, 2), k.t2, p(0)), k.t1), m("B", tps(k.t1, p(1), k.t2, p(1, 2)), k.t1, k.t2), m("C", nil, k.t1, k.t2)},
			Assignment{"A": tps(k.t1, p(0, 2, 3, 4, 5)), "B": tps(k.t1, p(1), k.t2, p(1, 2, 6)), "C": tps(k.t2, p(0, 3, 4, 5))}},
		{"testReassignmentWhenOneMemberRemovedAfterInitialAssignmentWithThreeMembersThreeTopics", map[TopicID]int32{k.t1: 3, k.t2: 8, k.t3: 3},
			[]Member{m("A", tps(k.t1, p(0, 1, 2), k.t3, p(0, 1)), k.t1, k.t3), m("B", tps(k.t2, p(3, 4, 5, 6)), k.t2)},
			Assignment{"A": tps(k.t1, p(0, 1, 2), k.t3, p(0, 1, 2)), "B": tps(k.t2, p(0, 1, 2, 3, 4, 5, 6, 7))}},
		{"testReassignmentWhenOneSubscriptionRemovedAfterInitialAssignmentWithTwoMembersTwoTopics", map[TopicID]int32{k.t1: 3, k.t2: 5},
			[]Member{m("A", tps(k.t1, p(0, 2), k.t2, p(1, 3)), k.t1), m("B", tps(k.t1, p(1), k.t2, p(0, 2, 4)), k.t1, k.t2)},
			Assignment{"A": tps(k.t1, p(0, 1, 2)), "B": tps(k.t2, p(0, 1, 2, 3, 4))}},
		{"testReassignmentWhenTopicPartitionsRunOutAndMembersHaveNoPartitions", map[TopicID]int32{k.t1: 2, k.t2: 2, k.t3: 2},
			[]Member{m("A", tps(k.t1, p(0, 1), k.t2, p(0, 1), k.t3, p(0, 1)), k.t1, k.t2, k.t3), m("B", nil, k.t1, k.t2, k.t3)},
			Assignment{"A": tps(k.t2, p(0), k.t3, p(0, 1)), "B": tps(k.t1, p(0, 1), k.t2, p(1))}},
		{"testFirstAssignmentWithTwoMembersIncludingOneWithoutSubscriptions", map[TopicID]int32{k.t1: 3},
			[]Member{m("A", nil, k.t1), m("B", nil)},
			Assignment{"A": tps(k.t1, p(0, 1, 2)), "B": tps()}},
	} {
		checkCase(t, c, het)
	}
	// testTwoMembersSubscribedToNonexistentTopics: Kafka's
	// PartitionAssignorException.
	_, err := Uniform{}.Assign(Group{Members: []Member{m("A", nil, k.t3), m("B", nil, k.t2)}, Topics: map[TopicID]int32{k.t1: 3}})
	if !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("nonexistent topics: err %v", err)
	}
	// testTwoMembersNoTopicSubscription: nobody gets anything.
	a, err := Uniform{}.Assign(Group{Members: []Member{m("A", nil), m("B", nil)}, Topics: map[TopicID]int32{k.t1: 3}})
	if err != nil || a["A"].Count() != 0 || a["B"].Count() != 0 {
		t.Fatalf("no subscriptions: %v, %v", a, err)
	}
}

func TestRangeKafkaCases(t *testing.T) {
	k := topicsOfKafkaTests(t)
	m := func(id, instance string, subs ...TopicID) Member {
		return Member{ID: id, InstanceID: instance, Subscribed: subs}
	}
	for _, c := range []kafkaCase{
		{"testFirstAssignmentThreeMembersThreeTopicsDifferentSubscriptions", map[TopicID]int32{k.t1: 3, k.t2: 3, k.t3: 2},
			[]Member{m("A", "", k.t1, k.t2), m("B", "", k.t3), m("C", "", k.t2, k.t3)},
			Assignment{"A": tps(k.t1, p(0, 1, 2), k.t2, p(0, 1)), "B": tps(k.t3, p(0)), "C": tps(k.t2, p(2), k.t3, p(1))}},
		{"testFirstAssignmentNumMembersGreaterThanNumPartitions", map[TopicID]int32{k.t1: 3, k.t3: 2},
			[]Member{m("A", "", k.t1, k.t3), m("B", "", k.t1, k.t3), m("C", "", k.t1, k.t3)},
			Assignment{"A": tps(k.t1, p(0), k.t3, p(0)), "B": tps(k.t1, p(1), k.t3, p(1)), "C": tps(k.t1, p(2))}},
		{"testStaticMembership (first)", map[TopicID]int32{k.t1: 3},
			[]Member{m("A", "instanceA", k.t1), m("B", "instanceB", k.t1)},
			Assignment{"A": tps(k.t1, p(0, 1)), "B": tps(k.t1, p(2))}},
		// The static member instanceA comes back under a new member id and
		// gets the same range.
		{"testStaticMembership (rejoined)", map[TopicID]int32{k.t1: 3},
			[]Member{m("B", "instanceB", k.t1), m("memberA1", "instanceA", k.t1)},
			Assignment{"memberA1": tps(k.t1, p(0, 1)), "B": tps(k.t1, p(2))}},
		// Static members first by instance id, then dynamic ones by id.
		{"testMixedStaticMembership", map[TopicID]int32{k.t1: 5},
			[]Member{m("A", "instanceA", k.t1), m("C", "instanceC", k.t1), m("B", "", k.t1)},
			Assignment{"A": tps(k.t1, p(0, 1)), "C": tps(k.t1, p(2, 3)), "B": tps(k.t1, p(4))}},
	} {
		checkCase(t, c, Range{}.Assign)
	}
}
