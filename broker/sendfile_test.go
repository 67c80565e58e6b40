package broker_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestFetchFromFiles reads back megabytes spread over several partitions,
// so fetch responses carry several file ranges each (sent with sendfile),
// with every Fetch version the broker implements: flexible (v12) and not.
func TestFetchFromFiles(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	const parts, perPart = 3, 400
	adm := kadm.NewClient(newClient(t, b.Addr()))
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, "files"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[int32][][]byte{}
	var recs []*kgo.Record
	for p := int32(0); p < parts; p++ {
		for i := 0; i < perPart; i++ {
			v := make([]byte, 1+rng.IntN(8<<10))
			for j := range v {
				v[j] = byte(rng.Uint32())
			}
			want[p] = append(want[p], v)
			recs = append(recs, &kgo.Record{Topic: "files", Partition: p, Value: v})
		}
	}
	prod := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	for _, v := range []int16{4, 7, 11, 12} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			versions := kversion.Stable()
			versions.SetMaxKeyVersion(1, v)
			offsets := map[int32]kgo.Offset{}
			for p := int32(0); p < parts; p++ {
				offsets[p] = kgo.NewOffset().AtStart()
			}
			cons := newClient(t, b.Addr(), kgo.MaxVersions(versions),
				kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"files": offsets}),
				kgo.FetchMaxPartitionBytes(256<<10))
			got := map[int32]int{}
			for n := 0; n < parts*perPart; {
				fs := cons.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("read %d of %d records: %v", n, parts*perPart, err)
				}
				fs.EachError(func(_ string, p int32, err error) { t.Fatalf("partition %d: %v", p, err) })
				fs.EachRecord(func(r *kgo.Record) {
					i := got[r.Partition]
					if int64(i) != r.Offset || !bytes.Equal(r.Value, want[r.Partition][i]) {
						t.Fatalf("partition %d offset %d: not the record produced at offset %d", r.Partition, r.Offset, i)
					}
					got[r.Partition]++
					n++
				})
			}
		})
	}
}
