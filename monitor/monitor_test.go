package monitor

import (
	"fmt"
	"maps"
	"math"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/admin"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// checkGroup waits until the monitor at url shows group on topic with the
// committed offsets want (per partition, of parts partitions of n records
// each): in /api/v1/groups, /api/v1/groups/{group} (lag, lag in time,
// verdict) and /metrics (kafka_exporter's and burrow_exporter's series).
func checkGroup(t *testing.T, url, group, topic string, parts int32, n int64, want map[int32]int64) groupView {
	t.Helper()
	var wantLag int64
	for _, o := range want {
		wantLag += n - o
	}
	var gv groupView
	eventually(t, 30*time.Second, func() error {
		var rows []groupRow
		getJSON(t, url+"/api/v1/groups", &rows)
		found := false
		for _, r := range rows {
			if r.Group == group {
				found = true
				if r.Lag != wantLag {
					return fmt.Errorf("/api/v1/groups: %s lag %d, want %d", group, r.Lag, wantLag)
				}
			}
		}
		if !found {
			return fmt.Errorf("/api/v1/groups lists no %s: %+v", group, rows)
		}
		if code := getJSON(t, url+"/api/v1/groups/"+group, &gv); code != 200 {
			return fmt.Errorf("/api/v1/groups/%s: %d", group, code)
		}
		if gv.Lag != wantLag || gv.Status.Status == "" || gv.Status.Status == "NOTFOUND" {
			return fmt.Errorf("group view: lag %d (want %d), status %q", gv.Lag, wantLag, gv.Status.Status)
		}
		for _, p := range gv.Partitions {
			if p.Topic != topic {
				continue
			}
			w, ok := want[p.Partition]
			if !ok {
				if p.Committed != -1 || p.Lag != nil {
					return fmt.Errorf("partition %d: committed %d lag %v, want none", p.Partition, p.Committed, p.Lag)
				}
				continue
			}
			if p.Committed != w || p.Lag == nil || *p.Lag != n-w {
				return fmt.Errorf("partition %d: committed %d lag %v, want %d", p.Partition, p.Committed, p.Lag, want[p.Partition])
			}
			if *p.Lag > 0 {
				// Records are dated an hour ago: that is the lag in time.
				if p.LagSeconds == nil || *p.LagSeconds < 3500 || *p.LagSeconds > 3800 {
					return fmt.Errorf("partition %d: lag_seconds %v, want about 3600", p.Partition, p.LagSeconds)
				}
			}
			if p.Status == "NOTFOUND" {
				return fmt.Errorf("partition %d has no verdict", p.Partition)
			}
		}
		ms := metrics(t, url)
		var sum float64
		for p := int32(0); p < parts; p++ {
			lbl := fmt.Sprintf(`{consumergroup=%q,partition="%d",topic=%q}`, group, p, topic)
			lag, ok := ms["kafka_consumergroup_lag"+lbl]
			if _, committed := want[p]; !committed {
				// kafka_exporter's -1 for a partition without a commit.
				if !ok || lag != -1 {
					return fmt.Errorf("kafka_consumergroup_lag%s = %v (%v), want -1", lbl, lag, ok)
				}
				continue
			}
			if !ok || lag != float64(n-want[p]) {
				return fmt.Errorf("kafka_consumergroup_lag%s = %v (%v), want %d", lbl, lag, ok, n-want[p])
			}
			sum += lag
			if lag > 0 {
				if s := ms["kafka_consumergroup_lag_seconds"+lbl]; s < 3500 || s > 3800 {
					return fmt.Errorf("kafka_consumergroup_lag_seconds%s = %v, want about 3600", lbl, s)
				}
			}
			if cur := ms["kafka_consumergroup_current_offset"+lbl]; cur != float64(want[p]) {
				return fmt.Errorf("kafka_consumergroup_current_offset%s = %v, want %d", lbl, cur, want[p])
			}
		}
		if s := ms[fmt.Sprintf(`kafka_consumergroup_lag_sum{consumergroup=%q,topic=%q}`, group, topic)]; s != sum {
			return fmt.Errorf("kafka_consumergroup_lag_sum = %v, want %v", s, sum)
		}
		if st := ms[fmt.Sprintf(`kafka_burrow_status{cluster="rewind",group=%q}`, group)]; st != 2 {
			return fmt.Errorf("kafka_burrow_status = %v, want 2 (OK)", st)
		}
		if tl := ms[fmt.Sprintf(`kafka_burrow_total_lag{cluster="rewind",group=%q}`, group)]; tl != float64(wantLag) {
			return fmt.Errorf("kafka_burrow_total_lag = %v, want %d", tl, wantLag)
		}
		return nil
	})
	return gv
}

func history(t *testing.T, url, group string) []historyEntry {
	t.Helper()
	var h []historyEntry
	if code := getJSON(t, url+"/api/v1/groups/"+group+"/history", &h); code != 200 {
		t.Fatalf("history of %s: %d", group, code)
	}
	sort.Slice(h, func(i, j int) bool {
		if h[i].Partition != h[j].Partition {
			return h[i].Partition < h[j].Partition
		}
		return h[i].Offset < h[j].Offset
	})
	return h
}

// checkHistory: the current positions of h are want, and at least one
// earlier position was replaced (the group committed twice).
func checkHistory(t *testing.T, h []historyEntry, want map[int32]int64) {
	t.Helper()
	cur, replaced := map[int32]int64{}, 0
	for _, e := range h {
		if e.Replaced == nil {
			cur[e.Partition] = e.Offset
		} else {
			replaced++
		}
	}
	if fmt.Sprint(cur) != fmt.Sprint(want) || replaced == 0 {
		t.Fatalf("history %+v: current %v, want %v, and some replaced", h, cur, want)
	}
}

// TestMonitorRewind: a franz-go group commits on a Rewind broker; the
// monitor's /api/v1 and /metrics show the group, its lag, lag in time and
// verdict, exactly as the broker's own admin listener shows them; the
// broker restarts under the monitor, which goes on.
func TestMonitorRewind(t *testing.T) {
	ctx := tctx(t, 120*time.Second)
	addr, dir := proctest.FreeAddr(t), t.TempDir()
	b := startBroker(t, addr, dir)
	defer func() { b.Close() }()
	createTopic(t, ctx, addr, "orders", 3, 1)
	produce(t, ctx, client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders", 3, 100)
	want := consumeAndCommit(t, ctx, addr, "billing", "orders", 120)

	m, srv := watch(t, addr, "")
	defer m.Close()
	defer srv.Close()
	gv := checkGroup(t, srv.URL, "billing", "orders", 3, 100, want)

	// The broker's own listener says the same: one code path, two
	// backends.
	own := httptest.NewServer(admin.New(b.AdminAPI(), admin.WithLogger(quiet())).Handler())
	defer own.Close()
	var bv groupView
	getJSON(t, own.URL+"/api/v1/groups/billing", &bv)
	if bv.Lag != gv.Lag || bv.Status.Status != gv.Status.Status || len(bv.Partitions) != len(gv.Partitions) {
		t.Fatalf("broker's view %+v, monitor's %+v", bv, gv)
	}
	for i, p := range bv.Partitions {
		q := gv.Partitions[i]
		if p.Committed != q.Committed || (p.Lag == nil) != (q.Lag == nil) || p.Lag != nil && *p.Lag != *q.Lag || p.Status != q.Status || (p.LagSeconds == nil) != (q.LagSeconds == nil) {
			t.Fatalf("partition %d: broker %+v, monitor %+v", i, p, q)
		}
		if p.LagSeconds != nil && (*p.LagSeconds-*q.LagSeconds > 5 || *q.LagSeconds-*p.LagSeconds > 5) {
			t.Fatalf("partition %d: lag in time %v on the broker, %v on the monitor", i, *p.LagSeconds, *q.LagSeconds)
		}
	}
	// And so do the two /metrics, series for series.
	theirs, mine := metrics(t, own.URL), metrics(t, srv.URL)
	compared := 0
	for k, v := range theirs {
		if !strings.Contains(k, `"billing"`) || !(strings.HasPrefix(k, "kafka_consumergroup_") || strings.HasPrefix(k, "kafka_burrow_") ||
			strings.HasPrefix(k, "rewind_consumergroup_")) || strings.HasPrefix(k, "rewind_consumergroup_time_to_loss") {
			continue
		}
		got, ok := mine[k]
		if strings.HasPrefix(k, "kafka_consumergroup_lag_seconds") {
			if !ok || math.Abs(got-v) > 5 {
				t.Errorf("%s: broker %v, monitor %v (%v)", k, v, got, ok)
			}
		} else if !ok || got != v {
			t.Errorf("%s: broker %v, monitor %v (%v)", k, v, got, ok)
		}
		compared++
	}
	if compared < 10 {
		t.Fatalf("compared %d series of billing: %v", compared, theirs)
	}
	own.Close()

	// The broker restarts: the monitor reconnects and sees the commits
	// made after it.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if m.Ready() == nil {
			return fmt.Errorf("ready with the broker down")
		}
		return nil
	})
	b = startBroker(t, addr, dir)
	maps.Copy(want, consumeAndCommit(t, ctx, addr, "billing", "orders", 180)) // to the end: some partition moves again
	checkGroup(t, srv.URL, "billing", "orders", 3, 100, want)
	eventually(t, 20*time.Second, m.Ready)
	checkHistory(t, history(t, srv.URL, "billing"), want)
}

