package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rewindhq/rewind/migrate"
)

// migrateProgress shows a migration's copy on stderr: a bar redrawn in
// place on a terminal, a plain line every plainEvery otherwise (a log
// file should not get a line a second), and with --output json one JSON
// object per line, so that stdout keeps the single result document.
type migrateProgress struct {
	w     io.Writer
	mode  string // "tty", "plain" or "json"
	start time.Time
	last  time.Time // last plain line
	now   func() time.Time
}

const plainEvery = 10 * time.Second

func newMigrateProgress(w io.Writer, tty, json bool) *migrateProgress {
	mp := &migrateProgress{w: w, mode: "plain", now: time.Now}
	switch {
	case json:
		mp.mode = "json"
	case tty:
		mp.mode = "tty"
	}
	mp.start = mp.now()
	return mp
}

// progressEvent is one --output json progress line.
type progressEvent struct {
	Event          string  `json:"event"` // "progress", or "copied" at the end
	Copied         int64   `json:"copied_records"`
	Total          int64   `json:"total_offsets"`
	Bytes          int64   `json:"copied_bytes"`
	Percent        float64 `json:"percent"`
	RecordsPerSec  float64 `json:"records_per_second"`
	BytesPerSec    float64 `json:"bytes_per_second"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	ETASeconds     float64 `json:"eta_seconds,omitempty"`
}

func (mp *migrateProgress) event(p migrate.Progress) progressEvent {
	el := mp.now().Sub(mp.start).Seconds()
	e := progressEvent{Event: "progress", Copied: p.Copied, Total: p.Total, Bytes: p.Bytes, Percent: 100, ElapsedSeconds: el}
	if p.Done {
		e.Event = "copied"
	}
	if p.Total > 0 && !p.Done {
		e.Percent = min(100, 100*float64(p.Copied)/float64(p.Total))
	}
	if el > 0 {
		e.RecordsPerSec, e.BytesPerSec = float64(p.Copied)/el, float64(p.Bytes)/el
	}
	if e.RecordsPerSec > 0 && !p.Done {
		e.ETASeconds = float64(max(p.Total-p.Copied, 0)) / e.RecordsPerSec
	}
	return e
}

// Report is migrate.Migrator's Progress.
func (mp *migrateProgress) Report(p migrate.Progress) {
	e := mp.event(p)
	switch mp.mode {
	case "json":
		b, _ := json.Marshal(e)
		fmt.Fprintf(mp.w, "%s\n", b)
	case "tty":
		const width = 30
		fill := int(e.Percent / 100 * width)
		fmt.Fprintf(mp.w, "\r\033[K[%s%s] %s", strings.Repeat("#", fill), strings.Repeat(".", width-fill), progressLine(e))
		if p.Done {
			fmt.Fprintln(mp.w)
		}
	default:
		if t := mp.now(); p.Done || t.Sub(mp.last) >= plainEvery {
			mp.last = t
			fmt.Fprintln(mp.w, progressLine(e))
		}
	}
}

func progressLine(e progressEvent) string {
	s := fmt.Sprintf("%5.1f%%  %d of %d records, %s, %s records/s, %s/s",
		e.Percent, e.Copied, e.Total, humanBytes(float64(e.Bytes)), humanCount(e.RecordsPerSec), humanBytes(e.BytesPerSec))
	if e.Event == "copied" {
		return s + fmt.Sprintf(", copied in %s", time.Duration(e.ElapsedSeconds*float64(time.Second)).Round(100*time.Millisecond))
	}
	if e.ETASeconds > 0 {
		s += fmt.Sprintf(", about %s left", time.Duration(e.ETASeconds*float64(time.Second)).Round(time.Second))
	}
	return s
}

func humanCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func humanBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}
