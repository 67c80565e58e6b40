package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
)

// A group seeded by `reset --execute` a moment ago has one commit per
// partition: its window spans no time, and Burrow's rules would call it
// STOP as soon as a millisecond passes. It is NEW, not an error.
func TestDescribeSeededGroupIsNew(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	seedTopic(t, addr, "orders", 1, 10)
	cli(t, addr, "group", "reset", "seeded", "--topic", "orders", "--to-offset", "3", "--execute")
	time.Sleep(50 * time.Millisecond)
	var d struct {
		Status     string `json:"status"`
		Partitions []struct {
			Status       string `json:"status"`
			StatusReason string `json:"status_reason"`
		} `json:"partitions"`
	}
	cliJSON(t, addr, &d, "group", "describe", "seeded")
	if d.Status != "NEW" || len(d.Partitions) != 1 || d.Partitions[0].Status != "NEW" ||
		!strings.Contains(d.Partitions[0].StatusReason, "one commit so far") {
		t.Fatalf("describe of a group seeded 50ms ago: %+v, want NEW", d)
	}
	out := cli(t, addr, "group", "describe", "seeded")
	if strings.Contains(out, "ERR") || strings.Contains(out, "STOP") {
		t.Fatalf("describe calls a freshly seeded group an error:\n%s", out)
	}
	wantFields(t, tableRow(t, out, "seeded"), "seeded", "Empty", "-", "0", "NEW")
}
