package clientmetrics

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The configs of a client metrics subscription (a CLIENT_METRICS config
// resource), under Kafka's names.
const (
	ConfigMetrics  = "metrics"     // metric name prefixes; "*" for all
	ConfigInterval = "interval.ms" // how often matching clients push
	ConfigMatch    = "match"       // client selectors, all must match
)

// DefaultIntervalMs is the push interval of a subscription that sets
// none, and the longest a client is told to wait when none matches.
const DefaultIntervalMs = 5 * 60 * 1000

const (
	minIntervalMs = 100
	maxIntervalMs = 3600000
)

// AllMetrics in a subscription's metrics asks for every metric.
const AllMetrics = "*"

// The client attributes a match pattern can select on.
const (
	MatchInstanceID      = "client_instance_id"
	MatchClientID        = "client_id"
	MatchSoftwareName    = "client_software_name"
	MatchSoftwareVersion = "client_software_version"
	MatchSourceAddress   = "client_source_address"
	MatchSourcePort      = "client_source_port"
)

var matchParams = map[string]bool{
	MatchInstanceID: true, MatchClientID: true, MatchSoftwareName: true,
	MatchSoftwareVersion: true, MatchSourceAddress: true, MatchSourcePort: true,
}

// ConfigDef describes one subscription config as DescribeConfigs lists it.
type ConfigDef struct {
	Name, Doc, Default string
	List               bool // LIST, else INT
}

// Defs are the subscription configs, sorted by name.
var Defs = []ConfigDef{
	{Name: ConfigInterval, Doc: "Metrics push interval in milliseconds", Default: strconv.Itoa(DefaultIntervalMs)},
	{Name: ConfigMatch, Doc: "Client match criteria", List: true},
	{Name: ConfigMetrics, Doc: "Telemetry metric name prefix list", List: true},
}

// Error is a refused subscription change: the Kafka error and its message.
type Error struct {
	Err *kerr.Error
	Msg string
}

func (e *Error) Error() string { return e.Msg }

func invalidRequest(format string, args ...any) *Error {
	return &Error{kerr.InvalidRequest, fmt.Sprintf(format, args...)}
}

func invalidConfig(format string, args ...any) *Error {
	return &Error{kerr.InvalidConfig, fmt.Sprintf(format, args...)}
}

// Subscription is a validated CLIENT_METRICS resource.
type Subscription struct {
	Name       string
	Configs    map[string]string // as set, for DescribeConfigs
	Metrics    []string
	IntervalMs int
	Match      map[string]*regexp.Regexp // anchored: the whole attribute must match
}

// Parse validates the configs of subscription name as Kafka's
// ClientMetricsConfigs.validate does, with its error codes and messages:
// an empty name, an unknown config or an interval outside 100 ms to 1 h
// is INVALID_REQUEST; an interval that is not an int or a match pattern
// that is not NAME=REGEX over a known client attribute is INVALID_CONFIG.
// Patterns are Go regular expressions (RE2), matched against the whole
// attribute as Java's Matcher.matches does.
func Parse(name string, configs map[string]string) (Subscription, *Error) {
	if name == "" {
		return Subscription{}, invalidRequest("Subscription name can't be empty")
	}
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := def(k); !ok {
			return Subscription{}, invalidRequest("Unknown client metrics configuration: %s", k)
		}
	}
	// A LIST is stored as Kafka stores it: its items trimmed and joined
	// by commas.
	norm := make(map[string]string, len(configs))
	for k, v := range configs {
		if d, _ := def(k); d.List {
			v = strings.Join(splitList(v), ",")
		}
		norm[k] = v
	}
	configs = norm
	s := Subscription{Name: name, Configs: configs, IntervalMs: DefaultIntervalMs}
	if v, ok := configs[ConfigInterval]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return Subscription{}, invalidConfig("Invalid value %s for configuration %s: Not a number of type INT", v, ConfigInterval)
		}
		if n < minIntervalMs || n > maxIntervalMs {
			return Subscription{}, invalidRequest("Invalid value %d for %s, interval must be between 100 and 3600000 (1 hour)", n, ConfigInterval)
		}
		s.IntervalMs = int(n)
	}
	s.Metrics = splitList(configs[ConfigMetrics])
	patterns := splitList(configs[ConfigMatch])
	if len(patterns) > 0 {
		s.Match = make(map[string]*regexp.Regexp, len(patterns))
	}
	for _, p := range patterns {
		// Kafka splits on every '=' and wants exactly two parts.
		parts := strings.Split(p, "=")
		if len(parts) != 2 || !matchParams[strings.TrimSpace(parts[0])] {
			return Subscription{}, invalidConfig("Illegal client matching pattern: %s", p)
		}
		re, err := regexp.Compile("^(?:" + strings.TrimSpace(parts[1]) + ")$")
		if err != nil {
			return Subscription{}, invalidConfig("Illegal client matching pattern: %s", p)
		}
		s.Match[strings.TrimSpace(parts[0])] = re
	}
	return s, nil
}

func def(name string) (ConfigDef, bool) {
	for _, d := range Defs {
		if d.Name == name {
			return d, true
		}
	}
	return ConfigDef{}, false
}

// splitList parses a LIST config as Kafka's ConfigDef does: comma
// separated, each item trimmed, an empty value an empty list.
func splitList(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// matches reports whether a client with attrs is selected by s: every
// pattern must match its attribute (an attribute the client lacks matches
// nothing); a subscription without patterns selects every client.
func (s Subscription) matches(attrs map[string]string) bool {
	for k, re := range s.Match {
		v, ok := attrs[k]
		if !ok || !re.MatchString(v) {
			return false
		}
	}
	return true
}
