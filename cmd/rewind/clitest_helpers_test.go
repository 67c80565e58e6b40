package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cluster is one Kafka implementation every client command is tested
// against: Rewind in-process, and franz-go's kfake as a second, independent
// implementation of the protocol.
type cluster struct {
	name   string
	addr   string
	rewind bool
}

func clusters(t *testing.T) []cluster {
	t.Helper()
	kf := proctest.Kfake(t, kfakeBin)
	rw := rewindtest.Start(t)
	return []cluster{{"rewind", rw.Addr(), true}, {"kfake", kf, false}}
}

// cliRun builds the real root command and runs it in-process against addr
// with stdin, returning what it printed.
func cliRun(t testing.TB, addr, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut proctest.SyncBuffer
	err = cliRunTo(t, addr, stdin, &out, &errOut, args...)
	return out.String(), errOut.String(), err
}

func cliRunTo(t testing.TB, addr, stdin string, out, errOut *proctest.SyncBuffer, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	root := newRootCmd()
	if addr != "" {
		args = append([]string{"--brokers", addr}, args...)
	}
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetIn(strings.NewReader(stdin))
	return root.ExecuteContext(ctx)
}

// cli runs a command that must succeed and returns its stdout.
func cli(t *testing.T, addr string, args ...string) string {
	t.Helper()
	return proctest.CLIFunc(cliRun).Must(t, addr, args...)
}

// cliFail runs a command that must fail, checks the error is one line
// containing every want, and returns it.
func cliFail(t *testing.T, addr string, args []string, want ...string) string {
	t.Helper()
	out, _, err := cliRun(t, addr, "", args...)
	if err == nil {
		t.Fatalf("rewind %s succeeded; stdout:\n%s", strings.Join(args, " "), out)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("rewind %s: error %q lacks %q", strings.Join(args, " "), msg, w)
		}
	}
	return msg
}

func cliJSON(t *testing.T, addr string, v any, args ...string) {
	t.Helper()
	out := cli(t, addr, append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("rewind %s --output json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The table and seeding helpers are proctest's, shared with the test
// modules that drive the built binary (compat/sarama).
var (
	tableRow   = proctest.TableRow
	wantFields = proctest.WantFields
)

// seedTopic creates topic with parts partitions holding n records each
// (values "p<partition>-<i>"), through the CLI itself.
func seedTopic(t *testing.T, addr, topic string, parts, n int) {
	t.Helper()
	proctest.CLIFunc(cliRun).SeedTopic(t, addr, topic, parts, n)
}

func adminFor(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func commitOffsets(t *testing.T, addr, group, topic string, offsets ...int64) {
	t.Helper()
	proctest.CommitOffsets(t, adminFor(t, addr), group, topic, offsets...)
}

// activeMember runs a franz-go group member (client id clientID) on topic
// until the test ends, and waits until the group is Stable with it.
func activeMember(t *testing.T, addr, group, topic, clientID string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(clientID),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	waitGroupState(t, addr, group, "Stable", 1)
}

func waitGroupState(t *testing.T, addr, group, state string, members int) {
	t.Helper()
	adm := adminFor(t, addr)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		d, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil && d[group].State == state && len(d[group].Members) == members {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never reached %s with %d member(s): %v %+v", group, state, members, err, d[group])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func committedOffset(t *testing.T, addr, group, topic string, p int32) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	os, err := adminFor(t, addr).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := os.Lookup(topic, p); ok {
		return o.At
	}
	return -1
}
