package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Java rows: compat/java (kafka-clients and Kafka Streams 4.4.0, built
// with Maven by compat/java/build.sh) runs one JVM per row; every check
// prints its verdict (see compat/java/src/main/java/rewind/compat/Main.java)
// and the suite then checks with franz-go what the broker stored.

// section is a group of rows with their own columns and scenario, rendered
// as its own table in docs/compatibility.md.
type section struct {
	title    string
	scenario string
	order    int
	// available says why the section cannot run here (a missing tool).
	available func() error
	// version describes what was tested.
	version func(ctx context.Context) string
	rows    []sectionRow
}

type sectionRow struct {
	name, lang string
	caps       []string
	order      int
	// run fills the row's cells; available is checked first.
	run func(t *testing.T, e *env, w *row)
}

var sections []*section

func registerSection(s *section) {
	sections = append(sections, s)
	slices.SortFunc(sections, func(a, b *section) int { return a.order - b.order })
}

// javaTimeout bounds one JVM run (one row).
const javaTimeout = 3 * time.Minute

var (
	javaBuildOnce sync.Once
	javaBuildErr  error
)

// javaAvailable builds compat/java once per test binary (a no-op when
// target/ holds this source's build).
func javaAvailable() error {
	javaBuildOnce.Do(func() {
		p := &proc{name: "bash", args: []string{filepath.Join("java", "build.sh")}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := p.run(ctx); err != nil {
			javaBuildErr = fmt.Errorf("compat/java/build.sh: %w", err)
		}
	})
	return javaBuildErr
}

func javaClasspath() string {
	abs, _ := filepath.Abs("java")
	return filepath.Join(abs, "target", "classes") + string(os.PathListSeparator) + filepath.Join(abs, "target", "lib", "*")
}

// jvmFlags keep one short JVM run cheap on a small machine.
var jvmFlags = []string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=error"}

// runJava runs one mode of compat/java and returns the verdict of every
// capability it printed.
func runJava(ctx context.Context, mode, addr, prefix string) (map[string]error, error) {
	p := &proc{name: "java", args: append(append([]string{}, jvmFlags...), "-cp", javaClasspath(), "rewind.compat.Main", mode, addr, prefix)}
	err := p.run(ctx)
	got := map[string]error{}
	for _, l := range lines(p.stdout.String()) {
		f := strings.SplitN(l, "\t", 4)
		if len(f) < 3 || f[0] != "RESULT" {
			continue
		}
		switch {
		case f[2] == "ok":
			got[f[1]] = nil
		case len(f) == 4:
			got[f[1]] = errors.New(f[3])
		default:
			got[f[1]] = errors.New("failed without a reason")
		}
	}
	return got, err
}

// javaRow runs mode and fills w; verify, if set, adds the suite's own
// checks of capabilities the program passed.
func javaRow(mode string, verify func(ctx context.Context, e *env, prefix, capability string) error) func(t *testing.T, e *env, w *row) {
	return func(t *testing.T, e *env, w *row) {
		prefix := "compat-java-" + mode
		ctx, cancel := context.WithTimeout(context.Background(), javaTimeout)
		defer cancel()
		began := time.Now()
		got, err := runJava(ctx, mode, e.addr, prefix)
		t.Logf("%s: JVM ran %s", w.name, time.Since(began).Round(time.Millisecond))
		for _, capability := range w.caps {
			res, ok := got[capability]
			switch {
			case !ok && err != nil:
				res = fmt.Errorf("not reported: the program failed: %w", err)
			case !ok:
				res = errors.New("not reported by the program")
			case res == nil && verify != nil:
				res = verify(ctx, e, prefix, capability)
			}
			w.set(capability, res)
			if res != nil {
				t.Logf("%s / %s: FAIL: %v", w.name, capability, res)
			}
		}
	}
}

func init() {
	registerSection(&section{
		title: "Java (kafka-clients and Kafka Streams)", order: 10,
		scenario: javaScenario, available: javaAvailable, version: javaVersion,
		rows: []sectionRow{
			{name: "kafka-clients producer", lang: "Java", order: 10, caps: []string{"idempotent", "gzip", "snappy", "lz4", "zstd"},
				run: javaRow("producer", verifyProducer)},
			{name: "kafka-clients consumer", lang: "Java", order: 20, caps: []string{"subscribe + commitSync", "resume after restart", "seek", "offsetsForTimes"},
				run: javaRow("consumer", verifyConsumer)},
			{name: "kafka-clients AdminClient", lang: "Java", order: 30, caps: []string{"createTopics", "describeTopics", "listOffsets",
				"listConsumerGroups", "describeConsumerGroups", "listConsumerGroupOffsets", "alterConsumerGroupOffsets",
				"deleteRecords", "describeConfigs", "incrementalAlterConfigs", "describeLogDirs", "alterReplicaLogDirs",
				"electLeaders", "alterPartitionReassignments"},
				run: javaRow("admin", verifyAdmin)},
			{name: "Kafka Streams", lang: "Java", order: 40, caps: []string{"process", "commit", "resume after restart"},
				run: javaRow("streams", verifyStreams)},
			{name: "kafka-clients transactions, Kafka Streams exactly_once_v2", lang: "Java", order: 50,
				caps: []string{"commit", "abort", "read_committed", "exactly_once_v2"},
				run:  javaRow("txn", verifyTxn)},
			{name: "kafka-clients share consumer (KIP-932)", lang: "Java", order: 60,
				caps: []string{"poll + accept", "second consumer", "describeShareGroups"},
				run:  javaRow("share", verifyShare)},
		},
	})
}

const javaScenario = `One JVM per row runs compat/java (Maven: kafka-clients and kafka-streams 4.4.0); every cell passes only on the
values, offsets and states the client read back, and the suite then checks with franz-go what the broker stored.

- **producer**: an idempotent producer (acks=all, enable.idempotence=true) sends 20 records, uncompressed (idempotent)
  and with each codec, and reads them back from offset 0: acknowledged offsets 0 to 19, same values. franz-go: the
  stored batches carry the codec and a producer id.
- **consumer**: a group member reads 10 of 20 records and commits with commitSync (committed() gives 10 and the
  metadata); a new consumer in the group resumes at offset 10, reads 10 to 19, commits 20 (franz-go: OffsetFetch
  gives 20); seek to 15, to the beginning, to the end (position 20); offsetsForTimes gives the exact offsets for a
  record's timestamp, the next one for 1 ms later, offset 0 before the first, null after the last.
- **AdminClient**: createTopics (3 partitions, retention.ms; again gives TopicExistsException), describeTopics (by
  name and by topic id: partitions, leaders, ISR), listOffsets (earliest, latest, forTimestamp, maxTimestamp),
  listConsumerGroups and describeConsumerGroups (the group with its one member, Stable, its assignment),
  listConsumerGroupOffsets (offset 5), alterConsumerGroupOffsets (refused with UnknownMemberIdException while the
  member is in the group, done once it left, state Empty), deleteRecords (low watermark 4, earliest 4, first record
  read is offset 4), describeConfigs (retention.ms from the topic, cleanup.policy a default),
  incrementalAlterConfigs (SET two configs, DELETE one back to its default), describeLogDirs (one directory, the
  written partition's size), alterReplicaLogDirs (to the directory it is in: done; elsewhere
  LogDirNotFoundException), electLeaders (ElectionNotNeededException), alterPartitionReassignments (to the node:
  done; to another InvalidReplicaAssignmentException).
- **Kafka Streams**: a word count (at_least_once, record cache off) through a repartition topic and a changelogged
  store, both created by Streams; the first instance counts two lines (updates apple=1, banana=1, apple=2, cherry=1)
  and commits input offset 2; a second instance with the same application.id and an empty state directory (the
  store is restored from its changelog) counts a third line: exactly apple=3, cherry=2, date=1, nothing
  reprocessed, input offset 3 committed.
- **transactions**: a transactional producer (initTransactions) commits 5 records, aborts 5, commits 5; a
  read_uncommitted consumer reads all 15 (abort), a read_committed one exactly the 10 committed, in order, up to
  the end offset it is given (the last stable offset); franz-go with read_committed reads the same 10. A Kafka
  Streams application with exactly_once_v2 upper-cases 10 records, is closed, and a second instance of it 5 more:
  read_committed, the output holds the 15 upper-cased values once each.
- **share groups**: a KafkaShareConsumer (explicit acknowledgement) gets a warm-up record (a share partition starts
  at the log's end when first fetched), then 10 records: it accepts 8, releases one, which comes back with delivery
  count 2 and is accepted, and rejects one, which never comes back; commitSync reports no error. A second consumer
  of the group gets exactly the 5 records produced next. describeShareGroups: Stable with one member assigned the
  partition, then Empty; franz-go: ListGroups lists the group with type share.
`

func verifyProducer(ctx context.Context, e *env, prefix, capability string) error {
	codec := capability
	if capability == "idempotent" {
		codec = "none"
	}
	topic := prefix + "-" + codec
	if err := e.expectCodec(ctx, topic, codec); err != nil {
		return err
	}
	return e.expectProducerID(ctx, topic, 20)
}

func verifyConsumer(ctx context.Context, e *env, prefix, capability string) error {
	switch capability {
	case "subscribe + commitSync":
		return nil // the resume checks the commit it starts from
	case "resume after restart":
		return e.expectCommitted(ctx, prefix+"-group", prefix, 20)
	}
	return nil
}

func verifyAdmin(ctx context.Context, e *env, prefix, capability string) error {
	switch capability {
	case "alterConsumerGroupOffsets":
		return e.expectCommitted(ctx, prefix+"-group", prefix, 2)
	case "deleteRecords":
		offs, err := e.adm.ListStartOffsets(ctx, prefix)
		if err != nil {
			return fmt.Errorf("ListOffsets with franz-go: %w", err)
		}
		if o, ok := offs.Lookup(prefix, 0); !ok || o.Offset != 4 {
			return fmt.Errorf("franz-go: start offset of %s/0 is %v, want 4", prefix, o.Offset)
		}
	case "incrementalAlterConfigs":
		rc, err := e.adm.DescribeTopicConfigs(ctx, prefix)
		if err != nil {
			return fmt.Errorf("DescribeConfigs with franz-go: %w", err)
		}
		c, err := rc.On(prefix, nil)
		if err != nil {
			return fmt.Errorf("DescribeConfigs with franz-go: %w", err)
		}
		for _, kv := range c.Configs {
			if kv.Key == "max.message.bytes" && kv.MaybeValue() != "2000000" {
				return fmt.Errorf("franz-go: max.message.bytes is %q, want 2000000", kv.MaybeValue())
			}
		}
	}
	return nil
}

func verifyTxn(ctx context.Context, e *env, prefix, capability string) error {
	if capability != "read_committed" {
		return nil
	}
	topic := prefix + "-txn"
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	var got []string
	for len(got) < 10 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("franz-go read_committed: %d of 10 records (%q): %w", len(got), got, err)
		}
		for _, fe := range fs.Errors() {
			return fmt.Errorf("franz-go read_committed: %w", fe.Err)
		}
		for _, r := range fs.Records() {
			got = append(got, string(r.Value))
		}
	}
	for _, v := range got {
		if !strings.HasPrefix(v, "committed") {
			return fmt.Errorf("franz-go read_committed read %q: not committed", v)
		}
	}
	return nil
}

