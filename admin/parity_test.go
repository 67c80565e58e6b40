package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The console is refused what a Kafka client is refused, with the same
// Kafka error: each case is sent over the wire (kmsg, a real connection)
// and to the admin API, and the codes and messages must agree.

// send makes a JSON request and decodes the answer into v.
func (e *env) send(t *testing.T, method, path, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// sameRefusal checks that the console's answer (status, body) refuses
// what the wire refused with code and msg.
func sameRefusal(t *testing.T, what string, code int16, msg *string, status int, body apiError) {
	t.Helper()
	if code == 0 {
		t.Errorf("%s: the wire accepted it", what)
		return
	}
	wire := kerr.ErrorForCode(code).(*kerr.Error)
	if status < 400 || body.KafkaCode != code || body.KafkaError != wire.Message {
		t.Errorf("%s: console %d %s (%d) %q, wire %s (%d)", what, status, body.KafkaError, body.KafkaCode, body.Error, wire.Message, code)
	}
	if msg != nil && !strings.Contains(body.Error, *msg) {
		t.Errorf("%s: console message %q, wire %q", what, body.Error, *msg)
	}
}

func wireCreate(t *testing.T, cl *kgo.Client, name string, parts int32, rf int16, cfgs map[string]string) (int16, *string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
	for k, v := range cfgs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage
}

func consoleCreate(t *testing.T, e *env, name string, parts int32, rf int16, cfgs map[string]string) (int, apiError) {
	t.Helper()
	js, _ := json.Marshal(cfgs)
	body := fmt.Sprintf(`{"name":%q,"partitions":%d,"replication_factor":%d,"configs":%s}`, name, parts, rf, js)
	var ae apiError
	status := e.send(t, "POST", "/api/v1/topics", body, &ae)
	return status, ae
}

func wireAddPartitions(t *testing.T, cl *kgo.Client, name string, count int32) (int16, *string) {
	t.Helper()
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, count
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage
}

func wireProduce(t *testing.T, cl *kgo.Client, topic string, p int32, recs []storage.Record) (int16, *string) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, storage.BuildBatch(recs[0].Timestamp, recs)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if err := proctest.ProduceTopicIDs(ctxT(t), cl, req); err != nil {
		t.Fatal(err)
	}
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode, resp.Topics[0].Partitions[0].ErrorMessage
}

func TestTopicRefusalsMatchTheWire(t *testing.T) {
	// Room for one more partition besides __consumer_offsets' one and
	// the topic made below.
	e := newEnv(t, func(c *broker.Config) { c.OffsetsTopicPartitions, c.MaxBrokerPartitions = 1, 4 })
	e.createTopic(t, "exists", 2)
	cl := e.client(t)
	for _, c := range []struct {
		what  string
		name  string
		parts int32
		rf    int16
		cfgs  map[string]string
		want  *kerr.Error
	}{
		{"past --max-broker-partitions", "big", 5, -1, nil, kerr.PolicyViolation},
		{"a name with a slash", "bad/name", 1, -1, nil, kerr.InvalidTopicException},
		{"the name ..", "..", 1, -1, nil, kerr.InvalidTopicException},
		{"a name of 250 characters", strings.Repeat("x", 250), 1, -1, nil, kerr.InvalidTopicException},
		{"the offsets topic", broker.OffsetsTopic, 1, -1, nil, kerr.TopicAlreadyExists},
		{"an existing topic", "exists", 1, -1, nil, kerr.TopicAlreadyExists},
		{"a bad config value", "cfg", 1, -1, map[string]string{"retention.ms": "soon"}, kerr.InvalidConfig},
		{"an unknown config", "cfg", 1, -1, map[string]string{"no.such.config": "1"}, kerr.InvalidConfig},
		{"three replicas", "rf", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"no partitions", "zero", 0, -1, nil, kerr.InvalidPartitions},
	} {
		status, body := consoleCreate(t, e, c.name, c.parts, c.rf, c.cfgs)
		code, msg := wireCreate(t, cl, c.name, c.parts, c.rf, c.cfgs)
		if code != c.want.Code {
			t.Errorf("%s: the wire answered %v, the test expects %v", c.what, kerr.ErrorForCode(code), c.want)
		}
		sameRefusal(t, c.what, code, msg, status, body)
	}
	for _, name := range []string{"big", "cfg", "rf", "zero"} {
		if _, ok := e.b.Topic(name); ok {
			t.Errorf("refused topic %s exists", name)
		}
	}

	// Partitions: fewer, unknown topic, internal topic, past the limit.
	for _, c := range []struct {
		what  string
		topic string
		count int32
	}{
		{"fewer partitions", "exists", 1},
		{"an unknown topic", "nope", 3},
		{"the offsets topic", broker.OffsetsTopic, 5},
		{"past --max-broker-partitions", "exists", 4},
	} {
		var ae apiError
		status := e.send(t, "POST", "/api/v1/topics/"+c.topic+"/partitions", fmt.Sprintf(`{"count":%d}`, c.count), &ae)
		code, msg := wireAddPartitions(t, cl, c.topic, c.count)
		sameRefusal(t, "add partitions: "+c.what, code, msg, status, ae)
	}
	if ti, _ := e.b.Topic("exists"); len(ti.Partitions) != 2 {
		t.Errorf("refused partition changes left %d partitions, want 2", len(ti.Partitions))
	}

	// Configs: a bad value, an unknown name, an unknown topic.
	for _, c := range []struct{ what, topic, name, value string }{
		{"a bad value", "exists", "retention.ms", "soon"},
		{"an unknown name", "exists", "no.such.config", "1"},
		{"an unknown topic", "nope", "retention.ms", "1000"},
	} {
		var ae apiError
		status := e.send(t, "POST", "/api/v1/topics/"+c.topic+"/configs", fmt.Sprintf(`{"set":{%q:%q}}`, c.name, c.value), &ae)
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, c.topic
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Value = c.name, kmsg.StringPtr(c.value)
		rr.Configs = append(rr.Configs, rc)
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		sameRefusal(t, "configs: "+c.what, resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage, status, ae)
	}

	// Produce: an internal topic, a partition that does not exist, a batch
	// above the topic's max.message.bytes.
	if code := e.send(t, "POST", "/api/v1/topics/exists/configs", `{"set":{"max.message.bytes":"200"}}`, nil); code != 200 {
		t.Fatalf("set max.message.bytes: %d", code)
	}
	big := strings.Repeat("v", 300)
	for _, c := range []struct {
		what, topic string
		partition   int32
		value       string
	}{
		{"the offsets topic", broker.OffsetsTopic, 0, "x"},
		{"a partition that does not exist", "exists", 7, "x"},
		{"a batch above max.message.bytes", "exists", 0, big},
	} {
		var ae apiError
		status := e.send(t, "POST", "/api/v1/topics/"+c.topic+"/records", fmt.Sprintf(`{"partition":%d,"records":[{"value":%q,"timestamp":"1700000000000"}]}`, c.partition, c.value), &ae)
		code, msg := wireProduce(t, cl, c.topic, c.partition, []storage.Record{{Timestamp: 1700000000000, Value: []byte(c.value)}})
		sameRefusal(t, "produce: "+c.what, code, msg, status, ae)
	}
	if ti, _ := e.b.Topic("exists"); ti.Records != 0 {
		t.Errorf("refused produces stored %d records", ti.Records)
	}
}

