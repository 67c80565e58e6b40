package monitor

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMonitorKafkaCluster: against a three-node Apache Kafka, a classic
// franz-go group and a consumer group (KIP-848) commit; the monitor shows
// both with their lag, lag in time and verdict. Then the node that
// coordinates the classic group restarts (its coordinator and partition
// leaders move to the others and back) while the group commits again:
// the monitor follows.
func TestMonitorKafkaCluster(t *testing.T) {
	k := kafkaref.StartNodes(t, 3)
	addr := k.Bootstrap()
	ctx := tctx(t, 240*time.Second)
	createTopic(t, ctx, addr, "mon-orders", 3, 3)
	produce(t, ctx, client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), "mon-orders", 3, 100)
	classic := consumeAndCommit(t, ctx, addr, "mon-billing", "mon-orders", 120)
	consumer := consumeAndCommit(t, ctx, addr, "mon-cg", "mon-orders", 60, kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer())

	m, srv := watch(t, addr, "")
	defer m.Close()
	defer srv.Close()
	checkGroup(t, srv.URL, "mon-billing", "mon-orders", 3, 100, classic)
	checkGroup(t, srv.URL, "mon-cg", "mon-orders", 3, 100, consumer)
	var rows []groupRow
	getJSON(t, srv.URL+"/api/v1/groups", &rows)
	types := map[string]string{}
	for _, r := range rows {
		types[r.Group] = r.Type
	}
	if types["mon-billing"] != "classic" || types["mon-cg"] != "consumer" {
		t.Fatalf("group types %v", types)
	}

	// Restart the node coordinating mon-billing.
	adm := kadm.NewClient(client(t, addr))
	ds, err := adm.DescribeGroups(ctx, "mon-billing")
	if err != nil {
		t.Fatal(err)
	}
	co := ds["mon-billing"].Coordinator
	node := slices.Index(k.Addrs(), fmt.Sprintf("%s:%d", co.Host, co.Port))
	if node < 0 {
		t.Fatalf("coordinator %+v is none of %v", co, k.Addrs())
	}
	if err := k.RestartNode(node); err != nil {
		t.Fatal(err)
	}
	maps.Copy(classic, consumeAndCommit(t, ctx, addr, "mon-billing", "mon-orders", 180)) // to the end: some partition moves again
	checkGroup(t, srv.URL, "mon-billing", "mon-orders", 3, 100, classic)
	// The restarted node serves again, and so does the monitor.
	eventually(t, 120*time.Second, func() error {
		if err := m.Ready(); err != nil {
			return err
		}
		md, err := adm.Metadata(ctx, "mon-orders")
		if err != nil {
			return err
		}
		for _, p := range md.Topics["mon-orders"].Partitions {
			if len(p.ISR) != 3 {
				return fmt.Errorf("partition %d has ISR %v", p.Partition, p.ISR)
			}
		}
		return nil
	})
	checkHistory(t, history(t, srv.URL, "mon-billing"), classic)
}
