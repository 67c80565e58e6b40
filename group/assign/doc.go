// Package assign holds the server-side partition assignors of Kafka 4's
// consumer group protocol (KIP-848): "uniform" (the default of
// group.consumer.assignors) and "range", computing the same assignments as
// Apache Kafka 4.4's UniformAssignor and RangeAssignor, partition for
// partition. It is pure: no clock, no I/O, no goroutines; the group
// coordinator calls it whenever a group's epoch moves past its target
// assignment's.
//
// # Using it
//
//	a, ok := assign.ByName(member.ServerAssignor) // or assign.Default()
//	target, err := a.Assign(assign.Group{
//	    Members: []assign.Member{{ID: id, InstanceID: inst, Subscribed: topicIDs, Target: current}},
//	    Topics:  map[assign.TopicID]int32{topicID: partitions},
//	})
//
// Every member of the group is in the result (an empty Partitions for
// none); partitions are sorted. Target is each member's partitions in the
// current target assignment (not what it owns now: reconciliation is the
// coordinator's business). ErrUnknownTopic means a subscription names a
// topic missing from Topics. Validate checks any assignment against its
// group.
//
// # The assignors
//
// Uniform balances first and sticks second. When every member subscribes
// to the same topics it takes Kafka's homogeneous builder: quotas of
// total/members, the extra partitions going to members that can fill them
// from what they hold; members keep what fits their quota and the rest
// fills the members below theirs. Otherwise the heterogeneous builder:
// members keep the partitions of topics they still subscribe to, free
// partitions go to each topic's least loaded subscribers, then partitions
// move from the most to the least loaded subscribers of each topic (at
// most 16 passes) until they differ by at most one.
//
// Range cuts each topic into contiguous ranges, one per subscriber in
// order (static members by instance id first, then member ids), so a
// static member restarting gets its range back; it ignores the current
// assignment, as Kafka 4.4's does.
//
// # Matching Kafka exactly
//
// Where Kafka's result depends on the iteration order of Java hash sets
// (the homogeneous builder walks topic ids and partitions that way),
// javaHashOrder and javaIntOrder reproduce java.util.HashSet's order.
// Members are taken in the order given: Kafka's tests give them sorted,
// Kafka's coordinator in java.util.HashMap order, which JavaMemberOrder
// reproduces for group/consumer. Only keys sharing a hash bucket can then
// still be ordered otherwise than on Kafka, where their insertion order
// decides.
//
// TestAssignorsMatchKafka proves the match on 400 groups (homogeneous and
// heterogeneous, first assignments and reassignments with dropped
// subscriptions, static members) whose Kafka 4.4 answers are committed in
// testdata/kafka; `go test ./group/assign -kafka-rewrite` regenerates the
// cases and asks Kafka's own classes again, through KafkaAssign.java on
// the jars of .ci/kafka.sh. kafka_test.go holds the named cases of Kafka's
// assignor test classes, and property_test.go the properties: validity,
// balance, independence of member order, reuse of an assignment as its
// own input, and stickiness when a member joins or leaves.
//
// Racks are carried in Member but unused: Kafka 4.4's uniform and range
// assignors are not rack-aware.
package assign
