package broker

import (
	"hash/fnv"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/group/assign"
	"github.com/rewindhq/rewind/group/consumer"
)

// ConsumerGroupHeartbeat: v0-1 (KIP-848, Kafka 4's consumer group
// protocol; v1: the client makes its member id and may subscribe by
// regex). Served by package group/consumer, which answers as Kafka 4.4's
// group coordinator: epochs, server-side assignment (uniform, range),
// reconciliation, static membership and Kafka's error codes.
//
// What this broker does not do yet: the groups live in memory only (the
// records the coordinator returns are not appended to __consumer_offsets,
// so a restart forgets them); their timers fire on the next
// ConsumerGroupHeartbeat or ConsumerGroupDescribe at or after the
// deadline, not from a timer of their own. Their offsets are committed
// and fetched at member epochs through the classic coordinator's offsets
// store (08_offset_commit_consumer.go).

func init() { regKey(68, 0, 1, handleConsumerGroupHeartbeat) }

// consumerGroups holds the broker's consumer-protocol groups. The
// coordinator is pure and single-threaded: every call holds mu, and none
// waits on I/O.
type consumerGroups struct {
	mu sync.Mutex
	c  *consumer.Coordinator
}

// coordinator returns the coordinator, made on first use; mu is held.
func (cg *consumerGroups) coordinator() *consumer.Coordinator {
	if cg.c == nil {
		cg.c = consumer.NewCoordinator(consumer.Config{})
	}
	return cg.c
}

func handleConsumerGroupHeartbeat(r *request) (reply, error) {
	req := r.kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	host := r.c.nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	topics := newConsumerTopics(r.c.b.reg.list())
	cg := &r.c.b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	c := cg.coordinator()
	at := time.Now()
	c.Tick(at)
	resp, _ := c.Heartbeat(at, consumer.Client{ID: r.clientID, Host: "/" + host}, req, topics)
	return now(resp)
}

// consumerTopics is the topics a consumer group can subscribe to: the
// published topics but the internal ones, as Kafka's regex resolution
// skips them.
type consumerTopics struct {
	byName  map[string]catalog.Topic
	names   []string
	version int64
}

func newConsumerTopics(list []catalog.Topic) *consumerTopics {
	t := &consumerTopics{byName: make(map[string]catalog.Topic, len(list))}
	h := fnv.New64a()
	for _, m := range list { // sorted by name
		if m.Internal {
			continue
		}
		t.byName[m.Name] = m
		t.names = append(t.names, m.Name)
		h.Write([]byte(m.Name))
		h.Write(m.ID[:])
		h.Write([]byte{byte(m.Partitions >> 24), byte(m.Partitions >> 16), byte(m.Partitions >> 8), byte(m.Partitions), 0})
	}
	// The version only has to change when a topic appears, goes or grows.
	t.version = int64(h.Sum64())
	return t
}

func (t *consumerTopics) Lookup(name string) (assign.TopicID, int32, bool) {
	m, ok := t.byName[name]
	return assign.TopicID(m.ID), m.Partitions, ok
}

func (t *consumerTopics) Names() []string { return t.names }
func (t *consumerTopics) Version() int64  { return t.version }
