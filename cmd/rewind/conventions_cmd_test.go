package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/rewindtest"
)

// kafka-consumer-groups.sh's and rpk's spellings work: --bootstrap-server,
// --to-current with --export read back by --from-file (with a header),
// ISO 8601 --by-duration, --all-groups, --to-group, --describe --members
// --verbose.
func TestKafkaConsumerGroupsConventions(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	seedTopic(t, addr, "orders", 2, 10)
	commitOffsets(t, addr, "a", "orders", 4, 6)

	out, _, err := cliRun(t, "", "", "--bootstrap-server", addr, "group", "list")
	if err != nil || !strings.Contains(out, "a ") {
		t.Fatalf("--bootstrap-server: %v\n%s", err, out)
	}

	// --to-current --export: the CSV kafka-consumer-groups.sh writes.
	csv := cli(t, addr, "group", "reset", "a", "--all-topics", "--to-current", "--export")
	if csv != "orders,0,4\norders,1,6\n" {
		t.Fatalf("--to-current --export:\n%q", csv)
	}
	file := filepath.Join(t.TempDir(), "offsets.csv")
	if err := os.WriteFile(file, []byte("topic,partition,offset\n"+csv), 0o644); err != nil {
		t.Fatal(err)
	}
	cli(t, addr, "group", "reset", "b", "--from-file", file, "--execute")
	if got := [2]int64{committedOffset(t, addr, "b", "orders", 0), committedOffset(t, addr, "b", "orders", 1)}; got != [2]int64{4, 6} {
		t.Fatalf("--from-file of the export: b committed %v, want [4 6]", got)
	}
	// --to-current seeds the log end where nothing is committed.
	if csv := cli(t, addr, "group", "reset", "fresh", "--topic", "orders", "--to-current", "--export"); csv != "orders,0,10\norders,1,10\n" {
		t.Fatalf("--to-current without commits: %q", csv)
	}

	// ISO 8601 durations, as kafka-consumer-groups.sh --by-duration.
	out = cli(t, addr, "group", "reset", "a", "--topic", "orders:0", "--by-duration", "PT1H")
	wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "4", "0", "0", "10", "replays", "4")
	cliFail(t, addr, []string{"group", "reset", "a", "--topic", "orders", "--by-duration", "P1H"}, "--by-duration", "PT90M")

	// rpk's --to-group copies another group's offsets.
	cli(t, addr, "group", "reset", "c", "--all-topics", "--to-group", "a", "--execute")
	if got := [2]int64{committedOffset(t, addr, "c", "orders", 0), committedOffset(t, addr, "c", "orders", 1)}; got != [2]int64{4, 6} {
		t.Fatalf("--to-group a: c committed %v, want [4 6]", got)
	}

	// --all-groups: every group, the group first on each exported line.
	csv = cli(t, addr, "group", "reset", "--all-groups", "--topic", "orders:1", "--to-earliest", "--export")
	if csv != "a,orders,1,0\nb,orders,1,0\nc,orders,1,0\n" {
		t.Fatalf("--all-groups --export:\n%q", csv)
	}
	out = cli(t, addr, "group", "describe", "--all-groups")
	for _, g := range []string{"a", "b", "c"} {
		wantFields(t, tableRow(t, out, g), g, "Empty")
	}

	// --describe --members --verbose.
	activeMember(t, addr, "busy", "orders", "busy-consumer")
	out = cli(t, addr, "group", "describe", "busy", "--members", "--verbose")
	wantFields(t, tableRow(t, out, "GROUP"), "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT")
	r := tableRow(t, out, "busy")
	if len(r) != 6 || r[3] != "busy-consumer" || r[4] != "2" || r[5] != "orders:0,1" {
		t.Fatalf("--members --verbose row %q:\n%s", r, out)
	}
	out = cli(t, addr, "group", "describe", "a", "--members")
	if !strings.Contains(out, "Consumer group 'a' has no active members.") {
		t.Fatalf("--members of an empty group:\n%s", out)
	}
}

// Mistakes get an answer that says what to type: the nearest flag, the
// argument that is missing, how to create the topic a produce names.
func TestUsageErrorsSayWhatToType(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	cliFail(t, addr, []string{"group", "reset", "g", "--topic", "orders", "--to-earlist"}, "unknown flag: --to-earlist", "did you mean --to-earliest?")
	cliFail(t, addr, []string{"lag", "--gruop", "g"}, "did you mean --group?")
	cliFail(t, addr, []string{"group", "explain", "--group", "g"}, "the group is an argument here", "rewind group explain GROUP")
	cliFail(t, addr, []string{"consume", "--topic", "orders"}, "rewind consume TOPIC")
	cliFail(t, addr, []string{"group", "reset-offsets"}, `unknown command "reset-offsets" for "rewind group"`, "did you mean reset?")
	cliFail(t, addr, []string{"group", "descibe", "g"}, "did you mean describe?")
	cliFail(t, addr, []string{"group", "explain"}, "rewind group explain: missing GROUP", "usage: rewind group explain GROUP")
	cliFail(t, addr, []string{"group", "describe"}, "missing GROUP, or --all-groups")
	cliFail(t, addr, []string{"topic", "describe", "a", "b"}, "takes TOPIC; received 2")
	msg := cliFail(t, addr, []string{"produce", "nope"}, `unknown topic "nope"`, "rewind topic create nope --partitions")
	if strings.Contains(msg, "accepts") {
		t.Errorf("cobra's wording leaked: %q", msg)
	}
}
