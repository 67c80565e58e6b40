package broker

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every reservation of --max-response-memory is returned: after answered,
// refused and abandoned requests the pool is empty again.
func TestResponseMemoryReturned(t *testing.T) {
	b, err := New(WithListen("127.0.0.1:0"), WithDataDir(t.TempDir()), WithGroupInitialRebalanceDelay(0),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *Config) { c.MaxResponseMemory = 4 << 20 })
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
		}
		return out
	}
	var f kmsg.RequestFormatter
	send := func(req kmsg.Request, read bool) {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(f.AppendRequest(nil, req, 1)); err != nil {
			t.Fatal(err)
		}
		if read {
			io.Copy(io.Discard, io.LimitReader(c, 1<<30)) // until the broker answers and we time out, or it closes
		}
	}
	fits := &kmsg.DescribeGroupsRequest{Version: 5, Groups: names(3000)}    // reserved and answered
	tooBig := &kmsg.DescribeGroupsRequest{Version: 5, Groups: names(17000)} // refused: over the pool
	for i := 0; i < 3; i++ {
		send(fits, false) // closed before the answer is read
		send(tooBig, true)
	}
	c, _ := net.Dial("tcp", b.Addr())
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write(f.AppendRequest(nil, fits, 1))
	var buf [4]byte
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		t.Fatalf("a request that fits was not answered: %v", err)
	}
	c.Close()

	deadline := time.Now().Add(10 * time.Second)
	for b.respMem.inUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of --max-response-memory still held after every connection closed", b.respMem.inUse())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
