package broker

import (
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/storage"
)

// descCGTimeToLoss forecasts, per partition a group committed to, when
// retention deletes a record the group has not read at its current pace
// (lageval.TimeToLoss): 0 when it already did (the committed offset is
// below the log start), +Inf when it never does at that pace. Its labels
// are those of the other consumer-group series.
var descCGTimeToLoss = desc("rewind_consumergroup_time_to_loss_seconds",
	"Seconds until, at the current pace of the group and its producers, retention (retention.ms, retention.bytes) deletes a record the group has not read at Topic/Partition: 0 when it already did, +Inf when it does not at this pace. The earliest it can happen: retention deletes whole segments.",
	"consumergroup", "topic", "partition")

// groupStatuses judges each group at most once a scrape: the time-to-loss
// forecast and the Burrow series share the verdicts.
type groupStatuses struct {
	b    *Broker
	done map[string]lageval.GroupStatus
}

func (g *groupStatuses) of(name string) lageval.GroupStatus {
	if st, ok := g.done[name]; ok {
		return st
	}
	if g.done == nil {
		g.done = map[string]lageval.GroupStatus{}
	}
	st := g.b.LagStatus(name)
	g.done[name] = st
	return st
}

// timeToLoss writes the forecast of group on one partition, whose
// committed offset is committed, lag its lag and age the age of its first
// unconsumed record.
func (g *groupStatuses) timeToLoss(ch chan<- prometheus.Metric, group, topic string, p int, l *storage.Log, committed, lag int64, age time.Duration, now time.Time) {
	ps := strconv.Itoa(p)
	start := l.LogStartOffset()
	if lag > 0 && committed < start {
		gauge(ch, descCGTimeToLoss, 0, group, topic, ps)
		return
	}
	cfg := l.Config()
	in := lageval.LossInput{Lag: lag, Age: age, RetentionBytes: cfg.RetentionBytes}
	if cfg.RetentionMs >= 0 {
		in.Retention = time.Duration(cfg.RetentionMs) * time.Millisecond
	}
	if n := l.HighWatermark() - start; n > 0 {
		in.BytesPerRecord = float64(l.Size()) / float64(n)
	}
	for _, st := range g.of(group).Partitions {
		if st.Topic == topic && st.Partition == int32(p) {
			in.ConsumeRate = lageval.CommitRate(st, now)
		}
	}
	v := math.Inf(1)
	if loss, ok := lageval.TimeToLoss(in); ok {
		v = loss.In.Seconds()
	}
	gauge(ch, descCGTimeToLoss, v, group, topic, ps)
}
