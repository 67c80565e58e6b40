package offsettool

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/offsettool/txntest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsumeToEndTrailingMarker reads to the end a partition whose last
// offset is a transaction's commit marker: a control record no fetch
// hands to a client that drops them, so ToEnd waited for it until the
// context ended. The end must be reached by the marker itself, so the
// silence rule is put out of reach.
func TestConsumeToEndTrailingMarker(t *testing.T) {
	defer func(d time.Duration) { consumeIdle = d }(consumeIdle)
	consumeIdle = time.Hour
	for _, tc := range txnClusters(t) {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.addr)
			needTxnAPIs(t, c, tc, keyInitProducerID, keyEndTxn)
			ctx := testCtx(t)
			topic := "consume-marker-" + suffix()
			if err := c.CreateTopic(ctx, topic, 1, 1, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ProduceLines(ctx, strings.NewReader("a\nb\nc\n"), ProduceOptions{Topic: topic, Partition: 0}); err != nil {
				t.Fatal(err)
			}
			txntest.Txn(t, tc.addr, "consume-marker-"+suffix(), topic, 0, 2, txntest.Commit, "", nil)
			_, end, err := c.bounds(ctx, []string{topic})
			if err != nil {
				t.Fatal(err)
			}
			if e, _ := end.Lookup(topic, 0); e.Offset != 6 {
				t.Fatalf("partition ends at %d, want 6: 3 records, 2 in the transaction and its marker", e.Offset)
			}
			for _, group := range []string{"", "consume-marker-" + suffix()} {
				rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				var got []string
				n, err := c.Consume(rctx, ConsumeOptions{Topic: topic, Group: group, ToEnd: true}, func(r *kgo.Record) error {
					got = append(got, string(r.Value))
					return nil
				})
				stopped := rctx.Err()
				cancel()
				if err != nil || stopped != nil {
					t.Fatalf("group %q: Consume --to-end over a trailing commit marker: %d records, err %v, context %v: it did not end by itself", group, n, err, stopped)
				}
				if n != 5 || len(got) != 5 || got[0] != "a" || got[3] == "" {
					t.Fatalf("group %q: read %d records %q, want the 3 plain and the 2 committed", group, n, got)
				}
				if group == "" {
					continue
				}
				fetched, err := c.adm.FetchOffsets(ctx, group)
				if err != nil {
					t.Fatal(err)
				}
				if o, _ := fetched.Lookup(topic, 0); o.At != 6 {
					t.Errorf("group %q committed %d after reading to the end, want 6 (past the marker)", group, o.At)
				}
			}
		})
	}
}
