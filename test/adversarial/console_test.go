package adversarial

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// gauge reads one unlabelled series of the broker's /metrics.
func gauge(t *testing.T, httpAddr, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return ""
}

// The admin listener of `rewind serve` reaches the broker in process: 32
// console users at once viewing, explaining, resetting groups and
// producing through it make the broker hold no Kafka connection (before,
// the console dialed the broker's own listener and kept that client open,
// and served its users one at a time behind it). Every request is
// answered, a new Kafka client is answered within a second afterwards, and
// the broker's peak RSS stays under 512 MiB.
func TestConsoleServesInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	httpAddr := proctest.FreeAddr(t)
	p := start(t, "--http", httpAddr)
	const groups = 8
	func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.Addr), kgo.DefaultProduceTopic("orders"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		if _, err := adm.CreateTopic(ctx, 4, 1, nil, "orders"); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for i := 0; i < 400; i++ {
			recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf("order %d", i))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		for g := 0; g < groups; g++ {
			os := kadm.Offsets{}
			for part := int32(0); part < 4; part++ {
				os.Add(kadm.Offset{Topic: "orders", Partition: part, At: 10, LeaderEpoch: -1})
			}
			if err := adm.CommitAllOffsets(ctx, fmt.Sprintf("g%d", g), os); err != nil {
				t.Fatal(err)
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for gauge(t, httpAddr, "rewind_connections") != "0" {
		if time.Now().After(deadline) {
			t.Fatalf("the set-up's connections are still open: rewind_connections %s", gauge(t, httpAddr, "rewind_connections"))
		}
		time.Sleep(50 * time.Millisecond)
	}

	base := "http://" + httpAddr + "/api/v1"
	var wg sync.WaitGroup
	errs := make(chan error, 32*6)
	for u := 0; u < 32; u++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := fmt.Sprintf("g%d", u%groups)
			for _, r := range []struct{ method, path, body string }{
				{"GET", "/groups/" + g, ""},
				{"GET", "/groups/" + g + "/explain", ""},
				{"POST", "/groups/" + g + "/reset", `{"target":"shift-by","shift":-5}`},
				{"POST", "/groups/" + g + "/reset", `{"target":"to-earliest","execute":true}`},
				{"POST", "/topics/orders/records", fmt.Sprintf(`{"partition":%d,"records":[{"value":"from the console"}]}`, u%4)},
				{"GET", "/topics/orders", ""},
			} {
				req, _ := http.NewRequestWithContext(ctx, r.method, base+r.path, strings.NewReader(r.body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				// A produce may wait for one of the two produce slots, and
				// gets 503 after 2 s without one: a bound, not a failure.
				if resp.StatusCode != 200 && !(r.path == "/topics/orders/records" && resp.StatusCode == 503) {
					errs <- fmt.Errorf("%s %s: %s", r.method, r.path, resp.Status)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := gauge(t, httpAddr, "rewind_connections"); n != "0" {
		t.Errorf("the broker holds %s Kafka connection(s) after serving only the console", n)
	}
	if d, err := proctest.MetadataLatency(ctx, p.Addr); err != nil || d > time.Second {
		t.Errorf("a Kafka client after the console load: %v %v", d, err)
	}
	if rss := p.MustPeakRSSMiB(t); rss > 512 {
		t.Errorf("peak RSS %d MiB, bound 512 MiB", rss)
	}
}
