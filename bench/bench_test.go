package bench

import (
	"bytes"
	"context"
	"encoding/json"
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
		newFigure("latency p99", "ms", []float64{4}, []float64{2}, 0, "", goal{maxValue: 10}),
	}}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"figure", "client ceiling", "produce 1 KiB", "2.00x", "50%", "≥2x ≥50% lim", "ok"} {
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
	cfg.Scenarios = []string{"limits", "latency", "commits"}
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
	for _, want := range []string{"machine: loopback TCP, one connection", "offset commits, 4 committers, fsync=always"} {
		if !names[want] {
			t.Errorf("no figure %q in %v", want, names)
		}
	}
}
