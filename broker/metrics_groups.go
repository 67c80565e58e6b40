package broker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewindhq/rewind/internal/series"
)

// The group type and epoch on /metrics. kafka_exporter's consumer-group
// series keep its exact names and labels (dashboards join on them), so the
// type and the epoch are series of their own, keyed by the same
// consumergroup label:
//
//	rewind_consumergroup_info{consumergroup,type,state,protocol} 1
//	rewind_consumergroup_epoch{consumergroup,type}   generation (classic) or group epoch (consumer)
//	rewind_consumergroup_assignment_epoch{consumergroup}  a consumer group's target assignment epoch
//
// A consumer group (KIP-848) keeps its offsets in the classic
// coordinator as an offsets-only group; it is reported once, as a
// consumer group, and kafka_consumergroup_members counts its members
// (kafka_exporter, through DescribeGroups, would show 0). The
// descriptors are package series's.

// groupKind is one group as the metrics name it.
type groupKind struct {
	typ, state, protocol string
	epoch, assignment    int32
	members              int
}

// groupKinds returns every group of either coordinator by name: the
// classic coordinator's (offsets-only groups included), then the consumer
// groups over them.
func (b *Broker) groupKinds() map[string]groupKind {
	out := map[string]groupKind{}
	for _, g := range b.grp.Groups() {
		out[g.Name] = groupKind{typ: "classic", state: g.State, protocol: g.Protocol, epoch: g.Generation, members: g.Members}
	}
	cg := &b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.c == nil {
		return out
	}
	// Read as it stands: a scrape never moves a group's timers.
	for _, id := range cg.c.GroupIDs() {
		g := cg.c.Group(id)
		out[id] = groupKind{typ: "consumer", state: string(g.State()), protocol: g.Assignor(),
			epoch: g.Epoch, assignment: g.AssignmentEpoch, members: len(g.MemberIDs())}
	}
	return out
}

func collectGroupKinds(ch chan<- prometheus.Metric, kinds map[string]groupKind) {
	for name, k := range kinds {
		gauge(ch, series.CGInfo, 1, name, k.typ, k.state, k.protocol)
		gauge(ch, series.CGEpoch, float64(k.epoch), name, k.typ)
		if k.typ == "consumer" {
			gauge(ch, series.CGAssignmentEpoch, float64(k.assignment), name)
		}
	}
}
