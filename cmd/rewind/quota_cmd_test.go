package main

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/rewindtest"
)

// TestQuotaCommand: rewind quota set, delete and list against Rewind:
// what set stores list shows (table and JSON), delete removes one key,
// and Kafka's refusal of a key the entity does not take is the error.
func TestQuotaCommand(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	cli(t, addr, "quota", "set", "--user", "alice", "producer_byte_rate=1048576", "consumer_byte_rate=2097152")
	cli(t, addr, "quota", "set", "--user", "alice", "--client-id", "app", "request_percentage=12.5")
	cli(t, addr, "quota", "set", "--client-default", "producer_byte_rate=4096")
	cli(t, addr, "quota", "delete", "--user", "alice", "consumer_byte_rate")
	out := cli(t, addr, "quota", "list")
	for _, want := range []string{"client-id=<default>  producer_byte_rate  4096", "user=alice           producer_byte_rate  1048576",
		"client-id=app,user=alice  request_percentage", "12.5"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "consumer_byte_rate") {
		t.Errorf("deleted key listed:\n%s", out)
	}
	var rows []struct {
		Entity string             `json:"entity"`
		Values map[string]float64 `json:"values"`
	}
	cliJSON(t, addr, &rows, "quota", "list", "--user", "alice", "--output", "json")
	if len(rows) != 2 || rows[1].Entity != "user=alice" || rows[1].Values["producer_byte_rate"] != 1048576 {
		t.Errorf("list --user alice: %+v", rows)
	}
	cliFail(t, addr, []string{"quota", "set", "--ip", "127.0.0.1", "producer_byte_rate=5"}, "ip=127.0.0.1", "INVALID_REQUEST")
	cliFail(t, addr, []string{"quota", "set", "producer_byte_rate=5"}, "name an entity")
}
