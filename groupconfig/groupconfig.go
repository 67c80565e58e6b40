// Package groupconfig holds the configs of GROUP config resources (Kafka's
// per-group configs, KIP-848 and KIP-932: kafka-configs --entity-type
// groups): their definitions, Kafka 4.4's validation with its messages,
// the values in effect for a group, and their storage in the data
// directory.
//
// A group's configs are validated as a whole, the stored ones with the
// change applied, as Kafka's controller validates them: each value by
// its type and range, then against the broker's bounds (a session
// timeout between group.consumer.min.session.timeout.ms and its max, and
// so on), then every session timeout above its heartbeat interval. The
// values in effect are clamped to the broker's bounds again when read,
// so a bound narrowed after a config was set still holds.
package groupconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rewindhq/rewind/internal/atomicfile"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Type is a config's type, as DescribeConfigs reports it (kmsg.ConfigType).
type Type int8

const (
	Boolean Type = 1
	String  Type = 2
	Int     Type = 3
	Long    Type = 5
	List    Type = 7
)

// Def is one group config.
type Def struct {
	Name    string
	Type    Type
	Default string
	// Broker is the broker config whose value the group takes when it
	// sets none (the synonym DescribeConfigs lists); Kafka names a few
	// share configs after themselves.
	Broker string
	Doc    string
	// Internal configs may be set but are not described, as in Kafka.
	Internal bool
	min      int64 // the value's own lower bound (ConfigDef atLeast)
	// check validates a value beyond its type (raw as given, v
	// trimmed), with Kafka's message.
	check func(d *Def, raw, v string) *Error
}

const (
	consumerSession   = "consumer.session.timeout.ms"
	consumerHeartbeat = "consumer.heartbeat.interval.ms"
	shareSession      = "share.session.timeout.ms"
	shareHeartbeat    = "share.heartbeat.interval.ms"
	streamsSession    = "streams.session.timeout.ms"
	streamsHeartbeat  = "streams.heartbeat.interval.ms"

	ShareAutoOffsetReset   = "share.auto.offset.reset"
	ShareRecordLock        = "share.record.lock.duration.ms"
	ShareDeliveryCount     = "share.delivery.count.limit"
	SharePartitionMaxLocks = "share.partition.max.record.locks"
	ShareIsolationLevel    = "share.isolation.level"
	ShareRenewAck          = "share.renew.acknowledge.enable"
)

var errAutoReset = "The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."

