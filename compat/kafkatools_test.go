package compat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka's own command-line tools, run as users run them (bin/kafka-*.sh is
// kafka-run-class.sh, which is `java -cp libs/* CLASS`) from the jars that
// .ci/kafka.sh install fetches, one JVM per invocation, each on the same
// topic and group in turn.

const (
	toolsTopic = "compat-kafkatools"
	toolsGroup = "compat-kafkatools-group"
	toolsShare = "compat-kafkatools-share"
	toolsN     = 10
	// bound on one tool invocation
	toolTimeout = 90 * time.Second
)

var toolCaps = []string{"kafka-topics", "kafka-console-producer", "kafka-console-consumer",
	"kafka-consumer-groups --describe", "kafka-consumer-groups --reset-offsets", "kafka-consumer-groups --delete",
	"kafka-share-groups --reset-offsets", "kafka-console-share-consumer", "kafka-share-groups --describe",
	"kafka-configs", "kafka-configs --entity-type groups", "kafka-get-offsets", "kafka-client-metrics", "kafka-features"}

// kafkaVersion is KAFKA_VERSION of .ci/kafka.sh: the jars' directory.
func kafkaVersion() string {
	b, err := os.ReadFile(filepath.Join("..", ".ci", "kafka.sh"))
	if err != nil {
		return "?"
	}
	m := regexp.MustCompile(`(?m)^KAFKA_VERSION=(\S+)$`).FindSubmatch(b)
	if m == nil {
		return "?"
	}
	return string(m[1])
}

func kafkaLibs() string {
	abs, _ := filepath.Abs(filepath.Join("..", ".cache", "kafka", kafkaVersion(), "libs"))
	return abs
}

