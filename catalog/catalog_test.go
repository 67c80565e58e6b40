package catalog

import (
	"errors"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/storage/vfs"
)

func TestTopicNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"a.b_c-D9", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"has space", false},
		{"slash/no", false},
		{"ünicode", false},
	} {
		err := ValidateTopicName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateTopicName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("error %v does not wrap ErrInvalidTopic", err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{RetentionMs, "-1", true},
		{RetentionMs, "1000", true},
		{RetentionMs, "-2", false},
		{RetentionMs, "soon", false},
		{CleanupPolicy, "delete", true},
		{CleanupPolicy, "compact", false},
		{CleanupPolicy, "delete,compact", false},
		{MessageTimestampType, "LogAppendTime", true},
		{MessageTimestampType, "Wallclock", false},
		{"no.such.config", "1", false},
		{SegmentBytes, "10", false},
	} {
		err := ValidateConfig(tc.name, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateConfig(%s=%s) = %v, want ok=%v", tc.name, tc.value, err, tc.ok)
		}
	}
	if err := ValidateConfig(CleanupPolicy, "compact"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("compact must be refused with a clear reason, got %v", err)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	id := c.ClusterID()
	if len(id) != 22 {
		t.Fatalf("cluster id %q is not a 22-character base64 uuid", id)
	}
	orders, err := c.Create("orders", 3, map[string]string{RetentionMs: "1000"}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("orders", 1, nil, false, false); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create: %v, want ErrTopicExists", err)
	}
	if _, err := c.Create("bad", 1, map[string]string{CleanupPolicy: "compact"}, false, false); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("compact topic: %v, want ErrInvalidConfig", err)
	}
	if _, err := c.Create("dry", 1, nil, false, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("dry"); ok {
		t.Fatal("validate-only create must not create the topic")
	}
	if _, err := c.SetPartitions("orders", 2, false); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("shrinking: %v, want ErrInvalidPartitions", err)
	}
	if _, err := c.SetPartitions("orders", 5, false); err != nil {
		t.Fatal(err)
	}
	pid1, err := c.ReserveProducerIDs(10)
	if err != nil {
		t.Fatal(err)
	}

	c2, err := Open(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	if c2.ClusterID() != id {
		t.Fatalf("cluster id changed across reopen: %s -> %s", id, c2.ClusterID())
	}
	got, ok := c2.Get("orders")
	if !ok || got.Partitions != 5 || got.ID != orders.ID || got.Config(RetentionMs) != "1000" || got.Config(SegmentBytes) != "1073741824" {
		t.Fatalf("reopened topic = %+v", got)
	}
	if sc := got.StorageConfig(); sc.RetentionMs != 1000 || sc.SegmentBytes != 1<<30 {
		t.Fatalf("storage config = %+v", sc)
	}
	pid2, err := c2.ReserveProducerIDs(10)
	if err != nil {
		t.Fatal(err)
	}
	if pid2 < pid1+10 {
		t.Fatalf("producer ids reused after reopen: %d then %d", pid1, pid2)
	}
	if err := c2.Delete("orders"); err != nil {
		t.Fatal(err)
	}
	if len(c2.List()) != 0 {
		t.Fatalf("topics left: %+v", c2.List())
	}
}