// Defs are the group configs, in Kafka's order.
var Defs = []Def{
	{Name: consumerSession, Type: Int, Default: "45000", Broker: "group.consumer.session.timeout.ms", min: 1, Doc: "How long a member of a consumer group (the consumer protocol) may go without a heartbeat before it is removed."},
	{Name: consumerHeartbeat, Type: Int, Default: "5000", Broker: "group.consumer.heartbeat.interval.ms", min: 1, Doc: "How often the members of a consumer group (the consumer protocol) are told to heartbeat."},
	{Name: "consumer.assignment.interval.ms", Type: Int, Default: "1000", Broker: "group.consumer.assignment.interval.ms", Doc: "The least time between two assignment computations of a consumer group. Rewind stores it; it assigns at once."},
	{Name: "consumer.assignor.offload.enable", Type: Boolean, Default: "true", Broker: "group.consumer.assignor.offload.enable", Internal: true},
	{Name: shareSession, Type: Int, Default: "45000", Broker: "group.share.session.timeout.ms", min: 1, Doc: "How long a member of a share group may go without a heartbeat before it is removed."},
	{Name: shareHeartbeat, Type: Int, Default: "5000", Broker: "group.share.heartbeat.interval.ms", min: 1, Doc: "How often the members of a share group are told to heartbeat."},
	{Name: ShareRecordLock, Type: Int, Default: "30000", Broker: "group.share.record.lock.duration.ms", min: 1000, Doc: "How long a record delivered to a share group member stays locked to it before it is released for redelivery."},
	{Name: ShareDeliveryCount, Type: Int, Default: "5", Broker: "group.share.delivery.count.limit", min: 2, Doc: "How many times a record is delivered to a share group before it is archived instead."},
	{Name: SharePartitionMaxLocks, Type: Int, Default: "2000", Broker: "group.share.partition.max.record.locks", min: 100, Doc: "How many records of one partition a share group may have in flight at once."},
	{Name: ShareAutoOffsetReset, Type: String, Default: "latest", Broker: ShareAutoOffsetReset, check: checkAutoReset, Doc: "Where a share group starts reading a partition it has no start offset for: earliest, latest, or by_duration:<ISO-8601 duration> (the first record at most that long ago)."},
	{Name: ShareIsolationLevel, Type: String, Default: "read_uncommitted", Broker: ShareIsolationLevel, check: checkIn("read_committed", "read_uncommitted"), Doc: "read_committed: a share group is delivered only committed transactional records; read_uncommitted: every record."},
	{Name: ShareRenewAck, Type: Boolean, Default: "true", Broker: ShareRenewAck, Doc: "Whether the members of a share group may renew the lock of a record they hold (KIP-1222)."},
	{Name: "share.assignment.interval.ms", Type: Int, Default: "1000", Broker: "group.share.assignment.interval.ms", Doc: "The least time between two assignment computations of a share group. Rewind stores it; it assigns at once."},
	{Name: "share.assignor.offload.enable", Type: Boolean, Default: "true", Broker: "group.share.assignor.offload.enable", Internal: true},
	{Name: streamsSession, Type: Int, Default: "45000", Broker: "group.streams.session.timeout.ms", min: 1, Doc: "How long a member of a streams group may go without a heartbeat before it is removed. Rewind serves no streams groups: stored only."},
	{Name: streamsHeartbeat, Type: Int, Default: "5000", Broker: "group.streams.heartbeat.interval.ms", min: 1, Doc: "How often the members of a streams group are told to heartbeat. Stored only."},
	{Name: "streams.num.standby.replicas", Type: Int, Default: "0", Broker: "group.streams.num.standby.replicas", Doc: "Standby replicas of each task of a streams group. Stored only."},
	{Name: "streams.initial.rebalance.delay.ms", Type: Int, Default: "3000", Broker: "group.streams.initial.rebalance.delay.ms", Doc: "How long a new streams group waits for more members before its first assignment. Stored only."},
	{Name: "streams.assignment.interval.ms", Type: Int, Default: "1000", Broker: "group.streams.assignment.interval.ms", Doc: "The least time between two assignment computations of a streams group. Stored only."},
	{Name: "streams.assignor.offload.enable", Type: Boolean, Default: "true", Broker: "group.streams.assignor.offload.enable", Internal: true},
	{Name: "streams.task.offset.interval.ms", Type: Int, Default: "60000", Broker: "group.streams.task.offset.interval.ms", min: 1, Internal: true},
	{Name: "streams.num.warmup.replicas", Type: Int, Default: "2", Broker: "group.streams.num.warmup.replicas", Internal: true},
	{Name: "streams.rack.aware.assignment.tags", Type: List, Default: "", Broker: "group.streams.rack.aware.assignment.tags", Doc: "Client tag keys that spread the standby replicas of a streams group. Stored only."},
	{Name: "streams.acceptable.recovery.lag", Type: Long, Default: "10000", Broker: "group.streams.acceptable.recovery.lag", Internal: true},
	{Name: "streams.assignor.name", Type: String, Default: "sticky", Broker: "group.streams.assignors", check: checkAssignor, Doc: "The task assignor of a streams group, by name. Stored only."},
	{Name: "errors.deadletterqueue.topic.name", Type: String, Default: "", Broker: "errors.deadletterqueue.topic.name", Doc: "The dead-letter topic of a share group (blank: none). Stored only: Rewind archives records past the delivery limit without copying them."},
	{Name: "errors.deadletterqueue.copy.record.enable", Type: Boolean, Default: "false", Broker: "errors.deadletterqueue.copy.record.enable", Doc: "Whether a record sent to the dead-letter topic is copied whole. Stored only."},
}

var byName = func() map[string]*Def {
	m := make(map[string]*Def, len(Defs))
	for i := range Defs {
		m[Defs[i].Name] = &Defs[i]
	}
	return m
}()