// kafkaToolsAvailable fetches the jars if needed (.ci/kafka.sh install:
// exit status 3 is a missing Java, Maven or network).
func kafkaToolsAvailable() error {
	p := &proc{name: "bash", args: []string{filepath.Join("..", ".ci", "kafka.sh"), "install"}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := p.run(ctx); err != nil {
		return fmt.Errorf(".ci/kafka.sh install: %w", err)
	}
	return nil
}

func init() {
	registerSection(&section{
		title: "Kafka's command-line tools", order: 20,
		scenario:  toolsScenario,
		available: kafkaToolsAvailable,
		version: func(context.Context) string {
			return "Apache Kafka " + kafkaVersion() + " (kafka-tools and kafka_2.13 jars from Maven, .ci/kafka/pom.xml), " + javaRuntime()
		},
		rows: []sectionRow{{name: "Kafka tools", lang: "Java", order: 10, caps: toolCaps, run: runKafkaTools}},
	})
}

const toolsScenario = "Each tool runs as `bin/kafka-*.sh` runs it (`java -cp libs/* CLASS`, the 4.4.0 class names), one JVM per\n" +
	"invocation, against `--bootstrap-server` Rewind, on topic `" + toolsTopic + "` and group `" + toolsGroup + "` in turn:\n\n" +
	"| column | invocations | checked |\n|---|---|---|\n" +
	"| kafka-topics | `--create --partitions 1 --config retention.ms=86400000`, `--describe` | \"Created topic\"; PartitionCount 1, the config, leader 0 |\n" +
	"| kafka-console-producer | 10 `key:value` lines on stdin with `--reader-property parse.key=true` | franz-go reads the 10 keys and values |\n" +
	"| kafka-console-consumer | `--group --from-beginning --max-messages 10 --formatter-property print.key=true` | the 10 lines; the group committed 10 (franz-go) |\n" +
	"| kafka-consumer-groups --describe | `--describe --group` | the partition's CURRENT-OFFSET 10, LOG-END-OFFSET 10, LAG 0 |\n" +
	"| kafka-consumer-groups --reset-offsets | `--reset-offsets --to-earliest --execute --topic` | NEW-OFFSET 0; franz-go: committed 0 |\n" +
	"| kafka-consumer-groups --delete | `--delete --group` | \"was successful\"; franz-go: the group is gone, no offsets |\n" +
	"| kafka-share-groups --reset-offsets | `--reset-offsets --to-earliest --execute --group " + toolsShare + " --topic` (a share group not created yet) | NEW-OFFSET 0 |\n" +
	"| kafka-console-share-consumer | `--group " + toolsShare + " --max-messages 10 --formatter-property print.key=true` | the 10 lines |\n" +
	"| kafka-share-groups --describe | `--describe --group " + toolsShare + "` | the partition's START-OFFSET 10, LAG 0 |\n" +
	"| kafka-configs | `--alter --add-config retention.ms=3600000,max.message.bytes=2000000`, `--describe` | both listed; franz-go: both stored |\n" +
	"| kafka-configs --entity-type groups | `--alter --add-config share.auto.offset.reset=earliest` and `--describe` of share group `" + toolsShare + "-cfg`, then kafka-console-share-consumer of that group | the config listed; the consumer reads the 10 records produced before it joined |\n" +
	"| kafka-get-offsets | `--topic`, `--topic --time -2` | `" + toolsTopic + ":0:10`, `" + toolsTopic + ":0:0` |\n" +
	"| kafka-client-metrics | `--alter --name --metrics org.apache.kafka.consumer. --interval 1000`, `--describe`, `--list`, then kafka-console-consumer runs; `--delete` | the subscription described and listed; the consumer pushes its telemetry (KIP-714): Rewind's /metrics has its records.lag for the topic's partition 0; gone from `--list` after `--delete` |\n" +
	"| kafka-features | `describe`, `upgrade --feature transaction.version=2` | group.version 1 and transaction.version 2 supported and finalized; \"transaction.version was upgraded to 2.\" |\n"

func javaRuntime() string {
	p := &proc{name: "java", args: []string{"-version"}}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := p.run(ctx); err != nil {
		return "java unknown"
	}
	first, _, _ := strings.Cut(p.stderr.String(), "\n")
	return strings.TrimSpace(first)
}

// tool runs one Kafka tool class and returns its stdout.
func tool(ctx context.Context, stdin, class string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	p := &proc{
		name:  "java",
		args:  append([]string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dlog4j2.level=warn", "-cp", filepath.Join(kafkaLibs(), "*"), class}, args...),
		stdin: stdin,
	}
	err := p.run(ctx)
	if err != nil {
		return p.stdout.String(), fmt.Errorf("%s %s: %w", class[strings.LastIndex(class, ".")+1:], strings.Join(args[2:], " "), err)
	}
	return p.stdout.String(), nil
}

// columns finds, in a kafka-consumer-groups table, the row of topic and
// partition 0 and returns it by header name.
func columns(out, topic string) (map[string]string, error) {
	var header []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "GROUP" {
			header = f
			continue
		}
		if header != nil && len(f) >= 3 && f[1] == topic && f[2] == "0" {
			row := map[string]string{}
			for i, h := range header {
				if i < len(f) {
					row[h] = f[i]
				}
			}
			return row, nil
		}
	}
	return nil, fmt.Errorf("no row for %s partition 0 in: %s", topic, short(oneLine(out), 300))
}

func contains(out, want string) error {
	if !strings.Contains(out, want) {
		return fmt.Errorf("output lacks %q: %s", want, short(oneLine(out), 300))
	}
	return nil
}

func runKafkaTools(t *testing.T, e *env, w *row) {
	bs := []string{"--bootstrap-server", e.addr}
	ok := map[string]bool{}
	step := func(capability string, needs string, fn func(ctx context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*toolTimeout)
		defer cancel()
		var err error
		if needs != "" && !ok[needs] {
			err = errors.New("not run: " + needs + " failed")
		} else {
			began := time.Now()
			err = fn(ctx)
			t.Logf("Kafka tools / %s: %v (%s)", capability, err, time.Since(began).Round(time.Millisecond))
		}
		ok[capability] = err == nil
		w.set(capability, err)
	}
	const topics = "org.apache.kafka.tools.TopicCommand"
	const groups = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"

	step("kafka-topics", "", func(ctx context.Context) error {
		out, err := tool(ctx, "", topics, append(bs, "--create", "--topic", toolsTopic, "--partitions", "1", "--replication-factor", "1", "--config", "retention.ms=86400000")...)
		if err != nil {
			return err
		}
		if err := contains(out, "Created topic "+toolsTopic+"."); err != nil {
			return fmt.Errorf("--create: %w", err)
		}
		out, err = tool(ctx, "", topics, append(bs, "--describe", "--topic", toolsTopic)...)
		if err != nil {
			return err
		}
		for _, want := range []string{"Topic: " + toolsTopic, "PartitionCount: 1", "retention.ms=86400000", "Partition: 0\tLeader: 0"} {
			if err := contains(out, want); err != nil {
				return fmt.Errorf("--describe: %w", err)
			}
		}
		return e.expectTopics(ctx, toolsTopic)
	})

	keys, vals := make([]string, toolsN), values("tools", toolsN, 0)
	var input, printed strings.Builder
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
		fmt.Fprintf(&input, "%s:%s\n", keys[i], vals[i])
	}
	printed.WriteString(input.String())

	step("kafka-console-producer", "kafka-topics", func(ctx context.Context) error {
		if _, err := tool(ctx, input.String(), "org.apache.kafka.tools.ConsoleProducer", append(bs, "--topic", toolsTopic,
			"--reader-property", "parse.key=true", "--reader-property", "key.separator=:")...); err != nil {
			return err
		}
		return e.expectRecords(ctx, toolsTopic, keys, vals)
	})

	step("kafka-console-consumer", "kafka-console-producer", func(ctx context.Context) error {
		out, err := tool(ctx, "", "org.apache.kafka.tools.consumer.ConsoleConsumer", append(bs, "--topic", toolsTopic, "--group", toolsGroup,
			"--from-beginning", "--max-messages", fmt.Sprint(toolsN), "--formatter-property", "print.key=true", "--formatter-property", "key.separator=:")...)
		if err != nil {
			return err
		}
		if err := sameValues(lines(out), lines(printed.String())); err != nil {
			return err
		}
		return e.expectCommitted(ctx, toolsGroup, toolsTopic, toolsN)
	})

	step("kafka-consumer-groups --describe", "kafka-console-consumer", func(ctx context.Context) error {
		out, err := tool(ctx, "", groups, append(bs, "--describe", "--group", toolsGroup)...)
		if err != nil {
			return err
		}
		row, err := columns(out, toolsTopic)
		if err != nil {
			return err
		}
		for col, want := range map[string]string{"CURRENT-OFFSET": "10", "LOG-END-OFFSET": "10", "LAG": "0"} {
			if row[col] != want {
				return fmt.Errorf("%s is %q, want %s: %s", col, row[col], want, short(oneLine(out), 300))
			}
		}
		return nil
	})

	step("kafka-consumer-groups --reset-offsets", "kafka-console-consumer", func(ctx context.Context) error {
		out, err := tool(ctx, "", groups, append(bs, "--reset-offsets", "--to-earliest", "--execute", "--group", toolsGroup, "--topic", toolsTopic)...)
		if err != nil {
			return err
		}
		row, err := columns(out, toolsTopic)
		if err != nil {
			return err
		}
		if row["NEW-OFFSET"] != "0" {
			return fmt.Errorf("NEW-OFFSET is %q, want 0: %s", row["NEW-OFFSET"], short(oneLine(out), 300))
		}
		return e.expectCommitted(ctx, toolsGroup, toolsTopic, 0)
	})

	const shareGroups = "org.apache.kafka.tools.consumer.group.ShareGroupCommand"
	step("kafka-share-groups --reset-offsets", "kafka-console-producer", func(ctx context.Context) error {
		out, err := tool(ctx, "", shareGroups, append(bs, "--reset-offsets", "--to-earliest", "--execute", "--group", toolsShare, "--topic", toolsTopic)...)
		if err != nil {
			return err
		}
		row, err := columns(out, toolsTopic)
		if err != nil {
			return err
		}
		if row["NEW-OFFSET"] != "0" {
			return fmt.Errorf("NEW-OFFSET is %q, want 0: %s", row["NEW-OFFSET"], short(oneLine(out), 300))
		}
		return nil
	})

	step("kafka-console-share-consumer", "kafka-share-groups --reset-offsets", func(ctx context.Context) error {
		out, err := tool(ctx, "", "org.apache.kafka.tools.consumer.ConsoleShareConsumer", append(bs, "--topic", toolsTopic, "--group", toolsShare,
			"--max-messages", fmt.Sprint(toolsN), "--timeout-ms", "60000", "--formatter-property", "print.key=true", "--formatter-property", "key.separator=:")...)
		if err != nil {
			return err
		}
		return sameValues(lines(out), lines(printed.String()))
	})

	step("kafka-share-groups --describe", "kafka-console-share-consumer", func(ctx context.Context) error {
		out, err := tool(ctx, "", shareGroups, append(bs, "--describe", "--group", toolsShare)...)
		if err != nil {
			return err
		}
		row, err := columns(out, toolsTopic)
		if err != nil {
			return err
		}
		for col, want := range map[string]string{"START-OFFSET": fmt.Sprint(toolsN), "LAG": "0"} {
			if row[col] != want {
				return fmt.Errorf("%s is %q, want %s: %s", col, row[col], want, short(oneLine(out), 300))
			}
		}
		return nil
	})

	step("kafka-configs --entity-type groups", "kafka-console-producer", func(ctx context.Context) error {
		const cfgClass = "org.apache.kafka.tools.ConfigCommand"
		group := toolsShare + "-cfg"
		entity := append(bs, "--entity-type", "groups", "--entity-name", group)
		out, err := tool(ctx, "", cfgClass, append(entity, "--alter", "--add-config", "share.auto.offset.reset=earliest")...)
		if err != nil {
			return err
		}
		if err := contains(out, "Completed updating config for group "+group+"."); err != nil {
			return fmt.Errorf("--alter: %w", err)
		}
		out, err = tool(ctx, "", cfgClass, append(entity, "--describe")...)
		if err != nil {
			return err
		}
		if err := contains(out, "share.auto.offset.reset=earliest"); err != nil {
			return fmt.Errorf("--describe: %w", err)
		}
		out, err = tool(ctx, "", "org.apache.kafka.tools.consumer.ConsoleShareConsumer", append(bs, "--topic", toolsTopic, "--group", group,
			"--max-messages", fmt.Sprint(toolsN), "--timeout-ms", "60000", "--formatter-property", "print.key=true", "--formatter-property", "key.separator=:")...)
		if err != nil {
			return err
		}
		return sameValues(lines(out), lines(printed.String()))
	})

	step("kafka-consumer-groups --delete", "kafka-console-consumer", func(ctx context.Context) error {
		out, err := tool(ctx, "", groups, append(bs, "--delete", "--group", toolsGroup)...)
		if err != nil {
			return err
		}
		if err := contains(out, "Deletion of requested consumer groups ('"+toolsGroup+"') was successful."); err != nil {
			return err
		}
		listed, err := e.adm.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("ListGroups with franz-go: %w", err)
		}
		if slices.Contains(listed.Groups(), toolsGroup) {
			return fmt.Errorf("franz-go: %s is still listed after the deletion", toolsGroup)
		}
		offs, err := e.adm.FetchOffsets(ctx, toolsGroup)
		if err != nil {
			return fmt.Errorf("OffsetFetch with franz-go: %w", err)
		}
		if o, found := offs.Lookup(toolsTopic, 0); found && o.At >= 0 {
			return fmt.Errorf("franz-go: the deleted group still has offset %d", o.At)
		}
		return nil
	})

	step("kafka-configs", "kafka-topics", func(ctx context.Context) error {
		entity := append(bs, "--entity-type", "topics", "--entity-name", toolsTopic)
		const cfgClass = "org.apache.kafka.tools.ConfigCommand"
		out, err := tool(ctx, "", cfgClass, append(entity, "--alter", "--add-config", "retention.ms=3600000,max.message.bytes=2000000")...)
		if err != nil {
			return err
		}
		if err := contains(out, "Completed updating config for topic "+toolsTopic+"."); err != nil {
			return fmt.Errorf("--alter: %w", err)
		}
		out, err = tool(ctx, "", cfgClass, append(entity, "--describe")...)
		if err != nil {
			return err
		}
		for _, want := range []string{"retention.ms=3600000", "max.message.bytes=2000000"} {
			if err := contains(out, want); err != nil {
				return fmt.Errorf("--describe: %w", err)
			}
		}
		rc, err := e.adm.DescribeTopicConfigs(ctx, toolsTopic)
		if err != nil {
			return fmt.Errorf("DescribeConfigs with franz-go: %w", err)
		}
		c, err := rc.On(toolsTopic, nil)
		if err != nil {
			return fmt.Errorf("DescribeConfigs with franz-go: %w", err)
		}
		got := map[string]string{}
		for _, kv := range c.Configs {
			got[kv.Key] = kv.MaybeValue()
		}
		if got["retention.ms"] != "3600000" || got["max.message.bytes"] != "2000000" {
			return fmt.Errorf("franz-go: retention.ms=%s max.message.bytes=%s, want 3600000 and 2000000", got["retention.ms"], got["max.message.bytes"])
		}
		return nil
	})

	step("kafka-client-metrics", "kafka-console-producer", clientMetricsStep(e, bs))

	step("kafka-get-offsets", "kafka-console-producer", func(ctx context.Context) error {
		for _, c := range []struct {
			args []string
			want string
		}{{nil, fmt.Sprintf("%s:0:%d", toolsTopic, toolsN)}, {[]string{"--time", "-2"}, toolsTopic + ":0:0"}} {
			out, err := tool(ctx, "", "org.apache.kafka.tools.GetOffsetShell", append(append(bs, "--topic", toolsTopic), c.args...)...)
			if err != nil {
				return err
			}
			if got := strings.TrimSpace(out); got != c.want {
				return fmt.Errorf("%s: got %q, want %q", strings.Join(append([]string{"--topic", toolsTopic}, c.args...), " "), short(got, 200), c.want)
			}
		}
		return nil
	})

	step("kafka-features", "", func(ctx context.Context) error {
		const features = "org.apache.kafka.tools.FeatureCommand"
		out, err := tool(ctx, "", features, append(bs, "describe")...)
		if err != nil {
			return err
		}
		for _, f := range []struct{ name, max, level string }{{"group.version", "1", "1"}, {"transaction.version", "2", "2"}} {
			var line string
			for _, l := range strings.Split(out, "\n") {
				if fs := strings.Fields(l); len(fs) > 1 && fs[0] == "Feature:" && fs[1] == f.name {
					line = l
				}
			}
			if fs := strings.Fields(line); len(fs) < 8 || fs[5] != f.max || fs[7] != f.level {
				return fmt.Errorf("describe: %s is %q, want SupportedMaxVersion %s FinalizedVersionLevel %s", f.name, line, f.max, f.level)
			}
		}
		out, err = tool(ctx, "", features, append(bs, "upgrade", "--feature", "transaction.version=2")...)
		if err != nil {
			return err
		}
		return contains(out, "transaction.version was upgraded to 2.")
	})
}

