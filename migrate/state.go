package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// State is what a run has done, kept in a file so that an interrupted
// migration resumes instead of starting over. It is written atomically
// (temporary file, fsync, rename) after every acknowledged chunk.
type State struct {
	path string

	SourceCluster string `json:"source_cluster"`
	TargetCluster string `json:"target_cluster"`
	// Created lists the target topics this migration created or adopted
	// empty: only those may hold records when a run resumes.
	Created map[string]bool `json:"created"`
	// Partitions by "topic/partition".
	Partitions map[string]*PartState `json:"partitions"`
	// Committed lists the groups whose offsets are committed on the target.
	Committed map[string]bool `json:"committed"`
	// CommittedAt is, per group and "topic/partition", the source offset
	// a run committed and its translation: a later run commits a group
	// again only if its source offsets moved, and only if the target still
	// holds what was committed (else it consumes there already).
	CommittedAt map[string]map[string]Commit `json:"committed_at,omitempty"`
}

// Commit is one offset a run committed on the target.
type Commit struct {
	Source int64 `json:"source"`
	Target int64 `json:"target"`
}

// PartState is how far one partition's copy is acknowledged.
type PartState struct {
	// SourceNext is the next source offset to read: every record below it
	// is on the target.
	SourceNext int64 `json:"source_next"`
	// TargetNext is the target offset after the last copied record.
	TargetNext int64 `json:"target_next"`
	// Copied counts the records written to the target.
	Copied int64 `json:"copied"`
	// Done is set once the partition is copied up to its stable end.
	Done bool `json:"done"`
	// Translated maps a group's committed source offset to the target
	// offset of the first copied record at or after it.
	Translated map[int64]int64 `json:"translated,omitempty"`
}

func partKey(topic string, part int32) string {
	return topic + "/" + strconv.Itoa(int(part))
}

// LoadState reads the state file at path, or returns a new state if there
// is none.
func LoadState(path string) (*State, error) {
	st := &State{path: path, Created: map[string]bool{}, Partitions: map[string]*PartState{}, Committed: map[string]bool{}, CommittedAt: map[string]map[string]Commit{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	st.path = path
	if st.Created == nil {
		st.Created = map[string]bool{}
	}
	if st.Partitions == nil {
		st.Partitions = map[string]*PartState{}
	}
	if st.Committed == nil {
		st.Committed = map[string]bool{}
	}
	if st.CommittedAt == nil {
		st.CommittedAt = map[string]map[string]Commit{}
	}
	return st, nil
}

// Path is the file the state is saved to.
func (st *State) Path() string { return st.path }

// Save writes the state atomically; without a path it keeps it in memory.
func (st *State) Save() error {
	if st.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(st.path)
	f, err := os.CreateTemp(dir, ".migrate-state-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, st.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save state %s: %w", st.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// upToDate says whether g's planned source offsets are the ones a run
// committed already.
func (st *State) upToDate(g GroupPlan) bool {
	at := st.CommittedAt[g.Group]
	if !st.Committed[g.Group] || len(at) != len(g.Offsets) {
		return false
	}
	for _, o := range g.Offsets {
		if c, ok := at[partKey(o.Topic, o.Partition)]; !ok || c.Source != o.Source {
			return false
		}
	}
	return true
}

func (st *State) part(topic string, part int32) *PartState {
	k := partKey(topic, part)
	ps := st.Partitions[k]
	if ps == nil {
		ps = &PartState{SourceNext: -1, Translated: map[int64]int64{}}
		st.Partitions[k] = ps
	}
	if ps.Translated == nil {
		ps.Translated = map[int64]int64{}
	}
	return ps
}
