package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The console's group page forecasts when retention deletes unread
// records, as describe and /metrics do: on a topic with retention.ms one
// minute and a group that committed once, a minute minus the age of its
// first unread record; none on a topic kept forever.
func TestGroupPageForecastsLoss(t *testing.T) {
	e := newEnv(t)
	adm := kadm.NewClient(e.client(t))
	for name, ms := range map[string]string{"short": "60000", "forever": "-1"} {
		r, err := adm.CreateTopic(ctxT(t), 1, 1, map[string]*string{"retention.ms": &ms}, name)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	cl := e.client(t)
	for i := 0; i < 10; i++ {
		e.produce(t, cl, &kgo.Record{Topic: "short", Value: []byte("v")}, &kgo.Record{Topic: "forever", Value: []byte("v")})
	}
	e.commitNow(t, "behind", "short", map[int32]int64{0: 2})
	e.commitNow(t, "behind", "forever", map[int32]int64{0: 2})

	var g struct {
		Partitions []struct {
			Topic             string   `json:"topic"`
			TimeToLossSeconds *float64 `json:"time_to_loss_seconds"`
			Loss              string   `json:"loss"`
		} `json:"partitions"`
	}
	asked := time.Now()
	if code := e.get(t, "/api/v1/groups/behind", &g); code != 200 {
		t.Fatalf("group: %d", code)
	}
	seen := 0
	for _, p := range g.Partitions {
		switch p.Topic {
		case "short":
			seen++
			if p.TimeToLossSeconds == nil || *p.TimeToLossSeconds > 60 || *p.TimeToLossSeconds < 60-time.Since(asked).Seconds()-10 ||
				!strings.Contains(p.Loss, "retention (retention.ms) deletes unread records in about") {
				t.Errorf("short/0 forecast: %v %q, want about 60s", p.TimeToLossSeconds, p.Loss)
			}
		case "forever":
			seen++
			if p.TimeToLossSeconds != nil {
				t.Errorf("a topic kept forever forecasts a loss: %v %q", *p.TimeToLossSeconds, p.Loss)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("group page partitions: %+v", g.Partitions)
	}
}
