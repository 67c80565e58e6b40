package catalog

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/storage/vfs"
)

// formatVersion is written into the catalog file. Version 1: the first
// format; a later format must migrate a version-1 file on open.
const formatVersion = 1

const fileName = "catalog.json"

// Errors returned by the catalog; the broker maps them to Kafka error codes.
var (
	ErrTopicExists       = errors.New("catalog: topic already exists")
	ErrUnknownTopic      = errors.New("catalog: unknown topic")
	ErrInvalidTopic      = errors.New("catalog: invalid topic name")
	ErrInvalidPartitions = errors.New("catalog: invalid partition count")
	ErrInvalidConfig     = errors.New("catalog: invalid config")
)

// Topic is one topic's durable description. Values returned by the catalog
// are copies; changing them changes nothing.
type Topic struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // overrides only
	Internal   bool              `json:"internal,omitempty"`
}

// Config returns the effective value of a topic config: the override, else
// the default.
func (t Topic) Config(name string) string {
	if v, ok := t.Configs[name]; ok {
		return v
	}
	d, _ := Def(name)
	return d.Default
}

// StorageConfig turns the topic's Kafka configs into the storage settings.
func (t Topic) StorageConfig() storage.Config {
	c := storage.DefaultConfig()
	c.SegmentBytes = t.int(SegmentBytes)
	if _, ok := t.Configs[InternalSegmentBytes]; ok {
		// Any int, as Kafka takes it; below the smallest record batch every
		// batch rolls a segment, which is what Kafka does with such a size.
		c.SegmentBytes = max(t.int(InternalSegmentBytes), minSegmentBytes)
	}
	c.SegmentMs = t.int(SegmentMs)
	c.RetentionMs = t.int(RetentionMs)
	c.RetentionBytes = t.int(RetentionBytes)
	c.MaxMessageBytes = int32(t.int(MaxMessageBytes))
	c.IndexIntervalBytes = int32(t.int(IndexIntervalBytes))
	c.LogAppendTime = t.Config(MessageTimestampType) == "LogAppendTime"
	c.CheckTimestamps = true
	c.TimestampBeforeMaxMs = t.int(MessageTimestampBeforeMaxMs)
	c.TimestampAfterMaxMs = t.int(MessageTimestampAfterMaxMs)
	c.RequireKeys = t.cleanupPolicy("compact")
	c.CompressionType = t.Config(CompressionType)
	if !t.cleanupPolicy("delete") {
		// Compacted only: nothing is deleted by age or size (as Kafka).
		c.RetentionMs, c.RetentionBytes = -1, -1
	}
	return c
}

// Compaction says whether cleanup.policy includes compact and, if so, how
// the topic's logs are compacted. A superseded record stays for
// min.compaction.lag.ms.
func (t Topic) Compaction() (storage.CompactPolicy, bool) {
	if !t.cleanupPolicy("compact") {
		return storage.CompactPolicy{}, false
	}
	p := storage.CompactPolicy{
		HistoryRetention: time.Duration(t.int(MinCompactionLagMs)) * time.Millisecond,
		DeleteRetention:  time.Duration(t.int(DeleteRetentionMs)) * time.Millisecond,
	}
	p.MinCleanableDirtyRatio, _ = strconv.ParseFloat(t.Config(MinCleanableDirtyRatio), 64)
	if lag := t.int(MaxCompactionLagMs); lag < math.MaxInt64/int64(time.Millisecond) {
		p.MaxCompactionLag = time.Duration(lag) * time.Millisecond
	}
	return p, true
}

func (t Topic) cleanupPolicy(policy string) bool {
	for _, p := range strings.Split(t.Config(CleanupPolicy), ",") {
		if strings.TrimSpace(p) == policy {
			return true
		}
	}
	return false
}

// minSegmentBytes is the size internal.segment.bytes is raised to: a v0
// record's overhead, which was segment.bytes' minimum before Kafka 4.0.
const minSegmentBytes = 14

func (t Topic) int(name string) int64 {
	n, _ := strconv.ParseInt(t.Config(name), 10, 64) // validated on the way in
	return n
}

