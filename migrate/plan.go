package migrate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options select what moves and how.
type Options struct {
	// Topics to move; empty moves every topic that is not internal.
	Topics []string
	// Groups whose offsets move; empty moves every group with a committed
	// offset on a moved topic. Only the offsets of moved topics move; a
	// named group with none there is an error.
	Groups []string
	// ReplicationFactor of the topics created on the target; -1 (or 0)
	// takes the target's default.
	ReplicationFactor int16
	// RecordsOnly copies records and moves no group: a catch-up run while
	// the source is still in use (its groups may be active, a transaction
	// open: the copy stops at each partition's last stable offset). A
	// later run without it copies what came since and moves the groups.
	RecordsOnly bool
}

// Plan is what Execute will do, read from both clusters.
type Plan struct {
	SourceCluster string      `json:"source_cluster"`
	TargetCluster string      `json:"target_cluster"`
	Topics        []TopicPlan `json:"topics"`
	Groups        []GroupPlan `json:"groups"`
}

// TopicPlan is one topic to move.
type TopicPlan struct {
	Topic      string            `json:"topic"`
	Partitions []PartitionPlan   `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // dynamic topic configs of the source
	// Target is "create" (the target has no such topic), "empty" (it has
	// one without records, with enough partitions) or "resume" (the state
	// file says an earlier run created it and copied into it).
	Target string `json:"target"`
	// Retention is what the target will keep (see Retention).
	Retention *Retention `json:"retention,omitempty"`
}

// PartitionPlan is one partition's bounds on the source when planned.
type PartitionPlan struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`      // log start offset
	End       int64 `json:"end"`        // high watermark
	Stable    int64 `json:"stable_end"` // last stable offset: the copy stops here
	// From is where this run's copy starts: the log start, or where an
	// earlier run of the same state file stopped (a catch-up run copies
	// only what came since).
	From int64 `json:"from"`
}

// GroupPlan is one group's committed offsets on moved topics.
type GroupPlan struct {
	Group   string        `json:"group"`
	State   string        `json:"state"`
	Offsets []GroupOffset `json:"offsets"`
}

// GroupOffset is one committed offset and its translation.
type GroupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Source    int64  `json:"source"`
	// Target is the offset the group gets on the target. In a plan it is
	// the estimate that assumes no gaps (source - log start); Execute
	// replaces it with the exact translation.
	Target   int64  `json:"target"`
	Exact    bool   `json:"exact"`
	Metadata string `json:"metadata,omitempty"`
	// Note says what is special about this offset (below the log start:
	// records the group never read are already gone on the source).
	Note string `json:"note,omitempty"`
}

// Records is the number of offsets the partitions of t span on the source.
func (t TopicPlan) Records() int64 {
	var n int64
	for _, p := range t.Partitions {
		n += p.Stable - p.Start
	}
	return n
}

// ToCopy is the number of offsets this run still has to copy.
func (t TopicPlan) ToCopy() int64 {
	var n int64
	for _, p := range t.Partitions {
		n += max(p.Stable-p.From, 0)
	}
	return n
}

// ErrActiveGroups is returned by Execute while a selected group has
// members on the source.
var ErrActiveGroups = errors.New("groups are active on the source")

// ErrTargetNotEmpty is returned when a target topic already holds records
// the migration did not write.
var ErrTargetNotEmpty = errors.New("target topic is not empty")

// ActiveGroups lists the planned groups that have members.
func (p *Plan) ActiveGroups() []string {
	var out []string
	for _, g := range p.Groups {
		if active(g.State) {
			out = append(out, g.Group+" ("+g.State+")")
		}
	}
	return out
}

// ErrOpenTransactions is returned by Execute while a planned partition has
// an open transaction on the source.
var ErrOpenTransactions = errors.New("transactions are open on the source")

// OpenTransactions lists the planned partitions whose last stable offset is
// below their end: a transaction is open there (a producer still writing,
// or a hanging transaction), and read_committed stops at it, so nothing
// after it, committed records of other producers included, could be
// copied.
func (p *Plan) OpenTransactions() []string {
	var out []string
	for _, t := range p.Topics {
		for _, pp := range t.Partitions {
			if pp.Stable < pp.End {
				out = append(out, fmt.Sprintf("%s/%d (last stable offset %d, end %d)", t.Topic, pp.Partition, pp.Stable, pp.End))
			}
		}
	}
	return out
}

