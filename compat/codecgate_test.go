package compat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With python3-kafka but not its codec modules (here: a snappy module on
// PYTHONPATH that fails to import, as a missing one does), the snappy cell
// is skipped with the reason instead of failing, and fails only with
// REWIND_COMPAT_REQUIRED=1.
func TestMissingPythonCodecIsSkipped(t *testing.T) {
	if err := pythonModule("kafka", "python3-kafka")(); err != nil {
		t.Skipf("kafka-python not installed: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "snappy.py"), []byte("raise ImportError('No module named snappy')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", dir)
	c := client{name: "kafka-python", codecAvailable: kafkaPythonCodec}
	err := c.codecAvailable("snappy")
	if err == nil || !strings.Contains(err.Error(), "python3-snappy") {
		t.Fatalf("snappy check with the module missing: %v", err)
	}
	if err := c.codecAvailable("gzip"); err != nil {
		t.Fatalf("gzip needs no module: %v", err)
	}

	for _, req := range []string{"", "1"} {
		t.Setenv("REWIND_COMPAT_REQUIRED", req)
		res := newResults()
		w := res.row(c.name, "Python", clientCaps, 0)
		if codecGate(t, w, c, "snappy") {
			t.Fatalf("REWIND_COMPAT_REQUIRED=%q: the snappy cell would run without its module", req)
		}
		got := w.cells["snappy"]
		switch {
		case req == "" && (got.status != notRun || !strings.Contains(got.reason, "python3-snappy")):
			t.Errorf("not required: snappy cell %+v, want not run with the reason", got)
		case req == "1" && got.status != fail:
			t.Errorf("REWIND_COMPAT_REQUIRED=1: snappy cell %+v, want a failure", got)
		}
	}
}
