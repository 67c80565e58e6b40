package storage

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCompact10MKeys compacts a log of 10 million distinct keys (and
// 1 million overwrites of random ones, so that there is something to
// remove; about 500 MB) with the default offset map (32 MiB: several
// passes) and with one large enough for a single pass, and reports the
// peak heap and the peak RSS of the process during the run, its wall and
// CPU time. Building the
// log takes longer than compacting it; run one iteration:
//
//	go test -run '^$' -bench Compact10MKeys -benchtime 1x -timeout 1h ./storage
//
// REWIND_BENCH_COMPACT_KEYS sets another number of distinct keys.
func BenchmarkCompact10MKeys(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a log of about 500 MB")
	}
	nkeys := 10_000_000
	if s := os.Getenv("REWIND_BENCH_COMPACT_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("REWIND_BENCH_COMPACT_KEYS=%q", s)
		}
		nkeys = n
	}
	for _, budget := range []int64{DefaultDedupeBufferSize, 1 << 30} {
		b.Run(fmt.Sprintf("dedupe=%dMiB", budget>>20), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				l := buildDistinctKeys(b, nkeys)
				// Only what the run adds counts: the log's build-up is
				// garbage by now, and the peak RSS starts from here.
				runtime.GC()
				debug.FreeOSMemory()
				resetPeakRSS(b)
				var base runtime.MemStats
				runtime.ReadMemStats(&base)
				stop := sampleHeap()
				cpu0 := cpuTime()
				b.StartTimer()
				start := time.Now()
				st, err := l.Compact(CompactPolicy{DeleteRetention: time.Hour, DedupeBufferSize: budget})
				elapsed := time.Since(start)
				b.StopTimer()
				cpu := cpuTime() - cpu0
				peakHeap := stop()
				if err != nil {
					b.Fatal(err)
				}
				if st.RecordsRemoved != int64(nkeys/10) {
					b.Fatalf("removed %d records, want %d (%+v)", st.RecordsRemoved, nkeys/10, st)
				}
				b.ReportMetric(float64(peakHeap-base.HeapInuse)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-rss-MiB")
				b.ReportMetric(float64(st.MapSize)/(1<<20), "map-MiB")
				b.ReportMetric(float64(st.Passes), "passes")
				b.ReportMetric(float64(st.BytesBefore)/(1<<20), "log-MiB")
				b.ReportMetric(elapsed.Seconds(), "s/compaction")
				// CPU time says more than wall time on a shared machine.
				b.ReportMetric(cpu.Seconds(), "cpu-s/compaction")
				l.Close()
			}
		})
	}
}

// buildDistinctKeys appends nkeys distinct keys in batches of 1,000
// records, then nkeys/10 overwrites of random keys, and rolls.
func buildDistinctKeys(b *testing.B, nkeys int) *Log {
	b.Helper()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 128 << 20
	cfg.RetentionMs = -1
	l, err := Open(b.TempDir(), cfg, Options{Fsync: FsyncNever, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ts := time.Now().Add(-2 * time.Hour).UnixMilli()
	recs := make([]Record, 0, 1000)
	val := bytes.Repeat([]byte("v"), 16)
	flush := func() {
		if _, err := l.Append(BuildBatch(ts, recs)); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := range nkeys + nkeys/10 {
		k := i
		if i >= nkeys {
			k = rng.IntN(nkeys)
		}
		recs = append(recs, Record{Timestamp: ts, Key: fmt.Appendf(nil, "key-%010d", k), Value: val})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
	l.appendMu.Lock()
	_, err = l.roll(l.segs[len(l.segs)-1], l.nowMs())
	l.appendMu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// sampleHeap samples HeapInuse every 10 ms until the returned function is
// called, which returns the largest value seen.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak.Load() {
			peak.Store(ms.HeapInuse)
		}
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		sample()
		return peak.Load()
	}
}

// cpuTime is the CPU time the process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the process's VmHWM to its current RSS (Linux).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS: %v", err)
	}
}

// peakRSS is the process's VmHWM in bytes, or 0 where unknown.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
