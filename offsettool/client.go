package offsettool

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Errors callers can test with errors.Is; the wrapped message names the
// group, topic or broker.
var (
	ErrUnreachable   = errors.New("no broker reachable")
	ErrUnknownTopic  = errors.New("unknown topic")
	ErrUnknownGroup  = errors.New("unknown group")
	ErrActiveMembers = errors.New("group has active members")
	ErrOutOfRange    = errors.New("offset outside the log")
	ErrNoOffsetsLog  = errors.New("__consumer_offsets is not readable")
	// ErrAuthentication: a broker answered but refused the TLS handshake
	// or the SASL authentication.
	ErrAuthentication = errors.New("authentication failed")
)

// OffsetsTopic is Kafka's internal topic of committed offsets and group
// metadata.
const OffsetsTopic = "__consumer_offsets"

// Client talks to one cluster. It is safe for one command at a time.
type Client struct {
	brokers []string
	opts    []kgo.Opt
	kcl     *kgo.Client
	adm     *kadm.Client
}

// baseOpts bound every network wait so that an unreachable or silent broker
// fails within seconds instead of kgo's patient defaults (made for
// long-running services, not a CLI).
func baseOpts(brokers []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("rewind-cli"),
		kgo.DialTimeout(3 * time.Second),
		kgo.RequestTimeoutOverhead(5 * time.Second),
		kgo.RetryTimeout(5 * time.Second),
		kgo.RequestRetries(3),
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
}

// Dial connects to the cluster and checks that a broker answers. extra
// options are appended to the defaults (used by tests).
func Dial(ctx context.Context, brokers []string, extra ...kgo.Opt) (*Client, error) {
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%w: no broker address given", ErrUnreachable)
	}
	opts := append(baseOpts(brokers), extra...)
	kcl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, strings.Join(brokers, ","), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := kcl.Ping(pctx); err != nil {
		kcl.Close()
		if isAuthError(err) {
			return nil, fmt.Errorf("%w at %s: %v", ErrAuthentication, strings.Join(brokers, ","), oneLine(err))
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, strings.Join(brokers, ","), oneLine(err))
	}
	return &Client{brokers: brokers, opts: opts, kcl: kcl, adm: kadm.NewClient(kcl)}, nil
}

// Close releases the connections.
func (c *Client) Close() { c.kcl.Close() }

// Admin returns the underlying kadm client.
func (c *Client) Admin() *kadm.Client { return c.adm }

// Kgo returns the underlying kgo client.
func (c *Client) Kgo() *kgo.Client { return c.kcl }

// newKgo builds a separate kgo client (for consuming or producing) with the same
// brokers and timeouts.
func (c *Client) newKgo(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(append([]kgo.Opt{}, c.opts...), extra...)
	return kgo.NewClient(opts...)
}

// oneLine flattens multi-line errors (kadm's shard errors span lines) so the
// CLI can always print one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// TopicSelection selects partitions of a topic; no partitions means all.
type TopicSelection struct {
	Topic      string
	Partitions []int32
}

// ParseTopicSelection parses "T" or "T:0,2,5" as kafka-consumer-groups'
// --topic does.
func ParseTopicSelection(s string) (TopicSelection, error) {
	name, parts, hasParts := strings.Cut(s, ":")
	if name == "" {
		return TopicSelection{}, fmt.Errorf("--topic %q: empty topic name; use TOPIC or TOPIC:0,1", s)
	}
	sel := TopicSelection{Topic: name}
	if !hasParts {
		return sel, nil
	}
	for _, p := range strings.Split(parts, ",") {
		var n int32
		if _, err := fmt.Sscanf(strings.TrimSpace(p), "%d", &n); err != nil || n < 0 {
			return TopicSelection{}, fmt.Errorf("--topic %q: %q is not a partition number; use TOPIC:0,1", s, p)
		}
		sel.Partitions = append(sel.Partitions, n)
	}
	return sel, nil
}

// topicPartitions returns the partitions of each named topic, failing with
// ErrUnknownTopic for the first one that does not exist.
func (c *Client) topicPartitions(ctx context.Context, topics ...string) (map[string][]int32, error) {
	out := make(map[string][]int32, len(topics))
	if len(topics) == 0 {
		return out, nil
	}
	tds, err := c.adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("metadata: %s", oneLine(err))
	}
	for _, t := range topics {
		td, ok := tds[t]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) || (td.Err == nil && len(td.Partitions) == 0) {
			return nil, fmt.Errorf("%w %q: list topics with `rewind topic list`", ErrUnknownTopic, t)
		}
		if td.Err != nil {
			return nil, fmt.Errorf("topic %q: %s", t, oneLine(td.Err))
		}
		ps := make([]int32, 0, len(td.Partitions))
		for p := range td.Partitions {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		out[t] = ps
	}
	return out, nil
}

// resolveSelections expands selections into partitions, checking that every
// topic and partition exists.
func (c *Client) resolveSelections(ctx context.Context, sels []TopicSelection) ([]TopicPartition, error) {
	var names []string
	for _, s := range sels {
		names = append(names, s.Topic)
	}
	all, err := c.topicPartitions(ctx, names...)
	if err != nil {
		return nil, err
	}
	seen := map[TopicPartition]bool{}
	var out []TopicPartition
	for _, s := range sels {
		have := all[s.Topic]
		want := s.Partitions
		if len(want) == 0 {
			want = have
		}
		for _, p := range want {
			if !containsInt32(have, p) {
				return nil, fmt.Errorf("%w: topic %q has no partition %d (it has %d)", ErrUnknownTopic, s.Topic, p, len(have))
			}
			tp := TopicPartition{s.Topic, p}
			if !seen[tp] {
				seen[tp] = true
				out = append(out, tp)
			}
		}
	}
	sortTPs(out)
	return out, nil
}

func containsInt32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func sortTPs(s []TopicPartition) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Topic != s[j].Topic {
			return s[i].Topic < s[j].Topic
		}
		return s[i].Partition < s[j].Partition
	})
}

// bounds lists the log start and log end of every partition of topics.
func (c *Client) bounds(ctx context.Context, topics []string) (start, end kadm.ListedOffsets, err error) {
	if len(topics) == 0 {
		return kadm.ListedOffsets{}, kadm.ListedOffsets{}, nil
	}
	if start, err = c.adm.ListStartOffsets(ctx, topics...); err != nil {
		return nil, nil, fmt.Errorf("list log start offsets: %s", oneLine(err))
	}
	if end, err = c.adm.ListEndOffsets(ctx, topics...); err != nil {
		return nil, nil, fmt.Errorf("list log end offsets: %s", oneLine(err))
	}
	return start, end, nil
}

func listed(l kadm.ListedOffsets, tp TopicPartition) (int64, error) {
	o, ok := l.Lookup(tp.Topic, tp.Partition)
	if !ok {
		return -1, fmt.Errorf("no offsets listed for %s", tp)
	}
	if o.Err != nil {
		return -1, fmt.Errorf("list offsets for %s: %s", tp, oneLine(o.Err))
	}
	return o.Offset, nil
}
