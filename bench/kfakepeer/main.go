// Command kfakepeer runs franz-go's kfake, a one-broker in-memory Kafka
// cluster, on a port of 127.0.0.1: the comparison peer of `rewind bench`.
//
// It is a module of its own (bench/kfakepeer/go.mod) so that the rewind
// binary does not link kfake: `rewind bench` starts this program as a child
// process, one per measurement, either prebuilt (--kfake PATH, or
// rewind-kfakepeer next to the rewind binary or on PATH) or built from
// this directory with the Go toolchain when rewind bench runs inside the
// source tree. Build it with
//
//	cd bench/kfakepeer && go build -o rewind-kfakepeer .
//
// Once the cluster listens it prints one line to stdout,
//
//	ready ADDR STARTUP_NS
//
// where STARTUP_NS is how long kfake.NewCluster took (with --data-dir,
// reloading the persisted state), and then runs until SIGTERM, SIGINT, or
// end of its standard input (so it cannot outlive a parent that died).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kfakepeer:", err)
		os.Exit(1)
	}
}

func run() error {
	port := flag.Int("port", 0, "port to listen on, on 127.0.0.1 (0: any free port)")
	dataDir := flag.String("data-dir", "", "persist the cluster's state here and reload it at start (kfake.DataDir)")
	blackhole := flag.Bool("blackhole-produce", false, "answer produce requests without storing (kfake.BlackholeProduce): the client ceiling")
	synthetic := flag.Int("synthetic-fetch-record-bytes", 0, "answer every fetch from one canned batch of random records of this size (kfake.SyntheticFetch)")
	heartbeatMs := flag.Int("consumer-heartbeat-interval-ms", 0, "group.consumer.heartbeat.interval.ms for consumer-protocol groups (kfake.BrokerConfigs; 0: kfake's default)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	// kfake listens on 127.0.0.1 only.
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if *port != 0 {
		opts = append(opts, kfake.Ports(*port))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *blackhole {
		opts = append(opts, kfake.BlackholeProduce())
	}
	if *synthetic > 0 {
		opts = append(opts, kfake.SyntheticFetch(kfake.SyntheticBatch{RecordBytes: *synthetic, RandomFrac: 1}))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if *heartbeatMs > 0 {
		opts = append(opts, kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": strconv.Itoa(*heartbeatMs)}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("ready %s %d\n", c.ListenAddrs()[0], time.Since(start).Nanoseconds())

	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		close(eof)
	}()
	select {
	case <-ctx.Done():
	case <-eof:
	}
	return nil
}
