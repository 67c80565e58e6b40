package storage

import (
	"fmt"
	"testing"
)

func TestAppendReadAcrossRolls(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 4096
	e.cfg.IndexIntervalBytes = 512
	l := e.open()
	var want int64
	for i := 0; i < 100; i++ {
		res := mustAppend(t, l, batch(3, 100, int64(1000+i)))
		if res.BaseOffset != want || res.LastOffset != want+2 {
			t.Fatalf("append %d: got %d..%d, want %d..%d", i, res.BaseOffset, res.LastOffset, want, want+2)
		}
		want += 3
	}
	if l.HighWatermark() != 300 || l.LogEndOffset() != 300 {
		t.Fatalf("hw %d leo %d", l.HighWatermark(), l.LogEndOffset())
	}
	recs := readAll(t, l, 0)
	if len(recs) != 300 {
		t.Fatalf("read %d records", len(recs))
	}
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Key) != fmt.Sprintf("k%d", i%3) {
			t.Fatalf("record %d: offset %d key %q", i, r.Offset, r.Key)
		}
	}
	for _, from := range []int64{1, 2, 150, 299} {
		recs := readAll(t, l, from)
		if len(recs) != int(300-from) || recs[0].Offset != from {
			t.Fatalf("from %d: %d records, first %d", from, len(recs), recs[0].Offset)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = e.open()
	if got := readAll(t, l, 0); len(got) != 300 {
		t.Fatalf("after reopen %d records", len(got))
	}
}