func active(state string) bool {
	switch state {
	case "", "Empty", "Dead":
		return false
	}
	return true
}

// MakePlan reads what would move from src to dst. st, if not nil, is the
// state of an earlier run (topics it created count as resumable).
func MakePlan(ctx context.Context, src, dst *kadm.Client, o Options, st *State) (*Plan, error) {
	p := &Plan{}
	sm, err := src.BrokerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dm, err := dst.BrokerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	p.SourceCluster, p.TargetCluster = sm.Cluster, dm.Cluster
	if p.SourceCluster != "" && p.SourceCluster == p.TargetCluster {
		return nil, fmt.Errorf("source and target are the same cluster (%s)", p.SourceCluster)
	}

	topics, err := src.ListTopics(ctx, o.Topics...)
	if err != nil {
		return nil, fmt.Errorf("source: list topics: %w", err)
	}
	names := topics.Names()
	if len(names) == 0 {
		return nil, errors.New("source has no topic to move")
	}
	for _, t := range o.Topics {
		d, ok := topics[t]
		if !ok || d.Err != nil {
			return nil, fmt.Errorf("source: topic %q: %v", t, errOr(d.Err, kerr.UnknownTopicOrPartition))
		}
	}
	starts, err := src.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("source: log start offsets: %w", err)
	}
	ends, err := src.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("source: end offsets: %w", err)
	}
	stables, err := src.ListCommittedOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("source: last stable offsets: %w", err)
	}
	cfgs, err := src.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("source: topic configs: %w", err)
	}
	existing, err := dst.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("target: list topics: %w", err)
	}
	dstEnds, err := dst.ListEndOffsets(ctx, existingNames(existing)...)
	if err != nil && len(existingNames(existing)) > 0 {
		return nil, fmt.Errorf("target: end offsets: %w", err)
	}
	dstStarts, err := dst.ListStartOffsets(ctx, existingNames(existing)...)
	if err != nil && len(existingNames(existing)) > 0 {
		return nil, fmt.Errorf("target: log start offsets: %w", err)
	}

	for _, name := range names {
		d := topics[name]
		if d.Err != nil {
			return nil, fmt.Errorf("source: topic %q: %w", name, d.Err)
		}
		tp := TopicPlan{Topic: name, Target: "create"}
		for _, part := range d.Partitions.Numbers() {
			pp := PartitionPlan{Partition: part}
			var ok bool
			if pp.Start, ok = listed(starts, name, part); !ok {
				return nil, fmt.Errorf("source: no log start offset for %s/%d", name, part)
			}
			if pp.End, ok = listed(ends, name, part); !ok {
				return nil, fmt.Errorf("source: no end offset for %s/%d", name, part)
			}
			if pp.Stable, ok = listed(stables, name, part); !ok {
				pp.Stable = pp.End
			}
			pp.From = pp.Start
			if st != nil {
				if ps := st.Partitions[partKey(name, part)]; ps != nil && ps.SourceNext >= 0 {
					pp.From = max(ps.SourceNext, pp.Start)
				}
			}
			tp.Partitions = append(tp.Partitions, pp)
		}
		if rc, err := cfgs.On(name, nil); err == nil {
			for _, c := range rc.Configs {
				if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
					if tp.Configs == nil {
						tp.Configs = map[string]string{}
					}
					tp.Configs[c.Key] = *c.Value
				}
			}
		}
		if td, ok := existing[name]; ok && td.Err == nil {
			switch {
			case st != nil && st.Created[name]:
				tp.Target = "resume"
			default:
				if len(td.Partitions) < len(tp.Partitions) {
					return nil, fmt.Errorf("target topic %q has %d partitions, the source %d", name, len(td.Partitions), len(tp.Partitions))
				}
				for _, part := range td.Partitions.Numbers() {
					e, _ := listed(dstEnds, name, part)
					s, _ := listed(dstStarts, name, part)
					if e > s || e > 0 {
						return nil, fmt.Errorf("%w: %s/%d holds offsets up to %d; migrate into new or empty topics only", ErrTargetNotEmpty, name, part, e)
					}
				}
				tp.Target = "empty"
			}
		} else if ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("target: topic %q: %w", name, td.Err)
		}
		p.Topics = append(p.Topics, tp)
	}

	if err := planRetention(ctx, src, dst, cfgs, p, time.Now()); err != nil {
		return nil, err
	}
	if o.RecordsOnly {
		return p, nil
	}
	groups, err := planGroups(ctx, src, o, p.Topics)
	if err != nil {
		return nil, err
	}
	p.Groups = groups
	return p, nil
}

