package sarama_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSaramaTransactions drives Sarama's transactional producer against
// the real `rewind serve` and against Apache Kafka: two committed
// transactions with an aborted one between them, then a committed
// sentinel on every partition. A Sarama consumer with read_committed must
// read exactly the committed records, in order, and none of the aborted
// ones; one with read_uncommitted reads the aborted ones too (they are in
// the log, so the filtering was needed).
func TestSaramaTransactions(t *testing.T) {
	t.Run("rewind", func(t *testing.T) {
		p := proctest.Start(t, proctest.Config{Binary: binary})
		if !servesTransactions(t, p.Addr) {
			t.Skip("this Rewind does not serve transactions (no EndTxn in ApiVersions)")
		}
		saramaTransactions(t, p.Addr)
	})
	t.Run("kafka", func(t *testing.T) {
		saramaTransactions(t, kafkaref.Start(t).Bootstrap())
	})
}

func servesTransactions(t *testing.T, addr string) bool {
	t.Helper()
	cl := proctest.NewClient(t, addr)
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(proctest.Ctx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 26 { // EndTxn
			return true
		}
	}
	return false
}

func saramaTransactions(t *testing.T, addr string) {
	const parts = 2
	topic := fmt.Sprintf("sarama-txn-%d", time.Now().UnixNano())
	proctest.CreateTopic(t, proctest.NewClient(t, addr), topic, parts)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Transaction.ID = topic + "-producer"
	cfg.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	want := map[int32][]string{}
	var aborted []string
	txn := func(name string, n int, commit bool) {
		t.Helper()
		if err := prod.BeginTxn(); err != nil {
			t.Fatalf("%s: begin: %v", name, err)
		}
		for i := range n {
			v := fmt.Sprintf("%s-%02d", name, i)
			part := int32(i % parts)
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatalf("%s: send: %v", name, err)
			}
			if name == "sentinel" {
				continue
			}
			if commit {
				want[part] = append(want[part], v)
			} else {
				aborted = append(aborted, v)
			}
		}
		end := prod.CommitTxn
		if !commit {
			end = prod.AbortTxn
		}
		if err := end(); err != nil {
			t.Fatalf("%s: end (commit=%v): %v", name, commit, err)
		}
		if prod.TxnStatus()&sarama.ProducerTxnFlagReady == 0 {
			t.Fatalf("%s: producer not ready after the end: %v", name, prod.TxnStatus())
		}
	}
	txn("committed1", 10, true)
	txn("aborted", 10, false)
	txn("committed2", 10, true)
	txn("sentinel", parts, true) // one on each partition, read last

	for _, committed := range []bool{true, false} {
		ccfg := sarama.NewConfig()
		ccfg.Version = sarama.V3_0_0_0
		ccfg.Consumer.IsolationLevel = sarama.ReadUncommitted
		if committed {
			ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
		}
		cons, err := sarama.NewConsumer([]string{addr}, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		var gotAborted []string
		for part := range int32(parts) {
			got := readToSentinel(t, cons, topic, part)
			var data []string
			for _, v := range got {
				if slices.Contains(aborted, v) {
					gotAborted = append(gotAborted, v)
				} else {
					data = append(data, v)
				}
			}
			if !slices.Equal(data, want[part]) {
				t.Errorf("read_committed=%v partition %d: committed records %q, want %q", committed, part, data, want[part])
			}
		}
		cons.Close()
		switch {
		case committed && len(gotAborted) > 0:
			t.Errorf("read_committed read aborted records %q", gotAborted)
		case !committed && len(gotAborted) != len(aborted):
			t.Errorf("read_uncommitted read %d of the %d aborted records: %q", len(gotAborted), len(aborted), gotAborted)
		}
	}
}

// readToSentinel reads one partition from the start up to and excluding
// the sentinel record.
func readToSentinel(t *testing.T, cons sarama.Consumer, topic string, part int32) []string {
	t.Helper()
	pc, err := cons.ConsumePartition(topic, part, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for {
		select {
		case m := <-pc.Messages():
			v := string(m.Value)
			if len(v) >= 8 && v[:8] == "sentinel" {
				return got
			}
			got = append(got, v)
		case err := <-pc.Errors():
			t.Fatalf("partition %d: %v", part, err)
		case <-ctx.Done():
			t.Fatalf("partition %d: no sentinel within 30 s; read %q", part, got)
		}
	}
}
