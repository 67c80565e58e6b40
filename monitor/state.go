package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/rewindhq/rewind/lageval"
)

// The state file keeps what __consumer_offsets forgets: compaction keeps
// only a group's last commit per partition, so the positions before it
// (the history, what a reset to a past time needs) and the Burrow windows
// would be lost at each restart of the monitor. It holds, per group and
// partition, the current position, at most HistoryPerPartition superseded
// ones (none older than HistoryRetention) and the window (lageval
// Intervals commits): bounded by the group partitions the cluster has.
// It is zstd-compressed JSON, written to a temporary file, synced and
// renamed over the old one, so a crash leaves the old or the new file,
// never a torn one.

const stateVersion = 1

type stateFile struct {
	Version int          `json:"version"`
	Saved   time.Time    `json:"saved"`
	Groups  []stateGroup `json:"groups"`
}

type stateGroup struct {
	Name     string      `json:"name"`
	Consumer bool        `json:"consumer,omitempty"`
	Gone     bool        `json:"gone,omitempty"`
	Parts    []statePart `json:"parts"`
}

type statePart struct {
	Topic     string           `json:"t"`
	Partition int32            `json:"p"`
	Current   *statePos        `json:"c,omitempty"`
	History   []statePos       `json:"h,omitempty"`
	Window    []lageval.Commit `json:"w,omitempty"`
}

type statePos struct {
	Offset int64  `json:"o"`
	Epoch  int32  `json:"e"`
	Since  int64  `json:"s"`
	Last   int64  `json:"l"`
	Until  int64  `json:"u,omitempty"`
	Txn    bool   `json:"x,omitempty"`
	Meta   string `json:"m,omitempty"`
	Expire int64  `json:"ex,omitempty"`
}

func toStatePos(p position) statePos {
	return statePos{Offset: p.offset, Epoch: p.epoch, Since: p.since, Last: p.last, Until: p.until, Txn: p.txn}
}

func (s statePos) position() position {
	return position{offset: s.Offset, epoch: s.Epoch, since: s.Since, last: s.Last, until: s.Until, txn: s.Txn}
}

// saveState writes the state file atomically, if anything changed.
func (m *Monitor) saveState(path string) error {
	m.mu.Lock()
	if !m.dirty {
		m.mu.Unlock()
		return nil
	}
	m.dirty = false
	sf := stateFile{Version: stateVersion, Saved: time.Now().UTC()}
	before := time.Now().Add(-m.cfg.HistoryRetention).UnixMilli()
	for name, g := range m.groups {
		sg := stateGroup{Name: name, Consumer: g.consumer, Gone: g.gone}
		parts := map[tpKey]*statePart{}
		get := func(tp tpKey) *statePart {
			sp := parts[tp]
			if sp == nil {
				sp = &statePart{Topic: tp.topic, Partition: tp.part}
				parts[tp] = sp
			}
			return sp
		}
		for tp, c := range g.offsets {
			p := toStatePos(c.position)
			p.Meta, p.Expire = c.meta, c.expire
			get(tp).Current = &p
		}
		for tp, h := range g.history {
			h = pruneHistory(h, before)
			g.history[tp] = h
			if len(h) == 0 {
				delete(g.history, tp)
				continue
			}
			sp := get(tp)
			for _, p := range h {
				sp.History = append(sp.History, toStatePos(p))
			}
		}
		for tp, sp := range parts {
			_ = tp
			sg.Parts = append(sg.Parts, *sp)
		}
		sf.Groups = append(sf.Groups, sg)
	}
	m.mu.Unlock()
	for i := range sf.Groups {
		ws := m.rec.Windows(sf.Groups[i].Name)
		for j := range sf.Groups[i].Parts {
			sp := &sf.Groups[i].Parts[j]
			sp.Window = ws[lageval.TopicPartition{Topic: sp.Topic, Partition: sp.Partition}]
		}
	}
	if err := writeState(path, &sf); err != nil {
		m.mu.Lock()
		m.dirty = true
		m.mu.Unlock()
		return err
	}
	return nil
}

func writeState(path string, sf *stateFile) error {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return err
	}
	if err := json.NewEncoder(zw).Encode(sf); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("monitor: state file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("monitor: state file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("monitor: state file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("monitor: state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("monitor: state file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// loadState reads the state file (a missing one is an empty state). A
// file that does not decode is an error, not silently replaced: it may be
// the only copy of history compaction removed.
func (m *Monitor) loadState(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("monitor: state file: %w", err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f, zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return fmt.Errorf("monitor: state file %s: %w", path, err)
	}
	defer zr.Close()
	var sf stateFile
	if err := json.NewDecoder(io.LimitReader(zr, 4<<30)).Decode(&sf); err != nil {
		return fmt.Errorf("monitor: state file %s does not decode (move it away to start afresh): %w", path, err)
	}
	if sf.Version != stateVersion {
		return fmt.Errorf("monitor: state file %s has version %d, this monitor reads %d", path, sf.Version, stateVersion)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sg := range sf.Groups {
		name, g := m.groupLocked(sg.Name)
		g.consumer, g.gone = sg.Consumer, sg.Gone
		for _, sp := range sg.Parts {
			tp := tpKey{m.intern(sp.Topic), sp.Partition}
			if sp.Current != nil {
				g.offsets[tp] = &current{position: sp.Current.position(), meta: sp.Current.Meta, expire: sp.Current.Expire}
			}
			for _, p := range sp.History {
				g.history[tp] = append(g.history[tp], p.position())
			}
			for _, c := range sp.Window {
				le := int64(-1)
				if c.Lag >= 0 {
					le = c.Offset + c.Lag
				} else {
					m.unknownLag = true
				}
				m.rec.Commit(name, lageval.TopicPartition{Topic: tp.topic, Partition: tp.part}, c.Offset, c.Time, le)
			}
		}
	}
	return nil
}