func (t Topic) clone() Topic {
	c := t
	if t.Configs != nil {
		c.Configs = make(map[string]string, len(t.Configs))
		for k, v := range t.Configs {
			c.Configs[k] = v
		}
	}
	return c
}

type file struct {
	Version        int      `json:"version"`
	ClusterID      string   `json:"cluster_id"`
	NextProducerID int64    `json:"next_producer_id"`
	Topics         []*Topic `json:"topics"`
}

// Catalog holds the topics and cluster-wide identifiers, persisted to one
// small JSON file written atomically (temp file, fsync, rename, fsync dir).
type Catalog struct {
	fs  vfs.FS
	dir string

	mu     sync.RWMutex
	state  file
	topics map[string]*Topic
	onDisk bool // catalog.json holds the last save: the next one rotates it to .prev
	// collisions maps collisionKey of every topic to its name, built on
	// the first Create (after loading) and kept by Create and Delete.
	collisions map[string]string
}

// collisionKey is the name metrics reporters see: Kafka's metric names
// turn '.' into '_', so "a.b" and "a_b" would be one topic there, and
// Kafka refuses to create a name whose key another topic already has
// (Topic.hasCollision).
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }

// Open loads the catalog in dir, creating it (with a new cluster id) if
// absent. An unusable catalog.json is recovered from its previous copy or
// the partition directories (see recover.go), and the recovery logged.
func Open(fs vfs.FS, dir string, opts ...Option) (*Catalog, error) {
	if fs == nil {
		fs = vfs.Default
	}
	o := options{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		opt(&o)
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c := &Catalog{fs: fs, dir: dir, topics: map[string]*Topic{}}
	path := filepath.Join(dir, fileName)
	data, err := readAll(fs, path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		err := c.recover(fmt.Errorf("%s is missing", path), true, o)
		if !errors.Is(err, errNew) {
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		c.state = file{Version: formatVersion, ClusterID: newClusterID(), NextProducerID: 1000}
		return c, c.saveLocked()
	case err != nil:
		return nil, fmt.Errorf("catalog: read: %w", err)
	}
	st, err := parseFile(data)
	if errors.Is(err, errVersion) {
		return nil, fmt.Errorf("%w (%s, written by another version of Rewind)", err, path)
	}
	if err != nil {
		if err := c.recover(fmt.Errorf("%s is corrupt: %w", path, err), false, o); err != nil {
			return nil, err
		}
		return c, nil
	}
	c.state, c.onDisk = st, true
	for _, t := range c.state.Topics {
		c.topics[t.Name] = t
	}
	return c, nil
}

// ClusterID is the cluster id reported in Metadata and DescribeCluster.
func (c *Catalog) ClusterID() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.ClusterID
}

// ReserveProducerIDs durably reserves n producer ids and returns the first.
// Ids are never handed out twice, even across crashes.
func (c *Catalog) ReserveProducerIDs(n int64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.state.NextProducerID
	c.state.NextProducerID += n
	if err := c.saveLocked(); err != nil {
		c.state.NextProducerID = first
		return 0, err
	}
	return first, nil
}

// ValidateTopicName applies Kafka's topic name rules.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrInvalidTopic, name)
	case len(name) > 249:
		return fmt.Errorf("%w: the name is %d characters, the maximum is 249", ErrInvalidTopic, len(name))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: %q contains %q; only ASCII letters, digits, '.', '_' and '-' are allowed", ErrInvalidTopic, name, r)
		}
	}
	return nil
}

