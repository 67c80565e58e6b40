package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
)

// TestGroupDescribeStatus checks Burrow's verdicts in `group describe`,
// read from __consumer_offsets: a partition whose committed offset went
// back is REWIND, one that stopped committing with lag is STOP, the group
// ERR; a partition without lag is OK; and the table says why.
func TestGroupDescribeStatus(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	seedTopic(t, addr, "orders", 2, 5)
	// Commits more than Burrow's min-distance (1s) apart, so each one
	// counts in the window.
	commitOffsets(t, addr, "replayer", "orders", 2, 5)
	time.Sleep(1100 * time.Millisecond)
	commitOffsets(t, addr, "replayer", "orders", 4)
	time.Sleep(1100 * time.Millisecond)
	commitOffsets(t, addr, "replayer", "orders", 1)

	out := cli(t, addr, "group", "describe", "replayer")
	wantFields(t, tableRow(t, out, "GROUP"), "GROUP", "STATE", "PROTOCOL", "MEMBERS", "STATUS")
	wantFields(t, tableRow(t, out, "replayer"), "replayer", "Empty", "-", "0", "ERR")
	r := tableRow(t, out, "orders", "0")
	if r[len(r)-1] != "REWIND" {
		t.Fatalf("partition 0 status: %q\n%s", r, out)
	}
	if !strings.Contains(out, "orders/0 REWIND: the committed offset went back from 4 to 1") {
		t.Fatalf("no reason line for the rewind:\n%s", out)
	}
	// Partition 1: one commit, at the log end: no lag, OK.
	if r := tableRow(t, out, "orders", "1"); r[len(r)-1] != "OK" {
		t.Fatalf("partition 1 status: %q\n%s", r, out)
	}

	var d struct {
		Status     string `json:"status"`
		Partitions []struct {
			Partition    int32  `json:"partition"`
			Status       string `json:"status"`
			StatusReason string `json:"status_reason"`
		} `json:"partitions"`
	}
	cliJSON(t, addr, &d, "group", "describe", "replayer")
	if d.Status != "ERR" || len(d.Partitions) != 2 || d.Partitions[0].Status != "REWIND" || d.Partitions[0].StatusReason == "" || d.Partitions[1].Status != "OK" {
		t.Fatalf("describe json: %+v", d)
	}
}
