package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFigureTargets(t *testing.T) {
	f := newFigure("produce", "MB/s", []float64{300, 100, 200}, []float64{100, 120, 80}, 350, "disk", goal{minRatio: 2, minFrac: 0.5})
	if *f.Rewind != 200 || *f.Kfake != 100 || *f.Ratio != 2 {
		t.Fatalf("medians: rewind %v kfake %v ratio %v", *f.Rewind, *f.Kfake, *f.Ratio)
	}
	if !*f.Met {
		t.Fatalf("2x kfake and 57%% of the limit: target not met")
	}
	f.setLimit(500)
	if *f.Met {
		t.Fatalf("40%% of the limit: target met")
	}
	lat := newFigure("p99", "ms", []float64{12}, []float64{3}, 0, "", goal{maxValue: 10})
	if *lat.Met {
		t.Fatal("12 ms under a 10 ms target")
	}
	none := newFigure("commits", "commits/s", []float64{1}, nil, 0, "", goal{})
	if none.Met != nil || none.Ratio != nil {
		t.Fatal("a figure without target or kfake run has a verdict or ratio")
	}
}

func TestReportOutput(t *testing.T) {
	rep := &Report{Rounds: 3, Duration: time.Second, Figures: []Figure{
		newFigure("produce 1 KiB", "MB/s", []float64{400}, []float64{200}, 800, "disk", goal{minRatio: 2, minFrac: 0.5}).withCeiling([]float64{900}),
		newFigure("latency p99", "ms", []float64{4}, []float64{2}, 0, "", goal{maxValue: 10}).withKafka([]float64{8, 2, 16}, []float64{40}),
	}}
	if f := rep.Figures[1]; *f.Kafka != 8 || *f.KafkaRatio != 0.5 || *f.KafkaSync != 40 || *f.KafkaSyncRatio != 0.1 {
		t.Fatalf("Kafka median %v ratio %v, like for like %v ratio %v", *f.Kafka, *f.KafkaRatio, *f.KafkaSync, *f.KafkaSyncRatio)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"figure", "client ceiling", "produce 1 KiB", "2.00x", "50%", "≥2x ≥50% lim", "ok", "x Kafka", "Kafka flush=1", "0.50x", "0.10x"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Figures []struct {
			Figure  string   `json:"figure"`
			Rewind  float64  `json:"rewind"`
			Ratio   *float64 `json:"ratio"`
			Ceiling *float64 `json:"client_ceiling"`
			Met     *bool    `json:"target_met"`
		} `json:"figures"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Figures) != 2 || back.Figures[0].Rewind != 400 || *back.Figures[0].Ratio != 2 || *back.Figures[0].Ceiling != 900 || !*back.Figures[1].Met {
		t.Fatalf("JSON round trip: %s", js.String())
	}
}

// TestRunShort runs a few cheap scenarios end to end; `rewind bench
// --smoke` (.ci/bench-smoke.sh) runs them all.
func TestRunShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	cfg := SmokeConfig()
	cfg.DataDir = t.TempDir()
	cfg.Kafka = "off" // TestRunKafka measures it
	cfg.Scenarios = []string{"limits", "latency", "commits", "startup"}
	cfg.StartPartition = 20
	cfg.Duration, cfg.Warmup = 800*time.Millisecond, 200*time.Millisecond
	cfg.LatencyRate = 1e6
	cfg.LimitBytes = 8 << 20
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range rep.Figures {
		names[f.Name] = true
		if f.Limit == nil && (f.Rewind == nil || f.Kfake == nil) {
			t.Errorf("%s: Rewind or kfake not measured", f.Name)
		}
	}
	for _, want := range []string{"machine: loopback TCP, one connection", "offset commits, 4 committers, fsync=always",
		"offset commits, 64 committers, fsync=always", "offset commits, 64 committers, fsync=always, p99 latency",
		"machine: fsync latency, 512 B append + fdatasync (median)", "machine: 4 committers' bound, 4 ÷ (fsync + kfake's time per commit)",
		"start-to-ready, 20 partitions on disk, clean shutdown"} {
		if !names[want] {
			t.Errorf("no figure %q in %v", want, names)
		}
	}
	// Run from the source tree, kfake is bench/kfakepeer built with go.
	if filepath.Base(rep.Kfake) != peerName {
		t.Errorf("kfake peer %q, want a %s built from bench/kfakepeer", rep.Kfake, peerName)
	}
}

// TestRunWithoutKfake: with no kfake peer the run measures Rewind alone,
// leaves the kfake columns empty and says why.
func TestRunWithoutKfake(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	cfg := SmokeConfig()
	cfg.DataDir = t.TempDir()
	cfg.Kfake = "off"
	cfg.Kafka = "off"
	cfg.Scenarios = []string{"commits", "startup"}
	cfg.Duration, cfg.Warmup = 500*time.Millisecond, 100*time.Millisecond
	cfg.StartPartition = 10
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kfake != "not measured: --kfake off" {
		t.Errorf("Report.Kfake = %q", rep.Kfake)
	}
	// The machine's fsync latency (median, mean) and parallel fsync rate,
	// 4 and 64 committers (rate, p99, the machine's CPU per commit and
	// its busy cores), start-up.
	if len(rep.Figures) != 12 {
		t.Fatalf("figures %+v", rep.Figures)
	}
	cpuRows := 0
	for _, f := range rep.Figures {
		if strings.HasPrefix(f.Name, "machine: ") {
			continue
		}
		if f.Rewind == nil || f.Kfake != nil || f.Ratio != nil || len(f.KRuns) != 0 {
			t.Errorf("%s: rewind %v kfake %v ratio %v", f.Name, f.Rewind, f.Kfake, f.Ratio)
			continue
		}
		// Committing takes CPU, and no more than every core.
		switch {
		case strings.Contains(f.Name, "machine CPU per commit"):
			cpuRows++
			if *f.Rewind <= 0 || f.Unit != "µs" {
				t.Errorf("%s: %v %s", f.Name, *f.Rewind, f.Unit)
			}
		case strings.Contains(f.Name, "machine cores busy"):
			cpuRows++
			if *f.Rewind <= 0 || *f.Rewind > 100.5 {
				t.Errorf("%s: %v%%", f.Name, *f.Rewind)
			}
		}
	}
	if cpuRows != 4 {
		t.Errorf("%d rows of the machine's CPU, want 4 (per commit and busy, 4 and 64 committers)", cpuRows)
	}
	var out bytes.Buffer
	rep.WriteTable(&out)
	if !strings.Contains(out.String(), "kfake: not measured: --kfake off") {
		t.Errorf("the table does not say kfake was skipped:\n%s", out.String())
	}
}

// TestFindPeer: --kfake names a binary, rewind-kfakepeer next to the
// rewind binary is found, and outside a source tree with neither the run
// has no peer and says how to get one.
func TestFindPeer(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, peerName)
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	nolog := func(string, ...any) {}
	p, err := findPeer(&Config{Kfake: exe}, dir, nolog)
	if err != nil || p.exe != exe {
		t.Fatalf("--kfake %s: %+v %v", exe, p, err)
	}
	if _, err := findPeer(&Config{Kfake: filepath.Join(dir, "missing")}, dir, nolog); err == nil {
		t.Fatal("--kfake naming no file is not an error")
	}
	p, err = findPeer(&Config{Exe: filepath.Join(dir, "rewind")}, dir, nolog)
	if err != nil || p.exe != exe {
		t.Fatalf("next to rewind: %+v %v", p, err)
	}
	t.Chdir(t.TempDir())
	t.Setenv("PATH", t.TempDir())
	p, err = findPeer(&Config{Exe: filepath.Join(t.TempDir(), "rewind")}, dir, nolog)
	if err != nil || p.ok() || !strings.Contains(p.why, "bench/kfakepeer") {
		t.Fatalf("no peer anywhere: %+v %v", p, err)
	}
}
