package offsetsfmt_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/offsetsfmt"
)

// The golden file holds __consumer_offsets records written by Apache Kafka
// 4.4.0 itself while consumer-protocol (KIP-848) consumers joined, shared,
// committed to and left groups (see captureKafka). Each line is
// "partition offset key-hex value-hex", value "-" for a tombstone.
const goldenFile = "testdata/kafka-4.4.0-consumer-groups.txt"

var captureFlag = flag.Bool("capture-kafka", false, "rewrite "+goldenFile+" from a real Apache Kafka (.ci/kafka.sh)")

func TestMain(m *testing.M) { os.Exit(kafkaref.Main(m)) }

type goldenRecord struct {
	line       int
	key, value []byte // value nil: tombstone
}

func readGolden(t *testing.T) []goldenRecord {
	t.Helper()
	b, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("%s:%d: want 4 fields, got %d", goldenFile, n, len(f))
		}
		r := goldenRecord{line: n}
		if r.key, err = hex.DecodeString(f[2]); err != nil {
			t.Fatalf("%s:%d: key: %v", goldenFile, n, err)
		}
		if f[3] != "-" {
			if r.value, err = hex.DecodeString(f[3]); err != nil {
				t.Fatalf("%s:%d: value: %v", goldenFile, n, err)
			}
		}
		out = append(out, r)
	}
	return out
}

// TestKafkaConsumerGroupRecords decodes every record Kafka 4.4 wrote and
// re-encodes it: the bytes must be Kafka's exactly, keys and values, which
// proves the generated codecs (compact strings, arrays, uuids, tagged
// fields, nullable structs) against the real thing. It also checks that
// the capture covers every consumer-group record type Kafka 4.4 writes and
// the tagged fields in use, and a few decoded values.
func TestKafkaConsumerGroupRecords(t *testing.T) {
	if *captureFlag {
		captureKafka(t)
	}
	recs := readGolden(t)
	kinds := map[offsetsfmt.Kind]int{}
	var sawTombstone, sawHash, sawEpochs, sawRegexMember, sawInstance, sawRack, sawClassic, sawRevoking, sawTimestamp bool
	for _, r := range recs {
		rec, err := offsetsfmt.Decode(r.key, r.value)
		if err != nil {
			t.Fatalf("%s:%d: %v", goldenFile, r.line, err)
		}
		if rec.Kind == offsetsfmt.Unknown {
			t.Fatalf("%s:%d: record type %d decoded as Unknown", goldenFile, r.line, rec.Version)
		}
		if !strings.HasPrefix(rec.Group, "kip848-") {
			t.Fatalf("%s:%d: group %q is none of the capture's", goldenFile, r.line, rec.Group)
		}
		kinds[rec.Kind]++
		if !rec.Kind.IsConsumerGroup() {
			continue
		}
		if got := offsetsfmt.ConsumerGroupKey(rec.Kind, rec.Group, rec.Member, rec.Regex); !bytes.Equal(got, r.key) {
			t.Errorf("%s:%d: key re-encodes as %x, Kafka wrote %x", goldenFile, r.line, got, r.key)
		}
		if r.value == nil {
			if !rec.Tombstone() {
				t.Errorf("%s:%d: nil value is no tombstone", goldenFile, r.line)
			}
			sawTombstone = true
			continue
		}
		if got := rec.Consumer.AppendTo(nil); !bytes.Equal(got, r.value) {
			t.Errorf("%s:%d: %T re-encodes as\n%x, Kafka wrote\n%x", goldenFile, r.line, rec.Consumer, got, r.value)
		}
		switch v := rec.Consumer.(type) {
		case *offsetsfmt.ConsumerGroupMetadataValue:
			if v.Epoch <= 0 {
				t.Errorf("%s:%d: group epoch %d", goldenFile, r.line, v.Epoch)
			}
			sawHash = sawHash || v.MetadataHash != 0
		case *offsetsfmt.ConsumerGroupMemberMetadataValue:
			if v.ClientId == "" || v.RebalanceTimeoutMs <= 0 {
				t.Errorf("%s:%d: member metadata %+v", goldenFile, r.line, v)
			}
			sawRegexMember = sawRegexMember || v.SubscribedTopicRegex != nil
			sawInstance = sawInstance || v.InstanceId != nil
			sawRack = sawRack || v.RackId != nil
			sawClassic = sawClassic || (v.ClassicMemberMetadata != nil && len(v.ClassicMemberMetadata.SupportedProtocols) > 0)
		case *offsetsfmt.ConsumerGroupCurrentMemberAssignmentValue:
			for _, tp := range v.AssignedPartitions {
				sawEpochs = sawEpochs || len(tp.AssignmentEpochs) == len(tp.Partitions) && len(tp.Partitions) > 0
			}
			sawRevoking = sawRevoking || len(v.PartitionsPendingRevocation) > 0
		case *offsetsfmt.ConsumerGroupTargetAssignmentMetadataValue:
			sawTimestamp = sawTimestamp || v.AssignmentTimestamp > 0
		}
	}
	for _, k := range []offsetsfmt.Kind{offsetsfmt.OffsetCommit, offsetsfmt.ConsumerGroupMetadata,
		offsetsfmt.ConsumerGroupMemberMetadata, offsetsfmt.ConsumerGroupTargetAssignmentMetadata,
		offsetsfmt.ConsumerGroupTargetAssignmentMember, offsetsfmt.ConsumerGroupCurrentMemberAssignment,
		offsetsfmt.ConsumerGroupRegularExpression} {
		if kinds[k] == 0 {
			t.Errorf("the capture has no record of kind %d", k)
		}
	}
	for name, saw := range map[string]bool{"MetadataHash (tag 0)": sawHash, "AssignmentEpochs (tag 0)": sawEpochs,
		"SubscribedTopicRegex": sawRegexMember, "InstanceId": sawInstance, "RackId": sawRack,
		"ClassicMemberMetadata (tag 0, nullable struct)": sawClassic, "PartitionsPendingRevocation": sawRevoking,
		"AssignmentTimestamp (tag 0)": sawTimestamp, "a tombstone": sawTombstone} {
		if !saw {
			t.Errorf("the capture never sets %s", name)
		}
	}
	t.Logf("%d records: %v", len(recs), kinds)
}

