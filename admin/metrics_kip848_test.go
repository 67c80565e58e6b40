package admin

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMetricsGroupTypeAndEpoch scrapes /metrics with a classic group and a
// consumer group (KIP-848, two franz-go ServerSideBalancer members that
// committed): each group has its type and epoch in rewind_consumergroup_*
// (the consumer group's equal to what ConsumerGroupDescribe says), the
// consumer group's kafka_consumergroup_members counts its two members
// and its offsets have kafka_exporter's series, and those keep exactly
// kafka_exporter's label sets.
func TestMetricsGroupTypeAndEpoch(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 2)
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	e.produce(t, cl, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte("a")}, &kgo.Record{Topic: "orders", Partition: 1, Value: []byte("b")})
	e.member(t, "audit", "orders", "audit-consumer")

	var members []*kgo.Client
	for i := 0; i < 2; i++ {
		m := e.client(t, kgo.ClientID("cg-"+strconv.Itoa(i)), kgo.ConsumerGroup("cg"), kgo.ConsumeTopics("orders"),
			kgo.ServerSideBalancer(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		members = append(members, m)
	}
	adm := kadm.NewClient(cl)
	var epoch, assignment int32
	deadline := time.Now().Add(20 * time.Second)
	for consumed := 0; ; {
		for _, m := range members {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			consumed += m.PollFetches(ctx).NumRecords()
			cancel()
		}
		d, err := adm.DescribeConsumerGroups(ctxT(t), "cg")
		if g := d["cg"]; err == nil && g.State == "Stable" && len(g.Members) == 2 && consumed == 2 {
			epoch, assignment = g.Epoch, g.AssignmentEpoch
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer group never Stable with 2 members having consumed both records: %v %+v (%d consumed)", err, d["cg"], consumed)
		}
	}
	for _, m := range members {
		if err := m.CommitUncommittedOffsets(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}

	mfs := e.scrape(t)
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"rewind_consumergroup_info", map[string]string{"consumergroup": "cg", "type": "consumer", "state": "Stable", "protocol": "uniform"}, 1},
		{"rewind_consumergroup_epoch", map[string]string{"consumergroup": "cg", "type": "consumer"}, float64(epoch)},
		{"rewind_consumergroup_assignment_epoch", map[string]string{"consumergroup": "cg"}, float64(assignment)},
		{"rewind_consumergroup_info", map[string]string{"consumergroup": "audit", "type": "classic", "state": "Stable", "protocol": "cooperative-sticky"}, 1},
		{"rewind_consumergroup_epoch", map[string]string{"consumergroup": "audit", "type": "classic"}, 1},
		{"kafka_consumergroup_members", map[string]string{"consumergroup": "cg"}, 2},
		{"kafka_consumergroup_members", map[string]string{"consumergroup": "audit"}, 1},
		{"kafka_consumergroup_current_offset", map[string]string{"consumergroup": "cg", "topic": "orders", "partition": "0"}, 1},
		{"kafka_consumergroup_lag_sum", map[string]string{"consumergroup": "cg", "topic": "orders"}, 0},
	}
	for _, w := range want {
		got, ok := series(mfs, w.name, w.labels)
		if !ok {
			t.Errorf("%s%v missing (labels seen: %s)", w.name, w.labels, labelNames(mfs[w.name]))
			continue
		}
		if got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	if epoch < 1 {
		t.Errorf("consumer group epoch %d", epoch)
	}
	// One series per group: the consumer group's offsets-only entry in the
	// classic coordinator is not reported a second time as classic.
	if _, dup := series(mfs, "rewind_consumergroup_epoch", map[string]string{"consumergroup": "cg", "type": "classic"}); dup {
		t.Error("consumer group cg also reported as classic")
	}
	for name, labels := range map[string]string{
		"kafka_consumergroup_current_offset": "consumergroup,partition,topic",
		"kafka_consumergroup_lag_sum":        "consumergroup,topic",
		"kafka_consumergroup_members":        "consumergroup",
		"rewind_consumergroup_info":          "consumergroup,protocol,state,type",
		"rewind_consumergroup_epoch":         "consumergroup,type",
	} {
		if got := labelNames(mfs[name]); got != labels {
			t.Errorf("%s labels %q, want %q", name, got, labels)
		}
	}
}