// TestMonitorStateOutlivesCompaction: the broker compacts
// __consumer_offsets down to each partition's last commit; a monitor that
// saw the earlier commits keeps them in its state file, and a new monitor
// started from that file still shows them (one without it cannot).
func TestMonitorStateOutlivesCompaction(t *testing.T) {
	ctx := tctx(t, 120*time.Second)
	addr, dir := proctest.FreeAddr(t), t.TempDir()
	b := startBroker(t, addr, dir, func(c *broker.Config) {
		c.RetentionCheckInterval = 50 * time.Millisecond
		c.OffsetsHistoryRetention = 300 * time.Millisecond
		c.OffsetsTopicPartitions = 2
	})
	defer b.Close()
	createTopic(t, ctx, addr, "events", 1, 1)
	produce(t, ctx, client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), "events", 1, 50)
	state := filepath.Join(t.TempDir(), "monitor.state")
	m, srv := watch(t, addr, state)
	adm := kadm.NewClient(client(t, addr))
	commit := func(at int64) {
		t.Helper()
		o := kadm.Offsets{}
		o.Add(kadm.Offset{Topic: "events", Partition: 0, At: at, LeaderEpoch: -1})
		if r, err := adm.CommitOffsets(ctx, "audit", o); err != nil || r.Error() != nil {
			t.Fatalf("commit %d: %v %v", at, err, r.Error())
		}
	}
	for _, at := range []int64{10, 20, 30} {
		commit(at)
		time.Sleep(1100 * time.Millisecond) // past Burrow's MinDistance: three commits
	}
	eventually(t, 20*time.Second, func() error {
		if h := history(t, srv.URL, "audit"); len(h) != 3 {
			return fmt.Errorf("history %+v, want 3 positions", h)
		}
		return nil
	})
	srv.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Compaction leaves only the last commit: a monitor without the
	// state file sees one position.
	eventually(t, 30*time.Second, func() error {
		m2, srv2 := watch(t, addr, "")
		defer m2.Close()
		defer srv2.Close()
		eventually(t, 20*time.Second, m2.Ready)
		if h := history(t, srv2.URL, "audit"); len(h) != 1 || h[0].Offset != 30 {
			return fmt.Errorf("history read from compacted __consumer_offsets: %+v", h)
		}
		return nil
	})

	m3, srv3 := watch(t, addr, state)
	defer m3.Close()
	defer srv3.Close()
	eventually(t, 20*time.Second, m3.Ready)
	h := history(t, srv3.URL, "audit")
	if len(h) != 3 || h[0].Offset != 10 || h[1].Offset != 20 || h[2].Offset != 30 || h[2].Replaced != nil || h[0].Replaced == nil {
		t.Fatalf("history from the state file: %+v", h)
	}
	// The Burrow window came back too: three commits, not one.
	if w := m3.LagWindows("audit"); len(w[lagTP("events", 0)]) != 3 {
		t.Fatalf("window after restart: %+v", w)
	}
	// And it keeps going: a new commit is a fourth position.
	commit(40)
	eventually(t, 20*time.Second, func() error {
		if h := history(t, srv3.URL, "audit"); len(h) != 4 {
			return fmt.Errorf("history %+v, want 4 positions", h)
		}
		return nil
	})
}

