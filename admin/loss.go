package admin

import (
	"strconv"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsettool"
)

// timeToLoss forecasts when retention deletes a record the group has not
// read on p (lageval.TimeToLoss), as `rewind group describe` and
// rewind_consumergroup_time_to_loss_seconds do: the first unread record's
// age, the group's commit rate over its Burrow window (st), the topic's
// retention.ms and retention.bytes and the log's average record size.
func (s *Server) timeToLoss(p offsettool.Partition, lag int64, age time.Duration, st lageval.PartitionStatus, now time.Time) (lageval.Loss, bool) {
	if lag <= 0 {
		return lageval.Loss{}, false
	}
	if p.Committed < p.LogStart {
		return lageval.Lost(p.Committed, p.LogStart), true
	}
	in := lageval.LossInput{Lag: lag, Age: age, ConsumeRate: lageval.CommitRate(st, now)}
	cfgs, err := s.b.TopicConfigs(p.Topic)
	if err != nil {
		return lageval.Loss{}, false
	}
	for _, c := range cfgs {
		v, err := strconv.ParseInt(c.Value, 10, 64)
		if err != nil {
			continue
		}
		switch c.Name {
		case "retention.ms":
			if v >= 0 {
				in.Retention = time.Duration(v) * time.Millisecond
			}
		case "retention.bytes":
			in.RetentionBytes = v
		}
	}
	if ti, ok := s.b.Topic(p.Topic); ok && int(p.Partition) < len(ti.Partitions) {
		if pi := ti.Partitions[p.Partition]; pi.HighWatermark > pi.LogStart {
			in.BytesPerRecord = float64(pi.SizeBytes) / float64(pi.HighWatermark-pi.LogStart)
		}
	}
	return lageval.TimeToLoss(in)
}
