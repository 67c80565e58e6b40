package sarama_test

import (
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// binary is the rewind binary built for this test run: the process tests
// and the CLI the replay test drives.
var binary string

func TestMain(m *testing.M) {
	proctest.Main(m, func(dir string) (err error) {
		binary, err = proctest.Build("../..", dir)
		return err
	})
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