// On a full disk the console cannot create topics, add partitions or
// produce, as Kafka clients cannot (KAFKA_STORAGE_ERROR, the reason in the
// message), and can still delete a topic to free space.
func TestReadOnlyRefusalsMatchTheWire(t *testing.T) {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(nil)
	quiet := broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	first := rewindtest.Start(t, broker.WithDataDir(dir), broker.WithFS(efs), quiet)
	if _, err := first.AdminAPI().CreateTopic(ctxT(t), "orders", 1, -1, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := first.AdminAPI().CreateTopic(ctxT(t), "old", 1, -1, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// A reserve of another size is made again at start, and there is no
	// room for it: the broker starts read-only.
	efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Base("disk.reserve"), Err: syscall.ENOSPC})
	e := newEnv(t, broker.WithDataDir(dir), broker.WithFS(efs), quiet, broker.WithDiskReserve(2<<20))
	if e.b.ReadOnly() == nil {
		t.Fatal("the broker is not read-only")
	}
	cl := e.client(t)

	status, body := consoleCreate(t, e, "new", 1, -1, nil)
	code, msg := wireCreate(t, cl, "new", 1, -1, nil)
	sameRefusal(t, "create a topic", code, msg, status, body)
	if code != kerr.KafkaStorageError.Code {
		t.Errorf("create on a full disk: wire answered %v", kerr.ErrorForCode(code))
	}

	var ae apiError
	status = e.send(t, "POST", "/api/v1/topics/orders/partitions", `{"count":2}`, &ae)
	code, msg = wireAddPartitions(t, cl, "orders", 2)
	sameRefusal(t, "add partitions", code, msg, status, ae)

	ae = apiError{}
	status = e.send(t, "POST", "/api/v1/topics/orders/records", `{"records":[{"value":"x","timestamp":"1700000000000"}]}`, &ae)
	code, msg = wireProduce(t, cl, "orders", 0, []storage.Record{{Timestamp: 1700000000000, Value: []byte("x")}})
	sameRefusal(t, "produce", code, msg, status, ae)
	if status != http.StatusServiceUnavailable {
		t.Errorf("produce on a full disk: %d, want 503", status)
	}

	if code := e.send(t, "DELETE", "/api/v1/topics/old", "", nil); code != 200 {
		t.Errorf("delete a topic on a full disk: %d", code)
	}
	if _, ok := e.b.Topic("new"); ok {
		t.Error("a topic was created on a full disk")
	}
}

