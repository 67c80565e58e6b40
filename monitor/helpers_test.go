package monitor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/admin"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/lageval"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) { os.Exit(kafkaref.Main(m)) }

func tctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startBroker starts an in-process Rewind broker on addr and dir (so that
// a test can stop it and start it again where it was).
func startBroker(t *testing.T, addr, dir string, opts ...broker.Option) *broker.Broker {
	t.Helper()
	base := []broker.Option{broker.WithListen(addr), broker.WithDataDir(dir), broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(quiet()), broker.WithDiskReserve(1 << 20)}
	var b *broker.Broker
	var err error
	// The port of a broker closed a moment ago can take a moment to free.
	for i := 0; i < 50; i++ {
		if b, err = broker.New(append(base, opts...)...); err == nil {
			if err = b.Start(); err == nil {
				return b
			}
			b.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("start broker on %s: %v", addr, err)
	return nil
}

func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(addr, ",")...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// watch starts a monitor of addr and its admin server.
func watch(t *testing.T, addr, state string) (*Monitor, *httptest.Server) {
	t.Helper()
	m, err := New(tctx(t, 60*time.Second), Config{Brokers: strings.Split(addr, ","), StatePath: state, Poll: 300 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.New(m, admin.WithLogger(quiet())).Handler())
	return m, srv
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// metrics scrapes url/metrics into series (name{labels sorted}) -> value.
func metrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// eventually retries f until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var oldTS = time.Now().Add(-time.Hour).Truncate(time.Millisecond)

// produce writes n records to each of parts partitions of topic, dated an
// hour ago plus their index in milliseconds.
func produce(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, parts int32, n int) {
	t.Helper()
	var rs []*kgo.Record
	for p := int32(0); p < parts; p++ {
		for i := 0; i < n; i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprint(i)), Timestamp: oldTS.Add(time.Duration(i) * time.Millisecond)})
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func createTopic(t *testing.T, ctx context.Context, addr, topic string, parts int32, rf int16) {
	t.Helper()
	adm := kadm.NewClient(client(t, addr))
	r, err := adm.CreateTopic(ctx, parts, rf, nil, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	// A Kafka cluster gives the partitions leaders a moment later.
	eventually(t, 20*time.Second, func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		for _, p := range md.Topics[topic].Partitions {
			if p.Leader < 0 || p.Err != nil {
				return fmt.Errorf("partition %d has no leader", p.Partition)
			}
		}
		if len(md.Topics[topic].Partitions) != int(parts) {
			return fmt.Errorf("%d partitions", len(md.Topics[topic].Partitions))
		}
		return nil
	})
}

// consumeAndCommit runs a franz-go group member that reads at least n
// records of topic, commits what it read and leaves; it returns the
// committed offsets per partition.
func consumeAndCommit(t *testing.T, ctx context.Context, addr, group, topic string, n int, opts ...kgo.Opt) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(addr, ",")...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(1 << 10), kgo.FetchMaxPartitionBytes(1 << 10)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollRecords(ctx, n-got)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, ctx.Err())
		}
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, ps := range cl.CommittedOffsets() {
		for p, o := range ps {
			out[p] = o.Offset
		}
	}
	return out
}

// groupRow is the part of /api/v1/groups a test reads.
type groupRow struct {
	Group  string `json:"group"`
	Type   string `json:"type"`
	State  string `json:"state"`
	Lag    int64  `json:"lag"`
	Status string `json:"status"`
}

type groupView struct {
	Group      string `json:"group"`
	Lag        int64  `json:"lag"`
	Partitions []struct {
		Topic      string   `json:"topic"`
		Partition  int32    `json:"partition"`
		Committed  int64    `json:"committed"`
		LogEnd     int64    `json:"log_end"`
		Lag        *int64   `json:"lag"`
		LagSeconds *float64 `json:"lag_seconds"`
		Status     string   `json:"status"`
	} `json:"partitions"`
	Status struct {
		Status string `json:"status"`
	} `json:"status"`
}

type historyEntry struct {
	Topic     string     `json:"topic"`
	Partition int32      `json:"partition"`
	Offset    int64      `json:"offset"`
	Replaced  *time.Time `json:"replaced"`
}

func lagTP(topic string, p int32) lageval.TopicPartition {
	return lageval.TopicPartition{Topic: topic, Partition: p}
}