func verifyShare(ctx context.Context, e *env, prefix, capability string) error {
	if capability != "describeShareGroups" {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrListGroupsRequest()
	req.TypesFilter = []string{"share"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("franz-go ListGroups: %w", err)
	}
	for _, g := range resp.Groups {
		if g.Group == prefix+"-share-g" {
			if g.GroupType != "share" || g.GroupState != "Empty" {
				return fmt.Errorf("franz-go ListGroups: %s is %s, %s; want share, Empty", g.Group, g.GroupType, g.GroupState)
			}
			return nil
		}
	}
	return fmt.Errorf("franz-go ListGroups: %s-share-g is not listed as a share group", prefix)
}

func verifyStreams(ctx context.Context, e *env, prefix, capability string) error {
	if capability == "resume after restart" {
		return e.expectCommitted(ctx, prefix+"-app", prefix+"-in", 3)
	}
	return nil
}

// expectProducerID checks, with franz-go, that the n records of partition 0
// were written by an idempotent producer: a producer id, one epoch.
func (e *env) expectProducerID(ctx context.Context, topic string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	seen := 0
	for seen < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("checking the producer id with franz-go: read %d of %d records: %w", seen, n, err)
		}
		for _, fe := range fs.Errors() {
			return fmt.Errorf("checking the producer id with franz-go: %w", fe.Err)
		}
		for _, r := range fs.Records() {
			if r.ProducerID < 0 {
				return fmt.Errorf("stored record at offset %d has no producer id: not written idempotently", r.Offset)
			}
			seen++
		}
	}
	return nil
}