// Groups: a reset, a deletion and an offsets deletion of a group with
// members are refused as on the wire (the reset names the members, as
// kafka-consumer-groups does; the coordinator's own refusal of the commit,
// should a member join between the check and the commit, is the wire's);
// an unknown group is GROUP_ID_NOT_FOUND both ways.
func TestGroupRefusalsMatchTheWire(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "audit-log", 2)
	e.commitNow(t, "audit", "audit-log", map[int32]int64{0: 0, 1: 0})
	e.member(t, "audit", "audit-log", "audit-service")
	cl := e.client(t)

	var ae apiError
	if code := e.post(t, "/api/v1/groups/audit/reset", `{"target":"to-latest","execute":true}`, &ae); code != http.StatusConflict ||
		len(ae.Members) != 1 || ae.Members[0].ClientID != "audit-service" || !strings.Contains(ae.Error, "audit-service") {
		t.Errorf("reset of a group with a member: %d %+v", code, ae)
	}

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "audit", -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "audit-log"
	// OffsetCommit v10 names topics by id only.
	if td, err := kadm.NewClient(cl).ListTopics(ctxT(t), "audit-log"); err != nil || td["audit-log"].Err != nil {
		t.Fatalf("topic id: %v %v", err, td)
	} else {
		ct.TopicID = td["audit-log"].ID
	}
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 0, 0
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	cresp, err := commit.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	wireCode := cresp.Topics[0].Partitions[0].ErrorCode
	err = e.b.AdminAPI().CommitOffsets(ctxT(t), "audit", map[string]map[int32]int64{"audit-log": {0: 0}})
	if wireCode == 0 || !errorIsCode(err, wireCode) {
		t.Errorf("commit from outside the group while it has a member: wire %v, in process %v", kerr.ErrorForCode(wireCode), err)
	}

	ae = apiError{}
	status := e.send(t, "DELETE", "/api/v1/groups/audit", "", &ae)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"audit"}
	dresp, err := dg.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	sameRefusal(t, "delete a group with members", dresp.Groups[0].ErrorCode, dresp.Groups[0].ErrorMessage, status, ae)

	ae = apiError{}
	status = e.send(t, "DELETE", "/api/v1/groups/audit/offsets?topic=audit-log:0", "", &ae)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "audit"
	ot := kmsg.NewOffsetDeleteRequestTopic()
	ot.Topic = "audit-log"
	op := kmsg.NewOffsetDeleteRequestTopicPartition()
	op.Partition = 0
	ot.Partitions = append(ot.Partitions, op)
	od.Topics = append(od.Topics, ot)
	oresp, err := od.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	ocode := oresp.ErrorCode
	if ocode == 0 && len(oresp.Topics) > 0 {
		ocode = oresp.Topics[0].Partitions[0].ErrorCode
	}
	sameRefusal(t, "delete offsets a member consumes", ocode, nil, status, ae)

	ae = apiError{}
	status = e.send(t, "DELETE", "/api/v1/groups/nobody", "", &ae)
	dg.Groups = []string{"nobody"}
	if dresp, err = dg.RequestWith(ctxT(t), cl); err != nil {
		t.Fatal(err)
	}
	sameRefusal(t, "delete an unknown group", dresp.Groups[0].ErrorCode, dresp.Groups[0].ErrorMessage, status, ae)
	if status != http.StatusNotFound {
		t.Errorf("delete an unknown group: %d, want 404", status)
	}
	if got := e.b.Coordinator().Committed("audit")["audit-log"]; len(got) != 2 {
		t.Errorf("refused changes left the group's offsets %v", got)
	}
}

func errorIsCode(err error, code int16) bool {
	var ke *broker.KafkaError
	return errors.As(err, &ke) && ke.Err.Code == code
}

// At most maxProducing produce bodies are decoded at once; one more waits,
// then is answered 503 with Retry-After and stores nothing.
func TestProduceBusy(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 1)
	for i := 0; i < maxProducing; i++ {
		e.srv.producing <- struct{}{}
	}
	body := `{"records":[{"value":"x"}]}`
	var ae apiError
	if code := e.send(t, "POST", "/api/v1/topics/orders/records", body, &ae); code != http.StatusServiceUnavailable {
		t.Errorf("busy produce: %d %q", code, ae.Error)
	}
	if ti, _ := e.b.Topic("orders"); ti.Records != 0 {
		t.Errorf("a refused produce stored %d records", ti.Records)
	}
	<-e.srv.producing
	if code := e.send(t, "POST", "/api/v1/topics/orders/records", body, nil); code != 200 {
		t.Errorf("with a free slot: %d", code)
	}
	// validate_only checks and creates nothing, and says what it would.
	var ti broker.TopicInfo
	if code := e.send(t, "POST", "/api/v1/topics", `{"name":"maybe","partitions":3,"validate_only":true}`, &ti); code != 200 || len(ti.Partitions) != 3 {
		t.Errorf("validate_only: %d %+v", code, ti)
	}
	if _, ok := e.b.Topic("maybe"); ok {
		t.Error("validate_only created the topic")
	}
}
