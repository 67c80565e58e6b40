package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRunKafka runs the latency, commit and start-up scenarios with
// Apache Kafka started by .ci/kafka.sh: every broker figure has a Kafka
// column and a ratio, and the rows where durability matters (latency,
// commits) also the like-for-like (log.flush.interval.messages=1) column;
// start-to-ready restarts Kafka's JVM on its data. Without Java 17 or Maven it
// skips, saying why, unless REWIND_KAFKA_REQUIRED=1.
func TestRunKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache Kafka")
	}
	cfg := SmokeConfig()
	cfg.DataDir = t.TempDir()
	cfg.Kfake = "off"
	cfg.Scenarios = []string{"latency", "commits", "startup"}
	cfg.StartPartition = 10
	cfg.Duration, cfg.Warmup = time.Second, 250*time.Millisecond
	cfg.LatencyRate = 1e6
	cfg.ConsumeBytes = 8 << 20 // of the Kafka warm-up
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if why, skipped := strings.CutPrefix(rep.Kafka, "not measured: "); skipped {
		if os.Getenv("REWIND_KAFKA_REQUIRED") == "1" {
			t.Fatalf("REWIND_KAFKA_REQUIRED=1 and Kafka was not measured: %s", why)
		}
		t.Skip("Kafka not measured: " + why)
	}
	brokerRows := 0
	for _, f := range rep.Figures {
		if strings.HasPrefix(f.Name, "machine: ") {
			continue
		}
		brokerRows++
		if f.Kafka == nil || f.KafkaRatio == nil || len(f.KafkaRuns) != cfg.Rounds {
			t.Errorf("%s: Kafka %v ratio %v runs %v", f.Name, f.Kafka, f.KafkaRatio, f.KafkaRuns)
		}
		if strings.HasPrefix(f.Name, "start-to-ready") {
			if f.KafkaSync != nil {
				t.Errorf("%s: a like-for-like run of a start-up", f.Name)
			}
			continue
		}
		if f.KafkaSync == nil || f.KafkaSyncRatio == nil || len(f.KafkaSyncRuns) != cfg.Rounds {
			t.Errorf("%s: Kafka flush=1 %v ratio %v runs %v", f.Name, f.KafkaSync, f.KafkaSyncRatio, f.KafkaSyncRuns)
		}
		if strings.Contains(f.Name, "commits, ") && !strings.Contains(f.Name, "p99") && f.Kafka != nil && *f.Kafka <= 0 {
			t.Errorf("%s: Kafka made no commit", f.Name)
		}
	}
	// Latency p50, p99, p999; 4 and 64 committers, rate, p99, the
	// machine's CPU per commit and its busy cores; start-up.
	if brokerRows != 12 {
		t.Errorf("%d broker figures, want 12: %+v", brokerRows, rep.Figures)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, want := range []string{"Kafka: Apache Kafka 4.", "heap -Xms", "x Kafka", "Kafka flush=1"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	rep.WriteJSON(&js)
	var back struct {
		Kafka   string `json:"kafka"`
		Figures []struct {
			Kafka      *float64 `json:"kafka"`
			KafkaRatio *float64 `json:"kafka_ratio"`
			KafkaSync  *float64 `json:"kafka_sync"`
		} `json:"figures"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Kafka != rep.Kafka || back.Figures[0].Kafka == nil || back.Figures[0].KafkaRatio == nil || back.Figures[0].KafkaSync == nil {
		t.Errorf("JSON lacks the Kafka figures: %s", js.String())
	}
	// The cluster is stopped and its directory gone.
	if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
		t.Errorf("left in the data dir: %v", entries)
	}
}

// TestKafkaOff: --kafka off skips Kafka and says so.
func TestKafkaOff(t *testing.T) {
	k, err := startKafka(context.Background(), &Config{Kafka: "off"}, t.TempDir(), func(string, ...any) {})
	if err != nil || k.ok() || k.why != "--kafka off" {
		t.Fatalf("%+v %v", k, err)
	}
	t.Chdir(t.TempDir())
	k, err = startKafka(context.Background(), &Config{}, t.TempDir(), func(string, ...any) {})
	if err != nil || k.ok() || !strings.Contains(k.why, "no .ci/kafka.sh") {
		t.Fatalf("outside a source tree: %+v %v", k, err)
	}
}
