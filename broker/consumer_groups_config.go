package broker

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rewindhq/rewind/group/assign"
	"github.com/rewindhq/rewind/group/consumer"
)

// consumerGroupConfig is the consumer groups' configuration from the
// broker's, checked as Kafka 4.4's GroupCoordinatorConfig checks it at
// start: every setting at least 1 ms (or 1 member), the session timeout
// and the heartbeat interval within their min and max, the heartbeat
// interval below the session timeout, and the assignors known and
// named once. A zero setting takes Kafka's default. The min and max
// bound the broker's own values only: Rewind has no per-group configs
// (Kafka's consumer.session.timeout.ms on a GROUP resource) for them to
// bound.
func consumerGroupConfig(cfg Config) (consumer.Config, error) {
	d := DefaultConfig()
	or := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	session := or(cfg.ConsumerGroupSessionTimeout, d.ConsumerGroupSessionTimeout)
	minSession := or(cfg.ConsumerGroupMinSessionTimeout, d.ConsumerGroupMinSessionTimeout)
	maxSession := or(cfg.ConsumerGroupMaxSessionTimeout, d.ConsumerGroupMaxSessionTimeout)
	hb := or(cfg.ConsumerGroupHeartbeatInterval, d.ConsumerGroupHeartbeatInterval)
	minHB := or(cfg.ConsumerGroupMinHeartbeatInterval, d.ConsumerGroupMinHeartbeatInterval)
	maxHB := or(cfg.ConsumerGroupMaxHeartbeatInterval, d.ConsumerGroupMaxHeartbeatInterval)
	for _, s := range []struct {
		name string
		v    time.Duration
	}{
		{"session.timeout.ms", session}, {"min.session.timeout.ms", minSession}, {"max.session.timeout.ms", maxSession},
		{"heartbeat.interval.ms", hb}, {"min.heartbeat.interval.ms", minHB}, {"max.heartbeat.interval.ms", maxHB},
	} {
		if s.v < time.Millisecond || s.v > math.MaxInt32*time.Millisecond {
			return consumer.Config{}, fmt.Errorf("broker: --group-consumer-%s (group.consumer.%s) must be between 1ms and %v, got %v",
				strings.ReplaceAll(strings.TrimSuffix(s.name, ".ms"), ".", "-"), s.name, math.MaxInt32*time.Millisecond, s.v)
		}
	}
	// Kafka's checks, in its order and with its messages.
	for _, c := range []struct {
		ok        bool
		a, rel, b string
		av, bv    time.Duration
	}{
		{maxHB >= minHB, "max.heartbeat.interval.ms", "greater than or equal to", "min.heartbeat.interval.ms", maxHB, minHB},
		{hb >= minHB, "heartbeat.interval.ms", "greater than or equal to", "min.heartbeat.interval.ms", hb, minHB},
		{hb <= maxHB, "heartbeat.interval.ms", "less than or equal to", "max.heartbeat.interval.ms", hb, maxHB},
		{maxSession >= minSession, "max.session.timeout.ms", "greater than or equal to", "min.session.timeout.ms", maxSession, minSession},
		{session >= minSession, "session.timeout.ms", "greater than or equal to", "min.session.timeout.ms", session, minSession},
		{session <= maxSession, "session.timeout.ms", "less than or equal to", "max.session.timeout.ms", session, maxSession},
		{hb < session, "heartbeat.interval.ms", "less than", "session.timeout.ms", hb, session},
	} {
		if !c.ok {
			return consumer.Config{}, fmt.Errorf("broker: group.consumer.%s must be %s group.consumer.%s (%v, %v)", c.a, c.rel, c.b, c.av, c.bv)
		}
	}
	maxSize := cfg.ConsumerGroupMaxSize
	if maxSize == 0 {
		maxSize = d.ConsumerGroupMaxSize
	}
	if maxSize < 1 {
		return consumer.Config{}, fmt.Errorf("broker: --group-consumer-max-size (group.consumer.max.size) must be at least 1, got %d", maxSize)
	}
	names := cfg.ConsumerGroupAssignors
	if len(names) == 0 {
		names = d.ConsumerGroupAssignors
	}
	var assignors []assign.Assignor
	seen := map[string]bool{}
	for _, n := range names {
		var a assign.Assignor
		switch strings.TrimSpace(n) {
		case "uniform", "org.apache.kafka.coordinator.group.assignor.UniformAssignor":
			a = assign.Uniform{}
		case "range", "org.apache.kafka.coordinator.group.assignor.RangeAssignor":
			a = assign.Range{}
		default:
			return consumer.Config{}, fmt.Errorf("broker: --group-consumer-assignors (group.consumer.assignors): unknown assignor %q: Rewind has uniform and range", n)
		}
		if seen[a.Name()] {
			return consumer.Config{}, fmt.Errorf("broker: --group-consumer-assignors (group.consumer.assignors): assignor %s is named more than once", a.Name())
		}
		seen[a.Name()] = true
		assignors = append(assignors, a)
	}
	policy, err := consumer.ParseMigrationPolicy(cfg.ConsumerGroupMigrationPolicy)
	if err != nil {
		return consumer.Config{}, fmt.Errorf("broker: --group-consumer-migration-policy: %w", err)
	}
	return consumer.Config{SessionTimeout: session, HeartbeatInterval: hb, MaxSize: maxSize, Assignors: assignors, MigrationPolicy: policy}, nil
}

// consumerGroupConfig is the consumer groups' configuration, checked by
// New already.
func (b *Broker) consumerGroupConfig() consumer.Config {
	c, err := consumerGroupConfig(b.cfg)
	if err != nil {
		panic(err) // New refused it
	}
	// A group's own GROUP configs (configs_group.go), clamped to the
	// broker's bounds.
	c.PerGroup = func(group string, c consumer.Config) consumer.Config {
		// Only what the group set: the rest stays the broker's, as its
		// flags made it. b.gcfg is opened by New, before the groups start.
		v := b.gcfg.Values(group)
		if v.IsSet("consumer.session.timeout.ms") {
			c.SessionTimeout = v.Millis("consumer.session.timeout.ms")
		}
		if v.IsSet("consumer.heartbeat.interval.ms") {
			c.HeartbeatInterval = v.Millis("consumer.heartbeat.interval.ms")
		}
		if v.IsSet("consumer.assignment.interval.ms") {
			c.AssignmentInterval = v.Millis("consumer.assignment.interval.ms")
			if c.AssignmentInterval == 0 {
				c.AssignmentInterval = -1 // Kafka's 0: every epoch at once
			}
		}
		return c
	}
	return c
}
