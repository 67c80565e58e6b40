package admin

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage/vfs"
)

// On a full disk the broker is read-only: /readyz stays 200 and says so
// (reads and the deletions that free space are served), /metrics has
// rewind_disk_full 1 and the overview a read_only reason.
func TestReadOnlyOnFullDisk(t *testing.T) {
	efs := vfs.NewErrorFS(nil)
	// No room for the reserve file: the broker starts read-only.
	efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Base("disk.reserve"), Err: syscall.ENOSPC})
	b, err := broker.New(broker.WithDataDir(t.TempDir()), broker.WithListen("127.0.0.1:0"), broker.WithFS(efs),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *broker.Config) { c.DiskReserve = 1 << 20 })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	h := New(b.AdminAPI()).Handler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/readyz"); code != 200 || !strings.HasPrefix(body, "ready, read-only: ") || !strings.Contains(body, "full") {
		t.Errorf("/readyz on a full disk: %d %q", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "\nrewind_disk_full 1\n") || !strings.Contains(body, "\nrewind_disk_reserve_bytes 1.048576e+06\n") {
		t.Errorf("/metrics on a full disk lacks rewind_disk_full 1 or the reserve size")
	}
	_, body := get("/api/v1/overview")
	var o overview
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if !o.Ready || o.ReadOnly == "" {
		t.Errorf("overview on a full disk: ready %v, read_only %q", o.Ready, o.ReadOnly)
	}
}
