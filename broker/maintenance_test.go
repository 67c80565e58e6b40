package broker_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A compaction that cannot finish (its reads held by the file system)
// does not keep retention from deleting the expired segments of another
// topic: retention and compaction run in their own workers, per
// partition. Before, one loop ran every retention and then every
// compaction in turn, so a stuck compaction stopped retention everywhere.
func TestSlowCompactionDoesNotDelayRetention(t *testing.T) {
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, t.TempDir(), broker.WithFS(efs), func(c *broker.Config) { c.RetentionCheckInterval = 20 * time.Millisecond })
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact"), "internal.segment.bytes": kmsg.StringPtr("1024")}, "slowclean"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kmsg.StringPtr("200")}, "expiring"); err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	var once, released sync.Once
	unblock := func() { released.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the broker's Close
	// Produces do not read: the first read of slowclean's files is its
	// compaction's, once segments rolled.
	efs.SetHook(func(op vfs.Op, name string) {
		if op == vfs.OpRead && strings.Contains(name, "/slowclean-0/") {
			once.Do(func() { close(held) })
			<-release
		}
	})
	for i := range 200 {
		r := &kgo.Record{Topic: "slowclean", Key: []byte(fmt.Sprint("k", i%10)), Value: []byte(strings.Repeat("v", 100))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("setup: compaction of slowclean never started")
	}
	// Compaction is stuck from here on. Records produced now expire after
	// 200 ms, and retention must delete them.
	for range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "expiring", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ti, _ := b.Topic("expiring")
		if len(ti.Partitions) == 1 && ti.Partitions[0].LogStart == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired records not deleted while a compaction is stuck: %+v", ti.Partitions)
		}
		time.Sleep(20 * time.Millisecond)
	}
	unblock()
}

// flakyListener fails its accepts with EMFILE while failing is set, as
// accept(2) does when the process is out of descriptors.
type flakyListener struct {
	net.Listener
	failing atomic.Bool
	calls   atomic.Int64
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failing.Load() {
		l.calls.Add(1)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// An accept failing with EMFILE is retried with a growing pause (5 ms
// doubling to 1 s, not a busy loop), Ready reports the broker not ready
// while it fails, and once accepts succeed again the connection that
// waited in the listen queue is served and Ready is nil. Before, the first
// failed accept ended the accept loop: the broker never served again and
// Ready still said it was ready.
func TestAcceptRetriesOnEMFILE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.failing.Store(true)
	b := startBrokerAt(t, t.TempDir(), broker.WithListener(fl))
	deadline := time.Now().Add(10 * time.Second)
	for b.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Ready is nil while every accept fails")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := b.Ready(); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Ready while accepts fail: %v, want it to name EMFILE", err)
	}
	// The connection waits in the listen queue meanwhile.
	r := newRaw(t, b.Addr())
	time.Sleep(2 * time.Second)
	// 5+10+...+640 ms then 1 s pauses: about 9 accepts in 2 s.
	if n := fl.calls.Load(); n < 4 || n > 20 {
		t.Fatalf("%d accepts in 2 s of EMFILE, want 4 to 20 (a pause doubling from 5 ms to 1 s)", n)
	}
	fl.failing.Store(false)
	if n, c := topicPartitions(r, broker.OffsetsTopic); n <= 0 {
		t.Fatalf("the queued connection once accepts succeed: Metadata code %d", c)
	}
	if err := b.Ready(); err != nil {
		t.Fatalf("Ready after an accept succeeded: %v", err)
	}
}
