package main

import (
	"strings"
	"testing"
	"time"
)

func TestTopicCommands(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			out := cli(t, c.addr, "topic", "create", "orders", "--partitions", "3", "-c", "retention.ms=86400000")
			if !strings.Contains(out, "created topic orders with 3 partition(s)") {
				t.Fatalf("create: %q", out)
			}
			cliFail(t, c.addr, []string{"topic", "create", "orders"}, `topic "orders" already exists`, "rewind topic describe orders")
			cliFail(t, c.addr, []string{"topic", "create", "bad", "-c", "retention.ms"}, `--config "retention.ms"`, "name=value")

			wantFields(t, tableRow(t, cli(t, c.addr, "topic", "list"), "orders"), "orders", "3", "1")
			var list []map[string]any
			cliJSON(t, c.addr, &list, "topic", "list")
			if len(list) != 1 || list[0]["name"] != "orders" || list[0]["partitions"] != 3.0 || list[0]["internal"] != false {
				t.Fatalf("list json: %v", list)
			}

			if _, errOut, err := cliRun(t, c.addr, "a\nb\n", "produce", "orders", "-p", "1"); err != nil {
				t.Fatalf("produce: %v %s", err, errOut)
			}
			out = cli(t, c.addr, "topic", "describe", "orders")
			wantFields(t, tableRow(t, out, "1", "0"), "1", "0", "[0]", "0", "2", "2")
			wantFields(t, tableRow(t, out, "0", "0"), "0", "0", "[0]", "0", "0", "0")
			wantFields(t, tableRow(t, out, "retention.ms"), "retention.ms", "86400000")
			var d struct {
				Name       string `json:"name"`
				Partitions int    `json:"partitions"`
				Detail     []struct {
					Partition int32 `json:"partition"`
					LogStart  int64 `json:"log_start"`
					LogEnd    int64 `json:"log_end"`
					Records   int64 `json:"records"`
				} `json:"partition_detail"`
				Configs []struct{ Name, Value string } `json:"configs"`
			}
			cliJSON(t, c.addr, &d, "topic", "describe", "orders")
			if d.Name != "orders" || d.Partitions != 3 || len(d.Detail) != 3 || d.Detail[1].LogEnd != 2 || d.Detail[1].Records != 2 {
				t.Fatalf("describe json: %+v", d)
			}

			out = cli(t, c.addr, "topic", "add-partitions", "orders", "--num", "2")
			if !strings.Contains(out, "added 2 partition(s) to orders: it now has 5") {
				t.Fatalf("add-partitions: %q", out)
			}
			waitFor(t, func() bool {
				return strings.Contains(cli(t, c.addr, "topic", "list"), "orders  5")
			})
			cliFail(t, c.addr, []string{"topic", "add-partitions", "orders"}, "--num must be at least 1")
			cliFail(t, c.addr, []string{"topic", "add-partitions", "nope", "--num", "1"}, `unknown topic "nope"`, "rewind topic list")

			cliFail(t, c.addr, []string{"topic", "describe", "nope"}, `unknown topic "nope"`)
			cliFail(t, c.addr, []string{"topic", "delete", "nope"}, `unknown topic "nope"`)
			if out := cli(t, c.addr, "topic", "delete", "orders"); !strings.Contains(out, "deleted topic orders") {
				t.Fatalf("delete: %q", out)
			}
			waitFor(t, func() bool { return !strings.Contains(cli(t, c.addr, "topic", "list"), "orders") })
		})
	}
}

// waitFor polls cond until it holds or 10 s pass (metadata changes reach
// every broker asynchronously in Kafka).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestUnreachableBroker(t *testing.T) {
	start := time.Now()
	for _, args := range [][]string{{"group", "list"}, {"topic", "list"}, {"lag"}} {
		cliFail(t, "127.0.0.1:1", args, "no broker reachable at 127.0.0.1:1", "--brokers", "REWIND_BROKERS")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("three unreachable commands took %v", d)
	}
	cliFail(t, "127.0.0.1:1", []string{"topic", "list", "--output", "yaml"}, `--output "yaml"`, "table or json")
}

func TestBrokersFromEnv(t *testing.T) {
	c := clusters(t)[0]
	seedTopic(t, c.addr, "envtopic", 1, 0)
	t.Setenv("REWIND_BROKERS", c.addr)
	out := cli(t, "", "topic", "list")
	if !strings.Contains(out, "envtopic") {
		t.Fatalf("topic list with REWIND_BROKERS: %q", out)
	}
}
