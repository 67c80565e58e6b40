package catalog

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// The previous catalog is kept beside the current one: every save renames
// catalog.json to catalog.json.prev before renaming the new, fsynced
// catalog.json.tmp over catalog.json (then fsyncs the directory). A crash
// between the two renames leaves no catalog.json but a complete .tmp.
//
// Open recovers from an unreadable catalog.json (truncated, garbage) in
// this order, saying what it did in the log:
//
//  1. catalog.json.tmp, if catalog.json is missing (the crash above);
//  2. catalog.json.prev: one change behind, so it is reconciled with the
//     partition directories: topics with directories but not in it are
//     added (their configs are lost: defaults), partition counts grow to
//     the directories found, topics without any directory are dropped (the
//     last change deleted them); producer ids jump ahead, so that none
//     handed out after it is handed out again;
//  3. the partition directories alone (<dir>/logs/<topic>-<partition>):
//     topic names and partition counts; configs, topic ids and the
//     cluster id are lost and new ones made.
//
// The unreadable file is kept as catalog.json.damaged for inspection.

const (
	prevName    = fileName + ".prev"
	tmpName     = fileName + ".tmp"
	damagedName = fileName + ".damaged"

	// LogsDir is the subdirectory of the data directory holding one
	// directory per partition, named <topic>-<partition> (the broker's
	// layout), from which a lost catalog is rebuilt.
	LogsDir = "logs"

	// producerIDMargin is how far producer ids jump when the catalog is
	// recovered from its previous copy, which may predate the last
	// reservation (the broker reserves 1000 at a time).
	producerIDMargin = 1 << 20
)

// Option configures Open.
type Option func(*options)

type options struct {
	log      *slog.Logger
	internal map[string]map[string]string
}

// WithLogger sets where Open reports a recovery (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithInternalTopic says that a topic of this name found only as
// partition directories is the broker's internal topic with these config
// overrides (__consumer_offsets must keep retention.ms=-1).
func WithInternalTopic(name string, configs map[string]string) Option {
	return func(o *options) {
		if o.internal == nil {
			o.internal = map[string]map[string]string{}
		}
		o.internal[name] = configs
	}
}

// parseFile decodes and checks a catalog file.
func parseFile(data []byte) (file, error) {
	var st file
	if err := json.Unmarshal(data, &st); err != nil {
		return st, err
	}
	if st.Version != formatVersion {
		return st, fmt.Errorf("%w %d", errVersion, st.Version)
	}
	if st.ClusterID == "" {
		return st, errors.New("no cluster id")
	}
	seen := map[string]bool{}
	for _, t := range st.Topics {
		if t == nil || ValidateTopicName(t.Name) != nil || t.Partitions < 1 || seen[t.Name] {
			return st, errors.New("a topic entry is invalid or repeated")
		}
		seen[t.Name] = true
	}
	return st, nil
}

func readAll(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
}

// recover builds the catalog when catalog.json cannot be used (cause), and
// saves it. missing: catalog.json does not exist.
func (c *Catalog) recover(cause error, missing bool, o options) error {
	path := filepath.Join(c.dir, fileName)
	dirs, derr := c.partitionDirs()
	var from string
	var st file
	var ok bool
	if missing {
		// Complete: it is renamed only after its fsync.
		if data, err := readAll(c.fs, filepath.Join(c.dir, tmpName)); err == nil {
			if st, err = parseFile(data); err == nil {
				from, ok = tmpName, true
			}
		}
	}
	prevErr := errors.New("absent")
	if !ok {
		data, err := readAll(c.fs, filepath.Join(c.dir, prevName))
		if err == nil {
			st, err = parseFile(data)
		}
		if err == nil && st.Version == formatVersion {
			from, ok = prevName, true
			st.NextProducerID += producerIDMargin
		} else if !errors.Is(err, os.ErrNotExist) {
			prevErr = err
		}
	}
	if missing && !ok && len(dirs) == 0 {
		return errNew // a new data directory
	}
	if !missing {
		// Kept for inspection; also keeps the next save from rotating it
		// over the previous copy.
		if err := c.fs.Rename(path, filepath.Join(c.dir, damagedName)); err != nil {
			return fmt.Errorf("catalog: %s is unusable (%v) and cannot be moved aside: %w", path, cause, err)
		}
	}
	var added, grown, dropped []string
	if !ok {
		if derr != nil {
			return fmt.Errorf("catalog: %s is unusable (%v), %s too (%v), and the partition directories cannot be read: %w", path, cause, prevName, prevErr, derr)
		}
		st = file{Version: formatVersion, ClusterID: newClusterID(), NextProducerID: max(1000, time.Now().UnixMicro())}
		from = "the partition directories under " + LogsDir + "/"
	}
	byName := map[string]*Topic{}
	for _, t := range st.Topics {
		byName[t.Name] = t
	}
	if derr == nil {
		for name, n := range dirs {
			t := byName[name]
			switch {
			case t == nil:
				t = &Topic{Name: name, Partitions: n}
				if cfg, internal := o.internal[name]; internal {
					t.Internal, t.Configs = true, cloneMap(cfg)
				}
				if _, err := rand.Read(t.ID[:]); err != nil {
					return err
				}
				byName[name] = t
				added = append(added, fmt.Sprintf("%s (%d partitions)", name, n))
			case n > t.Partitions:
				grown = append(grown, fmt.Sprintf("%s (%d to %d partitions)", name, t.Partitions, n))
				t.Partitions = n
			}
		}
		for name := range byName {
			// With no directory at all nothing says what the last change
			// was: keep everything.
			if _, ok := dirs[name]; !ok && len(dirs) > 0 {
				dropped = append(dropped, name)
				delete(byName, name)
			}
		}
	}
	for _, t := range byName {
		c.topics[t.Name] = t
	}
	st.Topics = nil
	c.state = st
	slices.Sort(added)
	slices.Sort(grown)
	slices.Sort(dropped)
	args := []any{"err", cause, "recovered_from", from, "topics", len(c.topics)}
	if len(added) > 0 {
		args = append(args, "added_from_partition_directories_configs_lost", added)
	}
	if len(grown) > 0 {
		args = append(args, "partitions_added_from_directories", grown)
	}
	if len(dropped) > 0 {
		args = append(args, "dropped_without_partition_directories", dropped)
	}
	if !strings.HasSuffix(from, "/") {
		args = append(args, "producer_ids_from", st.NextProducerID)
	} else {
		args = append(args, "lost", "every topic config override, the topic ids and the cluster id (new ones were made)")
	}
	if !missing {
		args = append(args, "damaged_copy", filepath.Join(c.dir, damagedName))
	}
	o.log.Warn("catalog.json unusable; recovered the catalog", args...)
	return c.saveLocked()
}

var (
	errNew     = errors.New("catalog: new")
	errVersion = errors.New("catalog: unsupported format version")
)

// partitionDirs lists <dir>/logs as topic -> partition count (the highest
// partition number found, plus one). An absent logs directory is empty.
func (c *Catalog) partitionDirs() (map[string]int32, error) {
	out := map[string]int32{}
	ents, err := c.fs.ReadDir(filepath.Join(c.dir, LogsDir))
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i <= 0 {
			continue
		}
		name, ps := e.Name()[:i], e.Name()[i+1:]
		p, err := strconv.ParseInt(ps, 10, 32)
		if err != nil || p < 0 || strconv.FormatInt(p, 10) != ps || ValidateTopicName(name) != nil {
			continue
		}
		out[name] = max(out[name], int32(p)+1)
	}
	return out, nil
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
