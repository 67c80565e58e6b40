package admin

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The console's explain of a group whose member consumed and left without
// committing says what happened and explains the topics it subscribed to,
// as `rewind group explain` does; ?topic= picks any other topic.
func TestExplainGroupThatNeverCommitted(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 2)
	e.createTopic(t, "audit", 1)
	prod := e.client(t)
	for i := 0; i < 6; i++ {
		e.produce(t, prod, &kgo.Record{Topic: "orders", Partition: int32(i % 2), Value: []byte("v")})
	}
	cl := e.client(t, kgo.ConsumerGroup("nomark"), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for n := 0; n < 6; {
		n += cl.PollFetches(ctxT(t)).NumRecords()
	}
	e.closeClients() // leaves the group: Empty, nothing committed
	adm := kadm.NewClient(e.client(t))
	for {
		d, err := adm.DescribeGroups(ctxT(t), "nomark")
		if err == nil && d["nomark"].State == "Empty" {
			break
		}
	}

	var ex struct {
		Notes []struct {
			Kind string `json:"kind"`
			Text string `json:"text"`
		} `json:"notes"`
		Partitions []struct {
			Topic string `json:"topic"`
			Case  string `json:"case"`
		} `json:"partitions"`
	}
	if code := e.get(t, "/api/v1/groups/nomark/explain", &ex); code != 200 {
		t.Fatalf("explain: %d", code)
	}
	if len(ex.Notes) == 0 || ex.Notes[0].Kind != "never-committed" || !strings.Contains(ex.Notes[0].Text, "subscribed to orders") {
		t.Fatalf("explain notes of a group that never committed: %+v", ex.Notes)
	}
	if len(ex.Partitions) != 2 || ex.Partitions[0].Topic != "orders" || ex.Partitions[0].Case != "no-commit-newest" {
		t.Fatalf("explain partitions: %+v", ex.Partitions)
	}
	if code := e.get(t, "/api/v1/groups/nomark/explain?topic=audit", &ex); code != 200 || len(ex.Partitions) != 1 || ex.Partitions[0].Topic != "audit" {
		t.Fatalf("explain ?topic=audit: %d %+v", code, ex.Partitions)
	}
}
