package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is the result of a run: one Figure per row of the table.
type Report struct {
	Started  time.Time     `json:"started"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Machine  Machine       `json:"machine"`
	Rounds   int           `json:"rounds"`
	Duration time.Duration `json:"duration_ns"`
	Brokers  []string      `json:"brokers,omitempty"` // set when Rewind was external
	// Kfake is the kfakepeer binary that ran kfake, or "not measured: "
	// and the reason.
	Kfake string `json:"kfake"`
	// Kafka describes the Apache Kafka peer (version, how it was started,
	// heap), or "not measured: " and the reason.
	Kafka string `json:"kafka"`
	// OtherCPU is the median, over the measurements, of the share of the
	// machine's CPU used outside the bench process (other processes, and
	// kernel work such as page writeback); OtherCPUMax the largest.
	OtherCPU    float64  `json:"other_cpu"`
	OtherCPUMax float64  `json:"other_cpu_max"`
	Figures     []Figure `json:"figures"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs    int    `json:"cpus"`
	CPU     string `json:"cpu"`
	MemMiB  int64  `json:"mem_mib"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	DataDir string `json:"data_dir"`
}

// Figure is one measured quantity for Rewind and kfake, with the machine
// limit it is bounded by. Values are medians of the runs; a nil value was
// not measured.
type Figure struct {
	Name   string   `json:"figure"`
	Unit   string   `json:"unit"`
	Rewind *float64 `json:"rewind,omitempty"`
	Kfake  *float64 `json:"kfake,omitempty"`
	Ratio  *float64 `json:"ratio,omitempty"` // Rewind / kfake
	// Ceiling is the clients' own ceiling: the same load against a kfake
	// that stores and reads nothing (BlackholeProduce, SyntheticFetch).
	Ceiling  *float64  `json:"client_ceiling,omitempty"`
	Limit    *float64  `json:"limit,omitempty"`
	LimitOf  string    `json:"limit_of,omitempty"`
	Fraction *float64  `json:"fraction_of_limit,omitempty"` // Rewind / limit
	Target   string    `json:"target,omitempty"`
	Met      *bool     `json:"target_met,omitempty"`
	RRuns    []float64 `json:"rewind_runs,omitempty"`
	KRuns    []float64 `json:"kfake_runs,omitempty"`
	CRuns    []float64 `json:"ceiling_runs,omitempty"`
	// Kafka is Apache Kafka as users run it (default flush settings),
	// KafkaSync like for like with Rewind's fsync=always
	// (log.flush.interval.messages=1), on the figures where durability
	// matters; their ratios are Rewind / Kafka.
	Kafka          *float64  `json:"kafka,omitempty"`
	KafkaRatio     *float64  `json:"kafka_ratio,omitempty"`
	KafkaSync      *float64  `json:"kafka_sync,omitempty"`
	KafkaSyncRatio *float64  `json:"kafka_sync_ratio,omitempty"`
	KafkaRuns      []float64 `json:"kafka_runs,omitempty"`
	KafkaSyncRuns  []float64 `json:"kafka_sync_runs,omitempty"`

	goal goal
}

// goal is a figure's target: Rewind at least minRatio × kfake and at least
// minFrac of the limit, or at most maxValue (for times and sizes).
type goal struct {
	minRatio, minFrac, maxValue float64
}

func (g goal) text(unit string) string {
	var parts []string
	if g.minRatio > 0 {
		parts = append(parts, fmt.Sprintf("≥%gx", g.minRatio))
	}
	if g.minFrac > 0 {
		parts = append(parts, fmt.Sprintf("≥%g%% lim", g.minFrac*100))
	}
	if g.maxValue > 0 {
		parts = append(parts, fmt.Sprintf("<%g %s", g.maxValue, unit))
	}
	return strings.Join(parts, " ")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ptr(v float64) *float64 { return &v }

// newFigure makes a figure from the runs of each system.
func newFigure(name, unit string, rw, kf []float64, limit float64, limitOf string, g goal) Figure {
	f := Figure{Name: name, Unit: unit, RRuns: rw, KRuns: kf, Target: g.text(unit), LimitOf: limitOf, goal: g}
	if len(rw) > 0 {
		f.Rewind = ptr(median(rw))
	}
	if len(kf) > 0 {
		f.Kfake = ptr(median(kf))
	}
	f.setLimit(limit)
	return f
}

// setLimit sets the machine limit and (re)computes the derived columns.
func (f *Figure) setLimit(limit float64) {
	f.Ratio, f.Limit, f.Fraction, f.Met = nil, nil, nil, nil
	if f.Rewind != nil && f.Kfake != nil && *f.Kfake > 0 {
		f.Ratio = ptr(*f.Rewind / *f.Kfake)
	}
	if limit > 0 {
		f.Limit = ptr(limit)
		if f.Rewind != nil {
			f.Fraction = ptr(*f.Rewind / limit)
		}
	}
	g := f.goal
	if f.Rewind == nil || f.Target == "" {
		return
	}
	met := true
	if g.minRatio > 0 {
		met = met && f.Ratio != nil && *f.Ratio >= g.minRatio
	}
	if g.minFrac > 0 {
		met = met && f.Fraction != nil && *f.Fraction >= g.minFrac
	}
	if g.maxValue > 0 {
		met = met && *f.Rewind < g.maxValue
	}
	f.Met = &met
}

func num(v *float64) string {
	if v == nil || math.IsNaN(*v) {
		return "-"
	}
	switch a := math.Abs(*v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", *v)
	case a >= 100:
		return fmt.Sprintf("%.0f", *v)
	case a >= 10:
		return fmt.Sprintf("%.1f", *v)
	default:
		return fmt.Sprintf("%.2f", *v)
	}
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "Rewind vs kfake and Apache Kafka, %d round(s) per figure (A B alternating, medians), %v per timed run\n", r.Rounds, r.Duration)
	fmt.Fprintf(w, "machine: %d CPU %s, %d MiB RAM, kernel %s, %s, data dir %s\n", m.CPUs, m.CPU, m.MemMiB, m.Kernel, m.Go, m.DataDir)
	if r.OtherCPUMax > 0 {
		fmt.Fprintf(w, "CPU used outside this process while measuring (other processes, kernel writeback): median %.0f%%, at most %.0f%% of the machine\n", r.OtherCPU*100, r.OtherCPUMax*100)
	}
	if r.Kfake != "" {
		fmt.Fprintf(w, "kfake: %s\n", r.Kfake)
	}
	if r.Kafka != "" {
		fmt.Fprintf(w, "Kafka: %s\n", r.Kafka)
	}
	if len(r.Brokers) > 0 {
		fmt.Fprintf(w, "Rewind: external at %s\n", strings.Join(r.Brokers, ","))
	}
	fmt.Fprintln(w)
	rows := [][]string{{"figure", "unit", "Rewind", "kfake", "ratio", "Kafka", "x Kafka", "Kafka flush=1", "x Kafka flush=1", "client ceiling", "machine limit", "of limit", "target", ""}}
	for _, f := range r.Figures {
		frac := "-"
		if f.Fraction != nil {
			frac = fmt.Sprintf("%.0f%%", *f.Fraction*100)
		}
		ratio := times(f.Ratio)
		limit := num(f.Limit)
		if f.Limit != nil {
			limit += " " + f.LimitOf
		}
		met := ""
		if f.Met != nil {
			met = "ok"
			if !*f.Met {
				met = "MISSED"
			}
		}
		rows = append(rows, []string{f.Name, f.Unit, num(f.Rewind), num(f.Kfake), ratio,
			num(f.Kafka), times(f.KafkaRatio), num(f.KafkaSync), times(f.KafkaSyncRatio), num(f.Ceiling), limit, frac, f.Target, met})
	}
	writeColumns(w, rows, 2) // names, units: left; numbers: right
	return nil
}

// writeColumns prints rows as aligned columns, the first left columns
// aligned left and the others right, the last two left again.
func writeColumns(w io.Writer, rows [][]string, left int) {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < left || i >= len(row)-2 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func times(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fx", *v)
}

// withKafka adds Kafka's runs (default flush settings) and, where
// durability matters, its like-for-like runs to f.
func (f Figure) withKafka(runs, syncRuns []float64) Figure {
	ratio := func(v *float64) *float64 {
		if f.Rewind == nil || v == nil || *v <= 0 {
			return nil
		}
		return ptr(*f.Rewind / *v)
	}
	if len(runs) > 0 {
		f.KafkaRuns, f.Kafka = runs, ptr(median(runs))
		f.KafkaRatio = ratio(f.Kafka)
	}
	if len(syncRuns) > 0 {
		f.KafkaSyncRuns, f.KafkaSync = syncRuns, ptr(median(syncRuns))
		f.KafkaSyncRatio = ratio(f.KafkaSync)
	}
	return f
}

// withCeiling adds the client ceiling's runs to f.
func (f Figure) withCeiling(runs []float64) Figure {
	if len(runs) > 0 {
		f.CRuns, f.Ceiling = runs, ptr(median(runs))
	}
	return f
}

// WriteJSON writes the report as one JSON document (stable field names).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
