package catalog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mkdirs(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, LogsDir, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func openLogged(t *testing.T, dir string) (*Catalog, string) {
	t.Helper()
	var buf bytes.Buffer
	c, err := Open(nil, dir, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))),
		WithInternalTopic("__consumer_offsets", map[string]string{"retention.ms": "-1"}))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c, buf.String()
}

// Every save keeps the catalog it replaces as catalog.json.prev.
func TestSaveKeepsPrevious(t *testing.T) {
	dir := t.TempDir()
	c, _ := openLogged(t, dir)
	if _, err := c.Create("a", 1, map[string]string{"retention.ms": "1000"}, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("b", 2, nil, false, false); err != nil {
		t.Fatal(err)
	}
	var prev file
	data, err := os.ReadFile(filepath.Join(dir, prevName))
	if err == nil {
		err = json.Unmarshal(data, &prev)
	}
	if err != nil || len(prev.Topics) != 1 || prev.Topics[0].Name != "a" {
		t.Fatalf("catalog.json.prev: %v, %+v; want the catalog before b was created", err, prev)
	}
	if _, err := os.Stat(filepath.Join(dir, tmpName)); !os.IsNotExist(err) {
		t.Fatalf("catalog.json.tmp left behind: %v", err)
	}
}

func TestRecoverFromPrevious(t *testing.T) {
	dir := t.TempDir()
	c, _ := openLogged(t, dir)
	c.Create("a", 1, map[string]string{"retention.ms": "1000"}, false, false)
	c.Create("gone", 1, nil, false, false)
	first, _ := c.ReserveProducerIDs(1000)
	c.Delete("gone")
	c.Create("b", 2, nil, false, false) // the change catalog.json.prev lacks
	cluster := c.ClusterID()
	mkdirs(t, dir, "a-0", "b-0", "b-1")
	path := filepath.Join(dir, fileName)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)/2], 0o644) // truncated

	c, log := openLogged(t, dir)
	if !strings.Contains(log, "recovered the catalog") || !strings.Contains(log, "recovered_from=catalog.json.prev") ||
		!strings.Contains(log, "b (2 partitions)") {
		t.Fatalf("recovery log: %s", log)
	}
	a, ok := c.Get("a")
	if !ok || a.Configs["retention.ms"] != "1000" {
		t.Fatalf("topic a: %+v, %v; want its config kept", a, ok)
	}
	if b, ok := c.Get("b"); !ok || b.Partitions != 2 {
		t.Fatalf("topic b: %+v, %v; want it found from its directories", b, ok)
	}
	if _, ok := c.Get("gone"); ok {
		t.Fatal("a deleted topic came back")
	}
	if c.ClusterID() != cluster {
		t.Fatal("cluster id changed")
	}
	if next, _ := c.ReserveProducerIDs(1); next < first+1000 {
		t.Fatalf("producer id %d handed out again (the last reservation started at %d)", next, first)
	}
	if damaged, err := os.ReadFile(filepath.Join(dir, damagedName)); err != nil || len(damaged) != len(data)/2 {
		t.Fatalf("damaged copy: %v", err)
	}
	// The recovered catalog was saved: the next Open needs no recovery.
	if _, log := openLogged(t, dir); log != "" {
		t.Fatalf("second Open logged: %s", log)
	}
}

func TestRecoverFromPartitionDirectories(t *testing.T) {
	dir := t.TempDir()
	c, _ := openLogged(t, dir)
	c.Create("a", 1, map[string]string{"retention.ms": "1000"}, false, false)
	c.Create("b", 1, nil, false, false)
	cluster := c.ClusterID()
	mkdirs(t, dir, "a-0", "my-topic-0", "my-topic-2", "__consumer_offsets-0", "__consumer_offsets-1", "not-a-partition", "x-01")
	os.WriteFile(filepath.Join(dir, fileName), []byte(`{"version": 1, "clu`), 0o644)
	os.WriteFile(filepath.Join(dir, prevName), nil, 0o644)

	c, log := openLogged(t, dir)
	if !strings.Contains(log, "the partition directories") || !strings.Contains(log, "config override") {
		t.Fatalf("recovery log: %s", log)
	}
	got := map[string]int32{}
	for _, tp := range c.List() {
		got[tp.Name] = tp.Partitions
	}
	want := map[string]int32{"a": 1, "my-topic": 3, "__consumer_offsets": 2}
	if len(got) != len(want) {
		t.Fatalf("topics %v, want %v", got, want)
	}
	for n, p := range want {
		if got[n] != p {
			t.Fatalf("topics %v, want %v", got, want)
		}
	}
	a, _ := c.Get("a")
	co, _ := c.Get("__consumer_offsets")
	if len(a.Configs) != 0 || !co.Internal || co.Configs["retention.ms"] != "-1" || c.ClusterID() == cluster {
		t.Fatalf("a %+v, __consumer_offsets %+v", a, co)
	}
}

// A crash between the two renames of a save: catalog.json is missing and
// the complete .tmp is the newest catalog.
func TestRecoverFromTmp(t *testing.T) {
	dir := t.TempDir()
	c, _ := openLogged(t, dir)
	c.Create("a", 1, nil, false, false)
	c.Create("b", 1, nil, false, false)
	os.Rename(filepath.Join(dir, fileName), filepath.Join(dir, tmpName))
	c, log := openLogged(t, dir)
	if _, ok := c.Get("b"); !ok || !strings.Contains(log, "recovered_from=catalog.json.tmp") {
		t.Fatalf("topics %v; log %s", c.List(), log)
	}
}

func TestNewerFormatIsNotRecovered(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, fileName), []byte(`{"version": 2, "cluster_id": "x", "topics": []}`), 0o644)
	if _, err := Open(nil, dir); err == nil || !strings.Contains(err.Error(), "format version 2") {
		t.Fatalf("Open of a newer format: %v", err)
	}
}