// captureKafka runs the scenario against Apache Kafka 4.4 and rewrites the
// golden file with what Kafka wrote to __consumer_offsets.
func captureKafka(t *testing.T) {
	k := kafkaref.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	suffix := fmt.Sprint(time.Now().UnixNano())
	t1, t2, t3 := "kip848-a-"+suffix, "kip848-b-"+suffix, "kip848-re-"+suffix
	for topic, parts := range map[string]int32{t1: 4, t2: 2, t3: 1} {
		if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	g := "kip848-g-" + suffix
	gre := "kip848-re-" + suffix
	member := func(group string, opts ...kgo.Opt) *kgo.Client {
		base := []kgo.Opt{kgo.SeedBrokers(k.Addrs()...), kgo.ConsumerGroup(group), kgo.ServerSideBalancer(),
			kgo.Balancers(kgo.RangeBalancer()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit()}
		cl, err := kgo.NewClient(append(base, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	// Produce one record per partition so that every member has something
	// to fetch and commit.
	produce := func() {
		for topic, parts := range map[string]int32{t1: 4, t2: 2, t3: 1} {
			for p := int32(0); p < parts; p++ {
				if err := admCl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// poll until each client has fetched something, then commit it.
	pollCommit := func(cl *kgo.Client) {
		produce()
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		defer pcancel()
		for {
			fs := cl.PollFetches(pctx)
			if pctx.Err() != nil {
				t.Fatalf("no records fetched: %v", pctx.Err())
			}
			if fs.NumRecords() > 0 {
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	a := member(g, kgo.ConsumeTopics(t1, t2), kgo.Rack("rack-a"))
	pollCommit(a)
	// A static member joins: partitions move from a to b, through
	// revocation (PartitionsPendingRevocation on a).
	b := member(g, kgo.ConsumeTopics(t1, t2), kgo.InstanceID("static-b"))
	waitDescribe(t, ctx, adm, g, 2)
	pollCommit(b)
	// A classic-protocol member joins the consumer group (Kafka's
	// migration support): its member metadata carries ClassicMemberMetadata.
	c, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.ConsumerGroup(g), kgo.ConsumeTopics(t1, t2),
		kgo.Balancers(kgo.RangeBalancer()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	waitDescribe(t, ctx, adm, g, 3)
	time.Sleep(2 * time.Second)
	c.Close()
	// A regex subscription in its own group.
	r := member(gre, kgo.ConsumeRegex(), kgo.ConsumeTopics("kip848-re-.*"))
	pollCommit(r)
	r.Close()
	b.Close()
	a.Close()
	// Dynamic members that leave are deleted (tombstones); the static one
	// stays until its session times out.
	waitMembers(t, ctx, adm, gre, 0, 0)
	waitMembers(t, ctx, adm, g, 0, 1)

	// Read every record of the capture's groups.
	ends, err := adm.ListEndOffsets(ctx, offsetsfmt.Topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	rd, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.ConsumeTopics(offsetsfmt.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out bytes.Buffer
	fmt.Fprintf(&out, "# __consumer_offsets records written by Apache Kafka 4.4.0 (.ci/kafka.sh) while KIP-848 consumers\n")
	fmt.Fprintf(&out, "# (franz-go ServerSideBalancer, a static member, a rack, a classic member joining, a regex group)\n")
	fmt.Fprintf(&out, "# used groups; rewritten by: go test ./offsetsfmt -run TestKafkaConsumerGroupRecords -capture-kafka\n")
	fmt.Fprintf(&out, "# partition offset key value(- for a tombstone)\n")
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (left %v)", offsetsfmt.Topic, ctx.Err(), want)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset+1 >= want[rec.Partition] {
				delete(want, rec.Partition)
			}
			k, err := offsetsfmt.DecodeKey(rec.Key)
			if err != nil || !strings.HasSuffix(k.Group, suffix) {
				return
			}
			v := "-"
			if rec.Value != nil {
				v = hex.EncodeToString(rec.Value)
			}
			fmt.Fprintf(&out, "%d %d %x %s\n", rec.Partition, rec.Offset, rec.Key, v)
		})
	}
	if err := os.WriteFile(goldenFile, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitDescribe(t *testing.T, ctx context.Context, adm *kadm.Client, group string, members int) {
	t.Helper()
	waitMembers(t, ctx, adm, group, members, 1<<30)
}

// waitMembers waits until group has between lo and hi members.
func waitMembers(t *testing.T, ctx context.Context, adm *kadm.Client, group string, lo, hi int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		d, err := adm.DescribeConsumerGroups(ctx, group)
		if err == nil {
			if g, ok := d[group]; ok && len(g.Members) >= lo && len(g.Members) <= hi {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("group %s never had %d to %d members", group, lo, hi)
}