// TestMonitorTopicsComeAndGo: a topic created after the monitor started
// shows up with its group; once it is deleted its series go and the rest
// of the cluster is still served.
func TestMonitorTopicsComeAndGo(t *testing.T) {
	ctx := tctx(t, 60*time.Second)
	addr, dir := proctest.FreeAddr(t), t.TempDir()
	b := startBroker(t, addr, dir)
	defer b.Close()
	createTopic(t, ctx, addr, "stays", 1, 1)
	m, srv := watch(t, addr, "")
	defer m.Close()
	defer srv.Close()

	createTopic(t, ctx, addr, "late", 2, 1)
	produce(t, ctx, client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), "late", 2, 100)
	want := consumeAndCommit(t, ctx, addr, "late-g", "late", 50)
	checkGroup(t, srv.URL, "late-g", "late", 2, 100, want)

	adm := kadm.NewClient(client(t, addr))
	if r, err := adm.DeleteTopic(ctx, "late"); err != nil || r.Err != nil {
		t.Fatalf("delete: %v %v", err, r.Err)
	}
	eventually(t, 20*time.Second, func() error {
		for k := range metrics(t, srv.URL) {
			if strings.Contains(k, `topic="late"`) {
				return fmt.Errorf("still served: %s", k)
			}
		}
		var topics []struct {
			Name string `json:"name"`
		}
		getJSON(t, srv.URL+"/api/v1/topics", &topics)
		if len(topics) != 1 || topics[0].Name != "stays" {
			return fmt.Errorf("topics %+v", topics)
		}
		return m.Ready()
	})
	// The group's history outlives the topic.
	if h := history(t, srv.URL, "late-g"); len(h) == 0 {
		t.Fatal("no history left for late-g")
	}
	var gv groupView
	if code := getJSON(t, srv.URL+"/api/v1/groups/late-g", &gv); code != 200 && code != 404 {
		t.Fatalf("group view of a group on a deleted topic: %d", code)
	}
}
