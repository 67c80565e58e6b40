package main

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/offsettool/grouptest"
)

// TestGroupCommandsConsumerProtocol: a consumer group (KIP-848) whose new
// member waits for partitions their owner has not revoked, seen through
// every group command against Rewind, kfake and Apache Kafka 4.4 (where it
// can run here): list says consumer with the group epoch, describe shows
// the epochs, each member's current and target assignment and who revokes
// or awaits what, explain says who waits for whom, lag covers the group,
// and reset refuses while the members are active.
func TestGroupCommandsConsumerProtocol(t *testing.T) {
	run := func(t *testing.T, addr string) {
		topic, group := "cg-orders", "cg-svc"
		seedTopic(t, addr, topic, 4, 3)
		commitOffsets(t, addr, "cg-classic", topic, 1, 1, 1, 1)
		r := grouptest.HoldRevocation(t, addr, group, topic, 4)

		out := cli(t, addr, "group", "list")
		wantFields(t, tableRow(t, out, "GROUP"), "GROUP", "STATE", "MEMBERS", "PROTOCOL-TYPE", "PROTOCOL", "TYPE", "EPOCH")
		row := tableRow(t, out, group)
		wantFields(t, row, group, "Reconciling", "2", "consumer", "*", "consumer")
		if row[6] == "-" || row[6] == "0" {
			t.Errorf("group epoch of a consumer group: %q", row)
		}
		wantFields(t, tableRow(t, out, "cg-classic"), "cg-classic", "Empty", "0", "*", "*", "classic", "-")

		out = cli(t, addr, "group", "describe", group)
		wantFields(t, tableRow(t, out, "GROUP"), "GROUP", "STATE", "PROTOCOL", "MEMBERS", "STATUS", "TYPE", "GROUP-EPOCH", "TARGET-EPOCH")
		wantFields(t, tableRow(t, out, group), group, "Reconciling", "*", "2", "*", "consumer")
		wantFields(t, tableRow(t, out, "MEMBER-ID"), "MEMBER-ID", "CLIENT-ID", "HOST", "MEMBER-EPOCH", "ASSIGNMENT", "TARGET", "REVOKING", "AWAITING")
		owner := tableRow(t, out, r.Owner)
		newcomer := tableRow(t, out, r.Newcomer)
		// The owner owns all four and revokes what moves; the newcomer
		// owns nothing yet and awaits it.
		if owner[4] != topic+":0,1,2,3" || owner[6] == "-" || owner[7] != "-" {
			t.Errorf("owner row %q\n%s", owner, out)
		}
		if newcomer[4] != "-" || newcomer[5] == "-" || newcomer[6] != "-" || newcomer[7] != newcomer[5] {
			t.Errorf("newcomer row %q\n%s", newcomer, out)
		}
		var d struct {
			Type            string `json:"type"`
			GroupEpoch      int32  `json:"group_epoch"`
			AssignmentEpoch int32  `json:"assignment_epoch"`
			Partitions      []struct {
				MemberID       string `json:"member_id"`
				TargetMemberID string `json:"target_member_id"`
			} `json:"partitions"`
		}
		cliJSON(t, addr, &d, "group", "describe", group)
		moving := 0
		for _, p := range d.Partitions {
			if p.TargetMemberID == r.Newcomer && p.MemberID == r.Owner {
				moving++
			}
		}
		if d.Type != "consumer" || d.GroupEpoch < d.AssignmentEpoch || d.AssignmentEpoch < 1 || moving != len(r.Moving) {
			t.Errorf("describe json %+v (%d moving)", d, len(r.Moving))
		}

		out = cli(t, addr, "group", "explain", group)
		if !strings.Contains(out, "still owned by member "+r.Owner) || !strings.Contains(out, "The partition is moving") {
			t.Errorf("explain:\n%s", out)
		}

		out = cli(t, addr, "lag", "--group", group)
		wantFields(t, tableRow(t, out, group, topic), group, topic)

		cliFail(t, addr, []string{"group", "reset", group, "--topic", topic, "--to-earliest", "--execute"},
			`consumer group "`+group+`" is Reconciling with 2 active member(s)`, "stop these consumers")
	}
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) { run(t, c.addr) })
	}
	t.Run("kafka", func(t *testing.T) {
		k := kafkaref.Start(t)
		run(t, k.Addrs()[0])
	})
}
