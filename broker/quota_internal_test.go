package broker

import (
	"testing"
	"time"
)

// TestQuotaSensorsExpire: sensors of clients that stopped are dropped
// once their samples are all past, so cycling through client ids under a
// default quota holds only the last window's sensors.
func TestQuotaSensorsExpire(t *testing.T) {
	set := newQuotaSet(map[quotaEntity]map[string]float64{{client: defaultName}: {keyProducerByteRate: 1000}})
	s := &quotaStore{}
	s.cur.Store(set)
	q := newQuotaManagers(s, 11, time.Second)
	t0 := time.Unix(1000, 0)
	for i := 0; i < 1000; i++ {
		q.record(quotaProduce, "ANONYMOUS", "c"+string(rune('a'+i%26))+time.Duration(i).String(), 10, t0)
	}
	if n := len(q.m[quotaProduce].sensors); n != 1000 {
		t.Fatalf("%d sensors, want 1000", n)
	}
	// Past the whole window (11 s), one more request: the others go.
	q.record(quotaProduce, "ANONYMOUS", "last", 10, t0.Add(12*time.Second))
	if n := len(q.m[quotaProduce].sensors); n != 1 {
		t.Fatalf("%d sensors after the window, want 1", n)
	}
	// Within the window a sensor is kept, with its rate.
	if th := q.record(quotaProduce, "ANONYMOUS", "last", 20000, t0.Add(13*time.Second)); th == 0 {
		t.Fatal("20 KB over 11 s at 1000 B/s not throttled")
	}
}
