package differential

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// kafkaTool runs one of Kafka's command-line tool classes as its
// bin/kafka-*.sh does (java -cp libs/*), from the jars .ci/kafka.sh
// fetched for the reference Kafka, and returns stdout and stderr.
func kafkaTool(t *testing.T, class string, args ...string) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("..", "..", ".ci", "kafka.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^KAFKA_VERSION=(\S+)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal("no KAFKA_VERSION in .ci/kafka.sh")
	}
	libs, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "kafka", string(m[1]), "libs"))
	if _, err := os.Stat(libs); err != nil {
		t.Skipf("Kafka's jars are not in %s (.ci/kafka.sh install): %v", libs, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", append([]string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dlog4j2.level=warn", "-cp", filepath.Join(libs, "*"), class}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", class, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestKafkaConfigsQuotas: kafka-configs.sh (ConfigCommand) sets, deletes
// and describes client quotas for a user, a user's client, the default
// client-id and an ip on both brokers, and prints the same on each.
func TestKafkaConfigsQuotas(t *testing.T) {
	p := newPair(t)
	user, client := "qtool"+suffix, "qapp"+suffix
	steps := [][]string{
		{"--alter", "--add-config", "producer_byte_rate=1048576,consumer_byte_rate=2097152", "--entity-type", "users", "--entity-name", user},
		{"--alter", "--add-config", "request_percentage=50", "--entity-type", "users", "--entity-name", user, "--entity-type", "clients", "--entity-name", client},
		{"--alter", "--add-config", "connection_creation_rate=10", "--entity-type", "ips", "--entity-name", "127.0.0.3"},
		{"--alter", "--delete-config", "consumer_byte_rate", "--entity-type", "users", "--entity-name", user},
		{"--describe", "--entity-type", "users", "--entity-name", user},
		{"--describe", "--entity-type", "users", "--entity-name", user, "--entity-type", "clients", "--entity-name", client},
		{"--describe", "--entity-type", "ips", "--entity-name", "127.0.0.3"},
	}
	t.Cleanup(func() {
		for _, addr := range []string{p.kafkaAddr} { // each test has its own Rewind
			for _, a := range [][]string{
				{"--alter", "--delete-config", "producer_byte_rate", "--entity-type", "users", "--entity-name", user},
				{"--alter", "--delete-config", "request_percentage", "--entity-type", "users", "--entity-name", user, "--entity-type", "clients", "--entity-name", client},
				{"--alter", "--delete-config", "connection_creation_rate", "--entity-type", "ips", "--entity-name", "127.0.0.3"},
			} {
				kafkaTool(t, "org.apache.kafka.tools.ConfigCommand", append([]string{"--bootstrap-server", addr}, a...)...)
			}
		}
	})
	var got [2][]string
	for i, addr := range []string{p.kafkaAddr, p.rewindAddr} {
		for _, st := range steps {
			if st[0] == "--describe" && i == 0 {
				// Kafka's broker applies the controller's records
				// asynchronously.
				time.Sleep(time.Second)
			}
			out := kafkaTool(t, "org.apache.kafka.tools.ConfigCommand", append([]string{"--bootstrap-server", addr}, st...)...)
			got[i] = append(got[i], strings.TrimSpace(out))
		}
	}
	for j := range steps {
		if got[0][j] != got[1][j] {
			t.Errorf("kafka-configs %s:\nKafka  %q\nRewind %q", strings.Join(steps[j], " "), got[0][j], got[1][j])
		}
	}
	if !strings.Contains(got[1][4], "producer_byte_rate=1048576.0") || strings.Contains(got[1][4], "consumer_byte_rate") {
		t.Errorf("Rewind described %q", got[1][4])
	}
}