// runSections runs the sections one after the other, beside the other
// clients: each row is a JVM, and the machine is small.
func runSections(t *testing.T, e *env, res *results) {
	t.Run("java", func(t *testing.T) {
		t.Parallel()
		for _, s := range sections {
			runSection(t, e, res, s)
		}
	})
}

func runSection(t *testing.T, e *env, res *results, s *section) {
	version := sync.OnceValue(func() string {
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		return s.version(ctx)
	})
	for _, sr := range s.rows {
		w := res.row(sr.name, sr.lang, sr.caps, 500+s.order*10+sr.order)
		w.section = s.title
		if err := s.available(); err != nil {
			if required() {
				w.failAll("not available: " + err.Error())
				t.Errorf("%s not available: %v (REWIND_COMPAT_REQUIRED=1)", sr.name, err)
				continue
			}
			w.notRun(fmt.Sprintf("not available: %v; %s", err, installHint))
			continue
		}
		w.setVersion(version())
		sr.run(t, e, w)
	}
}

// sectionCaps lists every cell of the sections, for known_failures.txt.
func sectionCaps() []string {
	var out []string
	for _, s := range sections {
		for _, sr := range s.rows {
			for _, c := range sr.caps {
				out = append(out, sr.name+"|"+c)
			}
		}
	}
	return out
}

func javaVersion(ctx context.Context) string {
	p := &proc{name: "java", args: append(append([]string{}, jvmFlags...), "-cp", javaClasspath(), "rewind.compat.Main", "version")}
	if err := p.run(ctx); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(p.stdout.String()) + "; kafka-streams 4.4.0 (compat/java/pom.xml), Maven " + mavenVersion()
}

func mavenVersion() string {
	out, err := exec.Command("mvn", "-B", "-v").Output()
	if err != nil {
		return "unknown"
	}
	// Maven colours its banner even in batch mode.
	first, _, _ := strings.Cut(regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(string(out), ""), "\n")
	return strings.TrimSpace(strings.TrimPrefix(first, "Apache Maven "))
}
