package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/rewindtest"
)

// kcat users' habits work as in kcat: its format verbs and escapes, -o -N
// relative starts, and -J's JSON envelope.
func TestConsumeAsKcat(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	seedTopic(t, addr, "orders", 2, 10)
	out := cli(t, addr, "consume", "orders", "-p", "0", "--from", "-3", "--end", "--format", `%t/%p@%o %s (%S bytes, key %K)\x21\n`)
	if want := "orders/0@7 p0-7 (4 bytes, key -1)!\norders/0@8 p0-8 (4 bytes, key -1)!\norders/0@9 p0-9 (4 bytes, key -1)!\n"; out != want {
		t.Fatalf("consume --from -3 with kcat's verbs:\n%q\nwant\n%q", out, want)
	}
	// -N on every partition, and more than a partition holds is all of it.
	if out := cli(t, addr, "consume", "orders", "--from", "-2", "--end", "--format", `%p:%o\n`); strings.Count(out, "\n") != 4 {
		t.Fatalf("consume --from -2 over 2 partitions: %q", out)
	}
	if out := cli(t, addr, "consume", "orders", "-p", "1", "--from", "-50", "--end", "--format", `%o\n`); strings.Count(out, "\n") != 10 {
		t.Fatalf("consume --from -50 of 10 records: %q", out)
	}
	out = cli(t, addr, "consume", "orders", "-p", "1", "--from", "-1", "--end", "--format", "json")
	var j map[string]any
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("--format json: %v\n%s", err, out)
	}
	for k, want := range map[string]any{"topic": "orders", "partition": 1.0, "offset": 9.0, "tstype": "create", "key": nil, "payload": "p1-9"} {
		if j[k] != want {
			t.Errorf("kcat -J field %s = %#v, want %#v (%s)", k, j[k], want, out)
		}
	}
	if _, ok := j["ts"].(float64); !ok {
		t.Errorf("kcat -J ts: %s", out)
	}
	if _, ok := j["broker"].(float64); !ok {
		t.Errorf("kcat -J broker: %s", out)
	}
	cliFail(t, addr, []string{"consume", "orders", "--format", `%q\n`}, "unsupported verb %q")
}
