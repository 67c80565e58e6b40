package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage"
)

// The table a person reads says what was wrong, what went and where the
// partition continues.
func TestPrintRepair(t *testing.T) {
	var buf bytes.Buffer
	printRepair(&buf, broker.RepairResult{
		Topic: broker.OffsetsTopic, Partition: 4, Online: true, Serving: true,
		RepairReport: storage.RepairReport{
			Dir: "/d/logs/__consumer_offsets-4", Problems: []string{"00.log at byte 106: CRC-32C mismatch"},
			KeptEnd: 1, DroppedFrom: 1, DroppedTo: 3, DroppedBytes: 212, DroppedBatches: 2, DroppedRecords: 2,
			TruncatedFile: "/d/logs/__consumer_offsets-4/00.log", TruncatedAt: 106, NextOffset: 3, Changed: true,
		},
		GroupsLost: []string{"abc"},
	}, false)
	out := buf.String()
	t.Log("\n" + out)
	for _, want := range []string{"__consumer_offsets-4 (online", "damage: 00.log at byte 106", "dropped offsets", "[1, 3)",
		"dropped bytes", "212", "continues at offset", "groups whose commits were dropped", "abc", "serves again"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	buf.Reset()
	printRepair(&buf, broker.RepairResult{Topic: "t", RepairReport: storage.RepairReport{Dir: "/d/logs/t-0"}}, true)
	if !strings.Contains(buf.String(), "no damage found") {
		t.Errorf("undamaged: %q", buf.String())
	}
}