// Lookup returns the definition of a group config.
func Lookup(name string) (*Def, bool) {
	d, ok := byName[name]
	return d, ok
}

// Range is a broker's bound on a group config.
type Range struct{ Min, Max int64 }

// Bounds are the broker's bounds on group configs (each 0 Range: none)
// and its own values for them (Broker: the value a group without the
// config takes, by config name; unnamed: the Def's default).
type Bounds struct {
	Ranges map[string]Range
	Broker map[string]string
}

// DefaultBounds are Kafka 4.4's default bounds.
func DefaultBounds() Bounds {
	return Bounds{Ranges: map[string]Range{
		consumerHeartbeat:                 {5000, 15000},
		consumerSession:                   {45000, 60000},
		"consumer.assignment.interval.ms": {0, 15000},
		shareHeartbeat:                    {5000, 15000},
		shareSession:                      {45000, 60000},
		ShareRecordLock:                   {15000, 60000},
		ShareDeliveryCount:                {2, 10},
		SharePartitionMaxLocks:            {100, 4000},
		"share.assignment.interval.ms":    {0, 15000},
		streamsHeartbeat:                  {5000, 15000},
		streamsSession:                    {45000, 60000},
		"streams.num.standby.replicas":    {-1 << 62, 2},
		"streams.assignment.interval.ms":  {0, 15000},
		"streams.task.offset.interval.ms": {15000, 1 << 62},
		"streams.num.warmup.replicas":     {-1 << 62, 20},
	}, Broker: map[string]string{}}
}

// BrokerValue is the value a group without the config takes.
func (b Bounds) BrokerValue(d *Def) string {
	if v, ok := b.Broker[d.Name]; ok {
		return v
	}
	return d.Default
}

// Error is a refused change: the Kafka error and its message.
type Error struct {
	Err *kerr.Error
	Msg string
}

func (e *Error) Error() string { return e.Msg }

func invalid(format string, args ...any) *Error {
	return &Error{kerr.InvalidConfig, fmt.Sprintf(format, args...)}
}

// badValue is ConfigDef's refusal of a value: "Invalid value V for
// configuration N: why".
func badValue(d *Def, raw, why string) *Error {
	return invalid("Invalid value %s for configuration %s: %s", raw, d.Name, why)
}

func checkIn(vals ...string) func(*Def, string, string) *Error {
	return func(d *Def, raw, v string) *Error {
		for _, x := range vals {
			if v == x {
				return nil
			}
		}
		return badValue(d, raw, "String must be one of: "+strings.Join(vals, ", "))
	}
}

// checkAssignor: the one streams assignor Kafka registers by default.
func checkAssignor(d *Def, _, v string) *Error {
	if v == "sticky" {
		return nil
	}
	return invalid("%s '%s' is not a registered task assignor. Registered assignors are: sticky.", d.Name, v)
}

// isoDuration is Java's Duration.parse format: PnDTnHnMn.nS.
var isoDuration = regexp.MustCompile(`^([-+]?)P(?:([-+]?[0-9]+)D)?(T(?:([-+]?[0-9]+)H)?(?:([-+]?[0-9]+)M)?(?:([-+]?[0-9]+)(?:[.,]([0-9]{0,9}))?S)?)?$`)

// ParseDuration parses an ISO-8601 duration as Java's Duration.parse does
// (days, hours, minutes, seconds).
func ParseDuration(s string) (time.Duration, bool) {
	m := isoDuration.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || m[3] == "T" || (m[2] == "" && m[3] == "") {
		return 0, false
	}
	var d time.Duration
	for i, unit := range map[int]time.Duration{2: 24 * time.Hour, 4: time.Hour, 5: time.Minute, 6: time.Second} {
		if m[i] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i], 10, 64)
		if err != nil || n > int64(1<<62)/int64(unit) || n < -int64(1<<62)/int64(unit) {
			return 0, false
		}
		d += time.Duration(n) * unit
	}
	if m[7] != "" {
		f := (m[7] + "000000000")[:9]
		n, _ := strconv.ParseInt(f, 10, 64)
		if strings.HasPrefix(m[6], "-") {
			n = -n
		}
		d += time.Duration(n)
	}
	if m[1] == "-" {
		d = -d
	}
	return d, true
}

