package admin

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The console resets with every target the CLI has: to-current, to-group,
// from-file (kafka-consumer-groups' CSV, a header skipped) and ISO 8601
// durations beside the others.
func TestConsoleResetTargets(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 2)
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 10; i++ {
		e.produce(t, cl, &kgo.Record{Topic: "orders", Partition: int32(i % 2), Value: []byte("v")})
	}
	e.commitNow(t, "a", "orders", map[int32]int64{0: 1, 1: 3})
	e.commitNow(t, "b", "orders", map[int32]int64{0: 5, 1: 5})
	type row struct {
		Partition int32 `json:"partition"`
		New       int64 `json:"new"`
	}
	var resp struct {
		Plan struct {
			Rows []row `json:"partitions"`
		} `json:"plan"`
	}
	news := func() map[int32]int64 {
		out := map[int32]int64{}
		for _, r := range resp.Plan.Rows {
			out[r.Partition] = r.New
		}
		return out
	}
	for _, c := range []struct {
		body string
		want map[int32]int64
	}{
		{`{"target":"to-current"}`, map[int32]int64{0: 1, 1: 3}},
		{`{"target":"to-group","group":"b"}`, map[int32]int64{0: 5, 1: 5}},
		{`{"target":"from-file","file":"topic,partition,offset\norders,1,4\n"}`, map[int32]int64{1: 4}},
		{`{"target":"by-duration","duration":"PT1H"}`, map[int32]int64{0: 0, 1: 0}},
	} {
		if code := e.post(t, "/api/v1/groups/a/reset", c.body, &resp); code != 200 {
			t.Fatalf("%s: %d", c.body, code)
		}
		got := news()
		if len(got) != len(c.want) {
			t.Errorf("%s: plan %v, want %v", c.body, got, c.want)
			continue
		}
		for p, w := range c.want {
			if got[p] != w {
				t.Errorf("%s: plan %v, want %v", c.body, got, c.want)
			}
		}
	}
	var apiErr struct {
		Error string `json:"error"`
	}
	if code := e.post(t, "/api/v1/groups/a/reset", `{"target":"to-group","group":"nobody"}`, &apiErr); code != 400 || !strings.Contains(apiErr.Error, "no committed offsets") {
		t.Errorf("to-group of a group without offsets: %d %q", code, apiErr.Error)
	}
}
