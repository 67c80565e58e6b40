package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestMonitorCLI: `rewind monitor` reaches a broker that requires SASL
// (SCRAM-SHA-512) with the client flags every client command takes,
// serves the group's lag on --http, and leaves its --state file when
// stopped; with a wrong password it does not start.
func TestMonitorCLI(t *testing.T) {
	s := startSecureBroker(t)
	addr := s.addr[broker.ProtocolSASLPlaintext]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "mon"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "mon", Partition: int32(i % 2), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: "mon", Partition: 0, At: 2, LeaderEpoch: -1})
	o.Add(kadm.Offset{Topic: "mon", Partition: 1, At: 5, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "watched", o); err != nil {
		t.Fatal(err)
	}

	sec := []string{"--brokers", addr, "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "admin"}
	_, _, err = cliRun(t, "", "", append(sec, "--sasl-password", "wrong", "monitor", "--http", proctest.FreeAddr(t))...)
	if err == nil || !strings.Contains(err.Error(), "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("monitor with a wrong password: %v", err)
	}

	httpAddr := proctest.FreeAddr(t)
	state := filepath.Join(t.TempDir(), "m.state")
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetArgs(append(sec, "--sasl-password", "admin-secret", "monitor", "--http", httpAddr, "--state", state, "--poll", "200ms", "--log-level", "error"))
		var out proctest.SyncBuffer
		root.SetOut(&out)
		root.SetErr(&out)
		done <- root.ExecuteContext(mctx)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rows []struct {
			Group string `json:"group"`
			Lag   int64  `json:"lag"`
		}
		if resp, err := http.Get("http://" + httpAddr + "/api/v1/groups"); err == nil {
			json.NewDecoder(resp.Body).Decode(&rows)
			resp.Body.Close()
		}
		if len(rows) == 1 && rows[0].Group == "watched" && rows[0].Lag == 3+0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/v1/groups: %+v, want watched with lag 3", rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("monitor stopped with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("monitor did not stop")
	}
	if st, err := os.Stat(state); err != nil || st.Size() == 0 {
		t.Fatalf("state file: %v %v", st, err)
	}
}
