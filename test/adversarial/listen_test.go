package adversarial

// Listening on the network: wildcard addresses are never advertised, and
// the admin listener keeps its Host check beyond loopback.

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// anyInterfacePort returns a port free on every interface a moment ago.
func anyInterfacePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// checkEmptyDataDir fails unless a refused start left dir empty.
func checkEmptyDataDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		t.Errorf("a refused start wrote %d entries into the data directory (first %s)", len(ents), ents[0].Name())
	}
}

// TestWildcardListenNeedsAdvertise: --listen 0.0.0.0 without --advertise
// is refused before the data directory is touched (Metadata would tell
// clients to connect to 0.0.0.0); with --advertise, Metadata gives that
// address and the log warns that the unauthenticated listener is reachable
// from other machines.
func TestWildcardListenNeedsAdvertise(t *testing.T) {
	hosts := []string{"0.0.0.0", ""}
	if ln, err := net.Listen("tcp", "[::]:0"); err == nil { // IPv6 may be off
		ln.Close()
		hosts = append(hosts, "[::]")
	}
	for _, host := range hosts {
		port := anyInterfacePort(t)
		p := proctest.Start(t, proctest.Config{Binary: binary, Addr: "127.0.0.1:" + port, NoWait: true,
			Args: []string{"--listen", host + ":" + port}})
		exitedWithError(t, p)
		if log := p.Log(); !strings.Contains(log, "--advertise") {
			t.Errorf("--listen %s:%s: the refusal does not mention --advertise:\n%s", host, port, log)
		}
		checkEmptyDataDir(t, p.DataDir)
	}

	port := anyInterfacePort(t)
	adv := "localhost:" + port
	p := proctest.Start(t, proctest.Config{Binary: binary, Addr: "127.0.0.1:" + port,
		Args: []string{"--listen", "0.0.0.0:" + port, "--advertise", adv}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, p.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 1 || net.JoinHostPort(resp.Brokers[0].Host, strconv.Itoa(int(resp.Brokers[0].Port))) != adv {
		t.Fatalf("Metadata brokers %+v, want the one at %s", resp.Brokers, adv)
	}
	if log := p.Log(); !strings.Contains(log, "no authentication") {
		t.Errorf("no warning that the wildcard listener has no authentication:\n%s", log)
	}
}

// TestAdminHTTPBeyondLoopbackNeedsAllowedHosts: --http on 0.0.0.0 without
// --http-allowed-hosts is refused (the Host check against DNS rebinding
// would otherwise have nothing to check against), and without
// authentication too unless --http-allow-unauthenticated; with both, only
// loopback and the allowed names are served.
func TestAdminHTTPBeyondLoopbackNeedsAllowedHosts(t *testing.T) {
	port := anyInterfacePort(t)
	p := proctest.Start(t, proctest.Config{Binary: binary, NoWait: true, Args: []string{"--http", "0.0.0.0:" + port}})
	exitedWithError(t, p)
	if log := p.Log(); !strings.Contains(log, "--http-allowed-hosts") {
		t.Errorf("the refusal does not mention --http-allowed-hosts:\n%s", log)
	}
	checkEmptyDataDir(t, p.DataDir)

	// With the allowed hosts but no authentication: refused too.
	port = anyInterfacePort(t)
	p = proctest.Start(t, proctest.Config{Binary: binary, NoWait: true,
		Args: []string{"--http", "0.0.0.0:" + port, "--http-allowed-hosts", "rewind.example"}})
	exitedWithError(t, p)
	if log := p.Log(); !strings.Contains(log, "without authentication") || !strings.Contains(log, "--http-auth-file") {
		t.Errorf("the refusal without authentication does not say so or name --http-auth-file:\n%s", log)
	}
	checkEmptyDataDir(t, p.DataDir)

	port = anyInterfacePort(t)
	p = proctest.Start(t, proctest.Config{Binary: binary,
		Args: []string{"--http", "0.0.0.0:" + port, "--http-allowed-hosts", "rewind.example,.corp.example", "--http-allow-unauthenticated"}})
	// Start waits for the Kafka listener; the HTTP one is bound before it.
	for host, want := range map[string]int{
		"rewind.example": 200, "rewind.example:" + port: 200, "REWIND.EXAMPLE.": 200,
		"a.corp.example": 200, "corp.example": 200, "localhost": 200, "127.0.0.1:" + port: 200,
		"evil.example": 403, "rewind.example.evil.example": 403, "xcorp.example": 403, "10.1.2.3": 403,
	} {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+port+"/api/v1/overview", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %s, want %d", host, resp.Status, want)
		}
	}
	if log := p.Log(); !strings.Contains(log, "admin HTTP listener is reachable beyond this machine") {
		t.Errorf("no warning that the admin listener is reachable from other machines:\n%s", log)
	}
}
