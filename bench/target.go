package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A target is one running cluster under measurement.
type target interface {
	addrs() []string
	close() error
}

// A system starts fresh targets of one kind: Rewind in-process with some
// fsync policy, an external cluster, or kfake. kfake systems have peerArgs
// instead of start: the runner starts its kfakepeer process with them
// (see peer.go), or skips the system when the run has no kfakepeer.
type system struct {
	name     string // "rewind", "kfake", "ceiling", "kafka", "kafka-sync"
	start    func() (target, error)
	peerArgs []string
	kafka    bool // the run's Kafka: skipped when the run has none
	skip     bool // not measured in this run
}

type rewindTarget struct {
	b   *broker.Broker
	dir string
}

func (t *rewindTarget) addrs() []string { return []string{t.b.Addr()} }
func (t *rewindTarget) close() error {
	err := t.b.Close()
	if rerr := os.RemoveAll(t.dir); err == nil {
		err = rerr
	}
	return err
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rewindBroker starts an in-process broker on a random loopback port in a
// new directory under root.
func rewindBroker(root string, fsync storage.Fsync, opts ...broker.Option) (*rewindTarget, error) {
	dir, err := os.MkdirTemp(root, "rewind-")
	if err != nil {
		return nil, err
	}
	b, err := openRewind(dir, fsync, opts...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &rewindTarget{b: b, dir: dir}, nil
}

// openRewind opens and starts a broker on an existing data directory.
func openRewind(dir string, fsync storage.Fsync, opts ...broker.Option) (*broker.Broker, error) {
	base := []broker.Option{
		broker.WithListen("127.0.0.1:0"),
		broker.WithDataDir(dir),
		broker.WithFsync(fsync),
		broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(quietLogger()),
	}
	b, err := broker.New(append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	if err := b.Start(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func rewindSystem(root string, fsync storage.Fsync) system {
	return system{name: "rewind", start: func() (target, error) { return rewindBroker(root, fsync) }}
}

// kfakeSystem is franz-go's in-memory cluster: one broker, like Rewind.
func kfakeSystem() system { return system{name: "kfake", peerArgs: []string{}} }

// A ceiling target is kfake doing no work: produce requests are answered
// without storing (BlackholeProduce), fetches from one canned batch
// (SyntheticFetch). The same load against it measures the client's own
// ceiling on this machine: what the franz-go clients reach when the broker
// costs next to nothing.
type ceilingTarget struct{ *peerTarget }

func produceCeiling() system {
	return system{name: "ceiling", peerArgs: []string{"--blackhole-produce"}}
}

func consumeCeiling(recordSize int) system {
	return system{name: "ceiling", peerArgs: []string{"--blackhole-produce", "--synthetic-fetch-record-bytes", strconv.Itoa(recordSize)}}
}

// externalTarget is a cluster the bench did not start: each measurement
// uses its own topics and deletes them afterwards.
type externalTarget struct{ seeds []string }

func (t externalTarget) addrs() []string { return t.seeds }
func (t externalTarget) close() error    { return nil }

func externalSystem(seeds []string) system {
	return system{name: "rewind", start: func() (target, error) { return externalTarget{seeds}, nil }}
}

// admin returns an admin client for t; the caller closes the kgo client.
func admin(t target) (*kadm.Client, *kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.addrs()...))
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl, nil
}

var topicSeq int

// createTopic creates a topic with a fresh name and waits until its
// partitions are served.
func createTopic(ctx context.Context, t target, prefix string, partitions int) (string, error) {
	topicSeq++
	name := fmt.Sprintf("bench-%s-%d-%d", prefix, os.Getpid(), topicSeq)
	adm, cl, err := admin(t)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	// Kafka's controller writes at most 10,000 records per request
	// (QuorumController.MAX_RECORDS_PER_USER_OP; POLICY_VIOLATION beyond),
	// one per partition and one for the topic: larger topics are created
	// and grown with CreatePartitions 5,000 partitions at a time.
	const perRequest = 5000
	first := partitions
	if _, ok := t.(kafkaTarget); ok {
		first = min(partitions, perRequest)
	}
	resp, err := adm.CreateTopic(ctx, int32(first), 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	for have := first; err == nil && have < partitions; have = min(have+perRequest, partitions) {
		var rs kadm.CreatePartitionsResponses
		if rs, err = adm.UpdatePartitions(ctx, min(have+perRequest, partitions), name); err == nil {
			err = rs[name].Err
		}
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		// The name is this run's own: a CreateTopics of thousands of
		// partitions that outlasted kgo's request timeout was retried,
		// and the first attempt made it.
		err = nil
	}
	if err != nil {
		return "", fmt.Errorf("create topic %s: %w", name, err)
	}
	if k, ok := t.(kafkaTarget); ok {
		return name, k.leaders(ctx, name, partitions)
	}
	return name, nil
}

// deleteTopic removes a topic made by createTopic on an external cluster
// or the run's Kafka (in-process targets are thrown away whole).
func deleteTopic(t target, name string) {
	switch t.(type) {
	case externalTarget, kafkaTarget:
	default:
		return
	}
	adm, cl, err := admin(t)
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm.DeleteTopics(ctx, name)
}