// clientMetricsStep: kafka-client-metrics.sh subscribes Java consumers to
// their consumer metrics every second; a kafka-console-consumer then
// pushes its telemetry, and Rewind's /metrics shows the lag it reports
// for the topic's partition.
func clientMetricsStep(e *env, bs []string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		const cm = "org.apache.kafka.tools.ClientMetricsCommand"
		name := "compat-consumers"
		out, err := tool(ctx, "", cm, append(bs, "--alter", "--name", name, "--metrics", "org.apache.kafka.consumer.", "--interval", "1000")...)
		if err != nil {
			return err
		}
		if err := contains(out, "Altered client metrics config for "+name+"."); err != nil {
			return fmt.Errorf("--alter: %w", err)
		}
		out, err = tool(ctx, "", cm, append(bs, "--describe", "--name", name)...)
		if err != nil {
			return err
		}
		for _, want := range []string{"interval.ms=1000", "metrics=org.apache.kafka.consumer."} {
			if err := contains(out, want); err != nil {
				return fmt.Errorf("--describe: %w", err)
			}
		}
		if out, err = tool(ctx, "", cm, append(bs, "--list")...); err != nil {
			return err
		}
		if err := contains(out, name); err != nil {
			return fmt.Errorf("--list: %w", err)
		}

		cctx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan error, 1)
		go func() {
			_, err := tool(cctx, "", "org.apache.kafka.tools.consumer.ConsoleConsumer", append(bs, "--topic", toolsTopic,
				"--group", toolsGroup+"-telemetry", "--timeout-ms", "60000")...)
			done <- err
		}()
		want := []string{`client_software_name="apache-kafka-java"`, `metric="org.apache.kafka.consumer.fetch.manager.records.lag"`, `attributes="partition=0,topic=` + toolsTopic + `"`}
		var last string
	poll:
		for {
			select {
			case err := <-done:
				return fmt.Errorf("kafka-console-consumer ended before its telemetry reached /metrics (%v); last scrape: %s", err, short(last, 300))
			case <-ctx.Done():
				return fmt.Errorf("no telemetry of kafka-console-consumer on /metrics: %w; last scrape: %s", ctx.Err(), short(last, 300))
			case <-time.After(500 * time.Millisecond):
			}
			body, err := httpGet(ctx, "http://"+e.http+"/metrics")
			if err != nil {
				return fmt.Errorf("/metrics: %w", err)
			}
			last = ""
			for _, line := range strings.Split(body, "\n") {
				if !strings.HasPrefix(line, "rewind_client_telemetry{") {
					continue
				}
				last = line
				found := true
				for _, w := range want {
					found = found && strings.Contains(line, w)
				}
				if found {
					break poll
				}
			}
		}
		stop()
		<-done

		if _, err := tool(ctx, "", cm, append(bs, "--delete", "--name", name)...); err != nil {
			return err
		}
		if out, err = tool(ctx, "", cm, append(bs, "--list")...); err != nil {
			return err
		}
		if strings.Contains(out, name) {
			return fmt.Errorf("--list after --delete still lists %s", name)
		}
		return nil
	}
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	return string(b), err
}

// expectRecords checks, with franz-go, the keys and values of partition 0
// of topic from offset 0.
func (e *env) expectRecords(ctx context.Context, topic string, keys, vals []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	var gotK, gotV []string
	for len(gotV) < len(vals) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading back with franz-go: %d of %d records: %w", len(gotV), len(vals), err)
		}
		for _, fe := range fs.Errors() {
			return fmt.Errorf("reading back with franz-go: %w", fe.Err)
		}
		for _, r := range fs.Records() {
			gotK, gotV = append(gotK, string(r.Key)), append(gotV, string(r.Value))
		}
	}
	if err := sameValues(gotV, vals); err != nil {
		return fmt.Errorf("franz-go: values: %w", err)
	}
	if err := sameValues(gotK, keys); err != nil {
		return fmt.Errorf("franz-go: keys: %w", err)
	}
	return nil
}
