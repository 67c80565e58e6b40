package broker

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// setProducerQuota gives entity (type, name pairs; "<default>" for the
// default) a producer_byte_rate.
func setProducerQuota(t *testing.T, cl *kgo.Client, rate float64, comps ...string) {
	t.Helper()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	for i := 0; i+1 < len(comps); i += 2 {
		c := kmsg.NewAlterClientQuotasRequestEntryEntity()
		c.Type = comps[i]
		if comps[i+1] != "<default>" {
			c.Name = kmsg.StringPtr(comps[i+1])
		}
		e.Entity = append(e.Entity, c)
	}
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Value = keyProducerByteRate, rate
	e.Ops = []kmsg.AlterClientQuotasRequestEntryOp{op}
	req := kmsg.NewPtrAlterClientQuotasRequest()
	req.Entries = []kmsg.AlterClientQuotasRequestEntry{e}
	resp, err := req.RequestWith(secCtx(t), cl)
	if err != nil || resp.Entries[0].ErrorCode != 0 {
		t.Fatalf("AlterClientQuotas: %v %+v", err, resp)
	}
}

// bigProduce is a Produce of about 110 KB to topic q, partition 0.
func bigProduce(txn bool) *kmsg.ProduceRequest {
	recs := make([]storage.Record, 2000)
	for i := range recs {
		recs[i] = storage.Record{Timestamp: 1000, Value: []byte(strings.Repeat("v", 50))}
	}
	batch := storage.BuildBatch(1000, recs)
	if txn {
		batch = storage.BuildTxnBatch(1000, 7, 0, 0, recs)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "q"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	return req
}

func produceOnce(t *testing.T, cl *kgo.Client, req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	t.Helper()
	resp, err := cl.Broker(0).Request(secCtx(t), pinnedReq{req})
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.ProduceResponse)
}

// TestProduceBytesChargedAsKafka: producer_byte_rate counts a Produce
// whose every topic is refused by the authorizer (Kafka's handler goes on
// with nothing to append and records the request's bytes as for any
// other), but not one of transactional records without a transactional
// id (Kafka answers it with an error response before).
func TestProduceBytesChargedAsKafka(t *testing.T) {
	// 10 KB/s: a 110 KB request over the 10 s minimum window is 11 KB/s,
	// about 1 s of throttle.
	t.Run("topics refused", func(t *testing.T) {
		b := startACL(t, t.TempDir())
		admin := aclClient(t, b, "admin")
		if _, err := kadm.NewClient(admin).CreateTopic(secCtx(t), 1, 1, nil, "q"); err != nil {
			t.Fatal(err)
		}
		setProducerQuota(t, admin, 10000, "user", "bob")
		resp := produceOnce(t, aclClient(t, b, "bob"), bigProduce(false))
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("produce: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(c))
		}
		if resp.ThrottleMillis < 500 {
			t.Fatalf("throttle %d ms: the refused request's bytes were not charged", resp.ThrottleMillis)
		}
	})
	t.Run("no transactional id", func(t *testing.T) {
		b := startTest(t)
		cl := secClient(t, b.Addr())
		if _, err := kadm.NewClient(cl).CreateTopic(secCtx(t), 1, 1, nil, "q"); err != nil {
			t.Fatal(err)
		}
		setProducerQuota(t, cl, 10000, "user", "<default>")
		for i := 0; i < 2; i++ {
			resp := produceOnce(t, cl, bigProduce(true))
			if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.TransactionalIDAuthorizationFailed.Code {
				t.Fatalf("produce: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", kerr.ErrorForCode(c))
			}
			if resp.ThrottleMillis != 0 {
				t.Fatalf("request %d throttled %d ms: its bytes were charged", i, resp.ThrottleMillis)
			}
		}
	})
}
