package adversarial

// Running out of descriptors: connections opened until the broker's
// accept fails with EMFILE. The broker keeps running, /readyz answers 503
// naming the error while it cannot accept, and once the connections close
// it accepts again, by itself: /readyz is 200 and a new client is served.
// Before, the first failed accept ended the accept loop for good, while
// /readyz still answered 200.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
)

const (
	exhaustLimit  = 128 // the broker's descriptor limit
	exhaustConns  = 3 * exhaustLimit
	exhaustRSSMiB = 256
)

func TestAcceptSurvivesDescriptorExhaustion(t *testing.T) {
	httpAddr := proctest.FreeAddr(t)
	p := startWithFDLimit(t, exhaustLimit, "--http", httpAddr)
	// One admin connection, opened now and kept alive, asks /readyz while
	// the broker has no descriptor left to accept a new one.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}}
	ready := func() (int, string) {
		t.Helper()
		resp, err := hc.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz on the kept connection: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("/readyz before: %d %s", code, body)
	}
	before := countFDs(t, p)

	conns := make([]net.Conn, 0, exhaustConns)
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
		conns = conns[:0]
	}
	t.Cleanup(closeAll)
	for range exhaustConns {
		c, err := net.DialTimeout("tcp", p.Addr, 2*time.Second)
		if err != nil {
			break // the listen queue is full too
		}
		conns = append(conns, c)
	}
	if len(conns) <= exhaustLimit {
		t.Fatalf("setup: only %d connections opened, not enough to exhaust %d descriptors", len(conns), exhaustLimit)
	}
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	for {
		code, body := ready()
		if code == http.StatusServiceUnavailable && strings.Contains(body, "too many open files") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with %d connections against %d descriptors (%d in use before): %d %q, want 503 naming EMFILE", len(conns), exhaustLimit, before, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := countFDs(t, p); n < exhaustLimit-2 {
		t.Fatalf("setup: the broker holds %d of %d descriptors while /readyz says it cannot accept", n, exhaustLimit)
	}

	notReady := time.Since(start)
	held, dialed := countFDs(t, p), len(conns)
	closeAll()
	start = time.Now()
	deadline = start.Add(15 * time.Second)
	for {
		code, body := ready()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 15 s after the connections closed: %d %q, want 200", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	readyAgain := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lat, err := proctest.MetadataLatency(ctx, p.Addr)
	if err != nil {
		t.Fatalf("a new client once descriptors are free again: %v", err)
	}
	t.Logf("%d descriptors in use at rest, %d of %d with %d connections dialed; /readyz 503 after %v, 200 again %v after they closed; a new client's Metadata %v",
		before, held, exhaustLimit, dialed, notReady.Round(time.Millisecond), readyAgain.Round(time.Millisecond), lat.Round(time.Microsecond))
	select {
	case <-p.Exited():
		t.Fatal("the broker exited")
	default:
	}
	if rss := p.MustPeakRSSMiB(t); rss > exhaustRSSMiB {
		t.Fatalf("peak RSS %d MiB, bound %d MiB", rss, exhaustRSSMiB)
	}
	if !strings.Contains(p.Log(), "accepting connections again") {
		t.Fatalf("the broker did not log that it accepts again:\n%s", p.Log())
	}
}

// countFDs counts the descriptors the broker process holds.
func countFDs(t *testing.T, p *proctest.Proc) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