func planGroups(ctx context.Context, src *kadm.Client, o Options, topics []TopicPlan) ([]GroupPlan, error) {
	listed, err := src.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: list groups: %w", err)
	}
	want := o.Groups
	if len(want) == 0 {
		for _, g := range listed.Sorted() {
			want = append(want, g.Group)
		}
	} else {
		for _, g := range want {
			if _, ok := listed[g]; !ok {
				return nil, fmt.Errorf("source: unknown group %q", g)
			}
		}
	}
	bounds := map[string]map[int32]PartitionPlan{}
	for _, t := range topics {
		bounds[t.Topic] = map[int32]PartitionPlan{}
		for _, pp := range t.Partitions {
			bounds[t.Topic][pp.Partition] = pp
		}
	}
	var out []GroupPlan
	for _, g := range want {
		fetched, err := src.FetchOffsets(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("source: offsets of group %q: %w", g, err)
		}
		gp := GroupPlan{Group: g, State: listed[g].State}
		for topic, parts := range fetched {
			tb, ok := bounds[topic]
			if !ok {
				continue
			}
			for part, r := range parts {
				if r.Err != nil {
					return nil, fmt.Errorf("source: group %q offset of %s/%d: %w", g, topic, part, r.Err)
				}
				pp, ok := tb[part]
				if !ok || r.At < 0 {
					continue
				}
				off := GroupOffset{Topic: topic, Partition: part, Source: r.At, Metadata: r.Metadata}
				off.Target = max(min(r.At, pp.Stable)-pp.Start, 0)
				switch {
				case r.At < pp.Start:
					off.Note = fmt.Sprintf("below the source's log start %d: the records in between are already gone; the group resumes at the first record", pp.Start)
				case r.At > pp.Stable:
					off.Note = fmt.Sprintf("past the source's last stable offset %d: the group resumes after the last copied record", pp.Stable)
				}
				gp.Offsets = append(gp.Offsets, off)
			}
		}
		if len(gp.Offsets) == 0 {
			if len(o.Groups) > 0 {
				// Named, but nothing of it would move: say so
				// rather than leave its position behind unsaid.
				return nil, fmt.Errorf("group %q has no committed offset on the topics moved; move its topics too (--topic) or leave it out", g)
			}
			continue
		}
		sort.Slice(gp.Offsets, func(i, j int) bool {
			a, b := gp.Offsets[i], gp.Offsets[j]
			return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
		})
		out = append(out, gp)
	}
	return out, nil
}

func listed(l kadm.ListedOffsets, topic string, part int32) (int64, bool) {
	o, ok := l.Lookup(topic, part)
	if !ok || o.Err != nil {
		return 0, false
	}
	return o.Offset, true
}

func existingNames(ds kadm.TopicDetails) []string {
	var out []string
	for name, d := range ds {
		if d.Err == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// String renders the plan for people.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "from cluster %s to cluster %s\n", p.SourceCluster, p.TargetCluster)
	for _, t := range p.Topics {
		fmt.Fprintf(&b, "topic %s: %d partitions, %d records, target %s", t.Topic, len(t.Partitions), t.Records(), t.Target)
		if n := t.ToCopy(); n != t.Records() {
			fmt.Fprintf(&b, " (%d copied by earlier runs, %d to copy)", t.Records()-n, n)
		}
		if len(t.Configs) > 0 {
			keys := make([]string, 0, len(t.Configs))
			for k := range t.Configs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, k+"="+t.Configs[k])
			}
			fmt.Fprintf(&b, ", configs %s", strings.Join(kv, ","))
		}
		b.WriteByte('\n')
		if t.Retention != nil {
			fmt.Fprintf(&b, "  target %s\n", t.Retention)
			for _, l := range t.Retention.Lost {
				fmt.Fprintf(&b, "  WOULD DELETE AT ONCE %s\n", l)
			}
		}
	}
	for _, g := range p.Groups {
		fmt.Fprintf(&b, "group %s (%s):\n", g.Group, g.State)
		for _, o := range g.Offsets {
			exact := "estimated"
			if o.Exact {
				exact = "exact"
			}
			fmt.Fprintf(&b, "  %s/%d: %d -> %d (%s)", o.Topic, o.Partition, o.Source, o.Target, exact)
			if o.Note != "" {
				fmt.Fprintf(&b, ": %s", o.Note)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}