// Create adds a topic. With validateOnly it checks everything and changes nothing.
func (c *Catalog) Create(name string, partitions int32, configs map[string]string, internal, validateOnly bool) (Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return Topic{}, err
	}
	if partitions < 1 {
		return Topic{}, fmt.Errorf("%w: %d", ErrInvalidPartitions, partitions)
	}
	if err := ValidateConfigs(configs); err != nil && !internal {
		return Topic{}, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[name]; ok {
		return Topic{}, fmt.Errorf("%w: %s", ErrTopicExists, name)
	}
	if c.collisions == nil {
		c.collisions = make(map[string]string, len(c.topics))
		for n := range c.topics {
			c.collisions[collisionKey(n)] = n
		}
	}
	if other, ok := c.collisions[collisionKey(name)]; ok {
		return Topic{}, fmt.Errorf("%w: topic '%s' collides with existing topic: %s", ErrInvalidTopic, name, other)
	}
	t := &Topic{Name: name, Partitions: partitions, Internal: internal}
	if _, err := rand.Read(t.ID[:]); err != nil {
		return Topic{}, err
	}
	if len(configs) > 0 {
		t.Configs = make(map[string]string, len(configs))
		for k, v := range configs {
			t.Configs[k] = v
		}
	}
	if validateOnly {
		return t.clone(), nil
	}
	c.topics[name] = t
	if err := c.saveLocked(); err != nil {
		delete(c.topics, name)
		return Topic{}, err
	}
	c.collisions[collisionKey(name)] = name
	return t.clone(), nil
}

// Delete removes a topic from the catalog.
func (c *Catalog) Delete(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	delete(c.topics, name)
	if err := c.saveLocked(); err != nil {
		c.topics[name] = t
		return err
	}
	if c.collisions != nil && c.collisions[collisionKey(name)] == name {
		delete(c.collisions, collisionKey(name))
	}
	return nil
}

// SetPartitions grows a topic to total partitions.
func (c *Catalog) SetPartitions(name string, total int32, validateOnly bool) (Topic, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[name]
	if !ok {
		return Topic{}, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if total <= t.Partitions {
		return Topic{}, fmt.Errorf("%w: topic %s has %d partitions; the new count %d must be larger", ErrInvalidPartitions, name, t.Partitions, total)
	}
	if validateOnly {
		n := t.clone()
		n.Partitions = total
		return n, nil
	}
	old := t.Partitions
	t.Partitions = total
	if err := c.saveLocked(); err != nil {
		t.Partitions = old
		return Topic{}, err
	}
	return t.clone(), nil
}

// SetConfigs replaces a topic's config overrides.
func (c *Catalog) SetConfigs(name string, configs map[string]string, validateOnly bool) (Topic, error) {
	if err := ValidateConfigs(configs); err != nil {
		return Topic{}, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[name]
	if !ok {
		return Topic{}, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	n := t.clone()
	n.Configs = configs
	if validateOnly {
		return n.clone(), nil
	}
	old := t.Configs
	t.Configs = n.clone().Configs
	if err := c.saveLocked(); err != nil {
		t.Configs = old
		return Topic{}, err
	}
	return t.clone(), nil
}

// Get returns a topic by name.
func (c *Catalog) Get(name string) (Topic, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.topics[name]
	if !ok {
		return Topic{}, false
	}
	return t.clone(), true
}

// List returns all topics sorted by name.
func (c *Catalog) List() []Topic {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Topic, 0, len(c.topics))
	for _, t := range c.topics {
		out = append(out, t.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c *Catalog) saveLocked() error {
	c.state.Topics = c.state.Topics[:0]
	for _, t := range c.topics {
		c.state.Topics = append(c.state.Topics, t)
	}
	sort.Slice(c.state.Topics, func(i, j int) bool { return c.state.Topics[i].Name < c.state.Topics[j].Name })
	data, err := json.MarshalIndent(&c.state, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.dir, tmpName)
	f, err := c.fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("catalog: write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("catalog: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	// The current catalog becomes the previous copy (recover.go); a crash
	// before the next rename leaves the complete .tmp.
	if c.onDisk {
		if err := c.fs.Rename(filepath.Join(c.dir, fileName), filepath.Join(c.dir, prevName)); err != nil {
			return fmt.Errorf("catalog: keep the previous catalog: %w", err)
		}
		c.onDisk = false
	}
	if err := c.fs.Rename(tmp, filepath.Join(c.dir, fileName)); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	c.onDisk = true
	if err := c.fs.SyncDir(c.dir); err != nil {
		return fmt.Errorf("catalog: sync dir: %w", err)
	}
	return nil
}

func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	// Kafka cluster ids are base64url-encoded UUIDs (22 characters).
	return base64.RawURLEncoding.EncodeToString(b[:])
}
