package bench

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// TestRunTLS: the tls scenario measures produce and cold consume over
// PLAINTEXT and over SSL, whose listener speaks TLS with the bench's
// certificate.
func TestRunTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	cfg := SmokeConfig()
	cfg.DataDir = t.TempDir()
	cfg.Kafka, cfg.Kfake = "off", "off"
	cfg.Scenarios = []string{"tls"}
	cfg.ConsumeBytes = 8 << 20
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"produce 1 KiB, 8 partitions, acks=all, fsync=never, PLAINTEXT": false,
		"produce 1 KiB, 8 partitions, acks=all, fsync=never, SSL (TLS)": false,
		"consume cold 1 KiB, 8 MiB stored, 8 partitions, PLAINTEXT":     false,
		"consume cold 1 KiB, 8 MiB stored, 8 partitions, SSL (TLS)":     false,
	}
	for _, f := range rep.Figures {
		if _, ok := want[f.Name]; ok {
			want[f.Name] = true
			if f.Rewind == nil || *f.Rewind <= 0 {
				t.Errorf("%s: not measured", f.Name)
			}
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("no figure %q", name)
		}
	}

	// The SSL target's listener speaks TLS with the bench's certificate.
	root := t.TempDir()
	files, client, err := benchCert(root)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: cfg, root: root}
	tg, err := r.transportSystems(0, files, client)[1].start()
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	addr := tg.(*tlsTarget).tlsAddrs()[0]
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, client.Clone())
	if err != nil {
		t.Fatalf("TLS handshake with the SSL listener: %v", err)
	}
	conn.Close()
}
