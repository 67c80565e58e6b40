package broker_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Example runs a broker inside the program, produces three records with
// franz-go and reads them back as a consumer group that commits.
func Example() {
	dir, err := os.MkdirTemp("", "rewind-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	b, err := broker.New(
		broker.WithDataDir(dir),
		broker.WithListen("127.0.0.1:0"), // any free port
		broker.WithGroupInitialRebalanceDelay(0),
	)
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Start(); err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	producer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("greetings"), kgo.AllowAutoTopicCreation())
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	for _, v := range []string{"hello", "hallo", "bonjour"} {
		if err := producer.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			log.Fatal(err)
		}
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()),
		kgo.ConsumerGroup("example-group"), kgo.ConsumeTopics("greetings"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()
	for n := 0; n < 3; {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			log.Fatal(err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			fmt.Printf("%d %s\n", r.Offset, r.Value)
			n++
		})
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 0 hello
	// 1 hallo
	// 2 bonjour
}