func checkAutoReset(d *Def, raw, v string) *Error {
	switch strings.ToLower(v) {
	case "earliest", "latest":
		return nil
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(v), "by_duration:"); ok {
		if dur, ok := ParseDuration(strings.TrimSpace(rest)); ok && dur >= 0 {
			return nil
		}
	}
	return badValue(d, raw, fmt.Sprintf("Invalid value `%s` for configuration %s. %s", v, d.Name, errAutoReset))
}

// parse checks one value by its definition alone.
func parse(d *Def, v string) (int64, *Error) {
	bad := func(why string) *Error { return badValue(d, v, why) }
	t := strings.TrimSpace(v)
	switch d.Type {
	case Int, Long:
		bits, name := 32, "INT"
		if d.Type == Long {
			bits, name = 64, "LONG"
		}
		n, err := strconv.ParseInt(t, 10, bits)
		if err != nil {
			return 0, bad("Not a number of type " + name)
		}
		if n < d.min {
			return 0, bad(fmt.Sprintf("Value must be at least %d", d.min))
		}
		return n, nil
	case Boolean:
		if !strings.EqualFold(t, "true") && !strings.EqualFold(t, "false") {
			return 0, bad("Expected value to be either true or false")
		}
	case List:
		seen := map[string]bool{}
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if seen[p] {
				return 0, invalid("%s must not contain duplicate tag keys.", d.Name)
			}
			seen[p] = true
		}
	}
	if d.check != nil {
		if err := d.check(d, v, t); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Validate checks a group's whole set of configs as Kafka does.
func Validate(cfgs map[string]string, b Bounds) *Error {
	for _, n := range sortedKeys(cfgs) {
		if _, ok := byName[n]; !ok {
			return invalid("Unknown group config name: %s", n)
		}
	}
	ints := map[string]int64{}
	for i := range Defs {
		d := &Defs[i]
		v, ok := cfgs[d.Name]
		if !ok {
			continue
		}
		n, err := parse(d, v)
		if err != nil {
			return err
		}
		ints[d.Name] = n
	}
	for i := range Defs {
		d := &Defs[i]
		n, ok := ints[d.Name]
		r, bounded := b.Ranges[d.Name]
		if !ok || !bounded {
			continue
		}
		switch {
		case r.Min <= -1<<62 && n > r.Max:
			return invalid("%s must be less than or equal to %d", d.Name, r.Max)
		case r.Max >= 1<<62 && n < r.Min:
			return invalid("%s must be greater than or equal to %d", d.Name, r.Min)
		case r.Min > -1<<62 && r.Max < 1<<62 && (n < r.Min || n > r.Max):
			return invalid("%s must be in the range %d to %d inclusive.", d.Name, r.Min, r.Max)
		}
	}
	if v, ok := cfgs["errors.deadletterqueue.topic.name"]; ok && strings.HasPrefix(strings.TrimSpace(v), "__") {
		return invalid("errors.deadletterqueue.topic.name: DLQ topic name must not start with '__'")
	}
	for _, p := range [][2]string{{consumerSession, consumerHeartbeat}, {shareSession, shareHeartbeat}, {streamsSession, streamsHeartbeat}} {
		s, sok := ints[p[0]]
		h, hok := ints[p[1]]
		if !sok && !hok {
			continue
		}
		if !sok {
			s, _ = strconv.ParseInt(b.BrokerValue(byName[p[0]]), 10, 64)
		}
		if !hok {
			h, _ = strconv.ParseInt(b.BrokerValue(byName[p[1]]), 10, 64)
		}
		if s <= h {
			return invalid("%s must be greater than %s", p[0], p[1])
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Values are the configs in effect for one group.
type Values struct {
	cfgs map[string]string
	b    Bounds
}

// Get is the value in effect of a config: the group's, clamped to the
// broker's bounds, else the broker's.
func (v Values) Get(name string) string {
	d := byName[name]
	if d == nil {
		return ""
	}
	s, ok := v.cfgs[name]
	if !ok {
		return v.b.BrokerValue(d)
	}
	if d.Type != Int && d.Type != Long {
		return strings.TrimSpace(s)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return v.b.BrokerValue(d)
	}
	if r, ok := v.b.Ranges[name]; ok {
		n = max(r.Min, min(n, r.Max))
	}
	return strconv.FormatInt(n, 10)
}

// IsSet reports whether the group set the config itself.
func (v Values) IsSet(name string) bool {
	_, ok := v.cfgs[name]
	return ok
}

// Int is Get as a number (0 if it is none).
func (v Values) Int(name string) int64 {
	n, _ := strconv.ParseInt(v.Get(name), 10, 64)
	return n
}

// Millis is Get as milliseconds.
func (v Values) Millis(name string) time.Duration {
	return time.Duration(v.Int(name)) * time.Millisecond
}

// Bool is Get as a boolean.
func (v Values) Bool(name string) bool { return strings.EqualFold(v.Get(name), "true") }

// FileName is where the configs live, relative to the data directory.
const FileName = "groupconfigs/configs.json"

const formatVersion = 1

// MaxGroups bounds the groups with configs, and MaxValueBytes each value:
// a client names the groups and writes the values.
const (
	MaxGroups     = 10000
	MaxValueBytes = 4096
)

// Store keeps the groups' configs, durably.
type Store struct {
	mu     sync.Mutex
	path   string
	bounds Bounds
	groups map[string]map[string]string
}

// Open loads the configs stored under dataDir ("": kept in memory).
func Open(dataDir string, b Bounds) (*Store, error) {
	s := &Store{bounds: b, groups: map[string]map[string]string{}}
	if dataDir == "" {
		return s, nil
	}
	s.path = filepath.Join(dataDir, FileName)
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("group configs: %w", err)
	}
	var f struct {
		Version int                          `json:"version"`
		Groups  map[string]map[string]string `json:"groups"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("group configs: %s: %w", s.path, err)
	}
	if f.Version != formatVersion {
		return nil, fmt.Errorf("group configs: %s: format version %d, this build reads %d", s.path, f.Version, formatVersion)
	}
	for g, c := range f.Groups {
		if len(c) > 0 {
			s.groups[g] = c
		}
	}
	return s, nil
}

// Bounds are the broker's bounds the store validates with.
func (s *Store) Bounds() Bounds { return s.bounds }

// Configs returns a copy of the configs group has set (nil: none).
func (s *Store) Configs(group string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.groups[group]
	if c == nil {
		return nil
	}
	out := make(map[string]string, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// Values returns the configs in effect for group.
func (s *Store) Values(group string) Values {
	return Values{cfgs: s.Configs(group), b: s.bounds}
}

// Groups lists the groups with configs, sorted.
func (s *Store) Groups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.groups))
	for g := range s.groups {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// Set replaces group's configs (an empty map removes them), stored
// before it returns; validateOnly only checks.
func (s *Store) Set(group string, cfgs map[string]string, validateOnly bool) *Error {
	if group == "" {
		return &Error{kerr.InvalidRequest, "Default group resources are not allowed."}
	}
	for k, v := range cfgs {
		if len(v) > MaxValueBytes {
			return invalid("Invalid value for configuration %s: longer than %d bytes", k, MaxValueBytes)
		}
	}
	if err := Validate(cfgs, s.bounds); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.groups[group]
	if !had && len(cfgs) > 0 && len(s.groups) >= MaxGroups {
		return &Error{kerr.PolicyViolation, fmt.Sprintf("at most %d groups may have configs", MaxGroups)}
	}
	if len(cfgs) == 0 {
		if !had {
			return nil
		}
		delete(s.groups, group)
	} else {
		c := make(map[string]string, len(cfgs))
		for k, v := range cfgs {
			c[k] = v
		}
		s.groups[group] = c
	}
	if err := s.saveLocked(); err != nil {
		if had {
			s.groups[group] = old
		} else {
			delete(s.groups, group)
		}
		return &Error{kerr.UnknownServerError, "storing the group configs: " + err.Error()}
	}
	return nil
}

func (s *Store) saveLocked() error {
	if s.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(struct {
		Version int                          `json:"version"`
		Groups  map[string]map[string]string `json:"groups"`
	}{formatVersion, s.groups}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.path, data, 0o600)
}
