package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// firstFetched runs a franz-go member of group on topic, starting at
// reset where the group has no valid commit, and returns the first record
// it receives: what a restarted consumer really fetches first.
func firstFetched(t *testing.T, addr, group, topic string, reset kgo.Offset) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(reset), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		var first *kgo.Record
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if first == nil {
				first = r
			}
		})
		if first != nil {
			return first
		}
	}
	t.Fatalf("%s never fetched a record of %s", group, topic)
	return nil
}

func stamp(ts time.Time) string { return ts.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// TestGroupExplainNextFetch: explain states, per partition, the offset a
// restarted consumer fetches first and the timestamp of the record there,
// for a committed offset, no commit under each auto.offset.reset, and
// committed offsets below the log start and above the log end; a real
// franz-go member of the group then fetches exactly that record first.
func TestGroupExplainNextFetch(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			adm := adminFor(t, c.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if r, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil || r.Err != nil {
				t.Fatalf("create: %v %v", err, r.Err)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			base := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
			at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
			for i := 0; i < 10; i++ {
				if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte(fmt.Sprint(i)), Timestamp: at(i)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			commitOffsets(t, c.addr, "done", "orders", 6)
			commitOffsets(t, c.addr, "ahead", "orders", 50)
			commitOffsets(t, c.addr, "behind", "orders", 1)
			if dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"orders": {0: {Topic: "orders", At: 4}}}); err != nil || dr.Error() != nil {
				t.Fatalf("delete records: %v %v", err, dr.Error())
			}

			// by_duration:D whose now minus D falls between records 6 and 7.
			dur := fmt.Sprintf("by_duration:%ds", int(time.Since(at(6).Add(30*time.Second)).Seconds()))
			for _, cs := range []struct {
				args []string
				want string
			}{
				{[]string{"fresh", "--topic", "orders", "--initial", dur}, "orders/0: next fetch starts at offset 7 (record at " + stamp(at(7)) + ")."},
				{[]string{"fresh", "--topic", "orders", "--initial", "by_duration:PT1H"}, "orders/0: next fetch starts at offset 10, the log end: it returns the next record produced."},
				{[]string{"behind", "--initial", dur}, "orders/0: first fetch, at committed offset 1, fails with OFFSET_OUT_OF_RANGE (log 4-10); the reset to " + dur + " makes the next fetch start at offset 7 (record at " + stamp(at(7)) + ")."},
				{[]string{"done"}, "orders/0: next fetch starts at offset 6 (record at " + stamp(at(6)) + ")."},
				{[]string{"done", "--initial", "none"}, "orders/0: next fetch starts at offset 6 (record at " + stamp(at(6)) + ")."},
				{[]string{"fresh", "--topic", "orders"}, "orders/0: next fetch starts at offset 10, the log end: it returns the next record produced."},
				{[]string{"fresh", "--topic", "orders", "--initial", "earliest"}, "orders/0: next fetch starts at offset 4 (record at " + stamp(at(4)) + ")."},
				{[]string{"fresh", "--topic", "orders", "--initial", "none"}, "orders/0: no fetch: no committed offset, and auto.offset.reset=none makes the consumer fail (NoOffsetForPartitionException)."},
				{[]string{"behind"}, "orders/0: first fetch, at committed offset 1, fails with OFFSET_OUT_OF_RANGE (log 4-10); the reset to newest makes the next fetch start at offset 10, the log end: it returns the next record produced."},
				{[]string{"behind", "--initial", "oldest"}, "orders/0: first fetch, at committed offset 1, fails with OFFSET_OUT_OF_RANGE (log 4-10); the reset to oldest makes the next fetch start at offset 4 (record at " + stamp(at(4)) + ")."},
				{[]string{"behind", "--initial", "none"}, "orders/0: first fetch, at committed offset 1, fails with OFFSET_OUT_OF_RANGE (log 4-10); no reset follows: auto.offset.reset=none makes the consumer fail (OffsetOutOfRangeException)."},
				{[]string{"ahead", "--initial", "oldest"}, "orders/0: first fetch, at committed offset 50, fails with OFFSET_OUT_OF_RANGE (log 4-10); the reset to oldest makes the next fetch start at offset 4 (record at " + stamp(at(4)) + ")."},
			} {
				out := cli(t, c.addr, append([]string{"group", "explain"}, cs.args...)...)
				if !strings.Contains(out, cs.want) {
					t.Errorf("explain %s lacks\n  %s\n%s", strings.Join(cs.args, " "), cs.want, out)
				}
			}
			cliFail(t, c.addr, []string{"group", "explain", "done", "--initial", "by_duration:soon"}, `--initial "by_duration:soon"`, "by_duration:PT1H")
			var ex struct {
				Partitions []struct {
					NextFetch string     `json:"next_fetch"`
					StartTime *time.Time `json:"start_time"`
				} `json:"partitions"`
			}
			cliJSON(t, c.addr, &ex, "group", "explain", "done")
			if len(ex.Partitions) != 1 || ex.Partitions[0].StartTime == nil || !ex.Partitions[0].StartTime.Equal(at(6)) || !strings.HasPrefix(ex.Partitions[0].NextFetch, "next fetch starts at offset 6") {
				t.Errorf("explain json: %+v", ex.Partitions)
			}

			// What real consumers of those groups fetch first.
			for _, cs := range []struct {
				group string
				reset kgo.Offset
				want  int64
			}{
				{"done", kgo.NewOffset().AtEnd(), 6},
				{"fresh", kgo.NewOffset().AtStart(), 4},
				{"behind", kgo.NewOffset().AtStart(), 4},
				{"ahead", kgo.NewOffset().AtStart(), 4},
				// franz-go's reset by time is what by_duration does.
				{"fresh-by-time", kgo.NewOffset().AfterMilli(at(6).Add(30 * time.Second).UnixMilli()), 7},
			} {
				r := firstFetched(t, c.addr, cs.group, "orders", cs.reset)
				if r.Offset != cs.want || !r.Timestamp.Equal(at(int(cs.want))) {
					t.Errorf("%s fetched offset %d (record at %s) first, explain said %d (record at %s)", cs.group, r.Offset, stamp(r.Timestamp), cs.want, stamp(at(int(cs.want))))
				}
			}
		})
	}
}
