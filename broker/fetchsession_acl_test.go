package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionFetch sends, as cl, a fetch of session sess at epoch (MaxBytes 1
// MiB, waiting up to wait ms for minBytes) naming partition 0 of each
// topic id from offset, and checks it went at v13+ (topics by id) and,
// with noError, that it has no top-level error.
func sessionFetch(t *testing.T, cl *kgo.Client, sess, epoch, wait, minBytes int32, offset int64, noError bool, ids ...[16]byte) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionID, req.SessionEpoch = wait, minBytes, 1<<20, sess, epoch
	for _, id := range ids {
		ft := kmsg.NewFetchRequestTopic()
		ft.TopicID = id
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset, fp.PartitionMaxBytes = offset, 1<<20
		ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
		req.Topics = append(req.Topics, ft)
	}
	resp, err := req.RequestWith(secCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version < 13 {
		t.Fatalf("fetch sent at v%d, want v13+", resp.Version)
	}
	if noError && resp.ErrorCode != 0 {
		t.Fatalf("epoch %d: %v", epoch, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp
}

// ids is id, or none when named is false (an incremental fetch that names
// nothing).
func ids(named bool, id [16]byte) [][16]byte {
	if named {
		return [][16]byte{id}
	}
	return nil
}

// TestFetchSessionAuthorization: with --authorizer, Fetch v13+ names its
// topics by id and READ is checked on the topic's name (bob, without it,
// gets TOPIC_AUTHORIZATION_FAILED, answered by id); and the partitions of
// a fetch session are checked on every incremental fetch, as Kafka
// authorizes each partition of the session: once alice's READ is taken
// away, her session's next records are never returned to her.
func TestFetchSessionAuthorization(t *testing.T) {
	b, admin, id := readableTopic(t)
	ctx := secCtx(t)
	alice, bob := aclClient(t, b, "alice"), aclClient(t, b, "bob")

	// wait is MaxWaitMillis: a session hears of a partition's change from
	// the partition's watcher goroutine (fetchwait.go), a moment after the
	// produce is answered, so a fetch that must see a change waits for it.
	fetch := func(cl *kgo.Client, sess, epoch int32, offset int64, named bool, wait int32) *kmsg.FetchResponse {
		t.Helper()
		return sessionFetch(t, cl, sess, epoch, wait, 0, offset, false, ids(named, id)...)
	}
	part := func(resp *kmsg.FetchResponse) kmsg.FetchResponseTopicPartition {
		t.Helper()
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].TopicID != id || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("response %v: %+v", kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
		}
		return resp.Topics[0].Partitions[0]
	}

	if p := part(fetch(bob, 0, -1, 0, true, 10)); p.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(p.RecordBatches) != 0 {
		t.Fatalf("bob: %v with %d bytes, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
	full := fetch(alice, 0, 0, 0, true, 10)
	if p := part(full); p.ErrorCode != 0 || len(p.RecordBatches) == 0 || full.SessionID == 0 {
		t.Fatalf("alice: %v with %d bytes, session %d", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches), full.SessionID)
	}
	// Caught up: nothing to answer.
	if resp := fetch(alice, full.SessionID, 1, 1, true, 10); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("caught up: %v, %+v", kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
	}

	resetACLs(t, admin)
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Alice names nothing: the record is her session's, and she may no
	// longer read it.
	if p := part(fetch(alice, full.SessionID, 2, 0, false, 10000)); p.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(p.RecordBatches) != 0 {
		t.Fatalf("alice without READ: %v with %d bytes, want TOPIC_AUTHORIZATION_FAILED and none", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
}

// TestFetchSessionAuthorizationWhileWaiting: a partition of a session
// that gets records while an incremental fetch waits is read by that
// fetch, and is authorized like the others: once alice's READ is taken
// away, a record produced during her long poll is never returned to her
// (TOPIC_AUTHORIZATION_FAILED instead).
func TestFetchSessionAuthorizationWhileWaiting(t *testing.T) {
	b := startACL(t, t.TempDir())
	admin := aclClient(t, b, "admin")
	adm := kadm.NewClient(admin)
	ctx := secCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "w"); err != nil {
		t.Fatal(err)
	}
	tds, err := adm.ListTopics(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	id := tds["w"].ID
	mustCreateACLs(t, b, allowACL(kmsg.ACLResourceTypeTopic, "w", kmsg.ACLOperationRead))
	alice := aclClient(t, b, "alice")
	fetch := func(sess, epoch int32, named bool, wait int32) *kmsg.FetchResponse {
		t.Helper()
		return sessionFetch(t, alice, sess, epoch, wait, 1, 0, false, ids(named, id)...)
	}
	full := fetch(0, 0, true, 10)
	if full.ErrorCode != 0 || full.SessionID == 0 {
		t.Fatalf("full fetch: %v, session %d", kerr.ErrorForCode(full.ErrorCode), full.SessionID)
	}
	resetACLs(t, admin)
	done := make(chan error, 1)
	go func() {
		// Produced once alice's fetch waits (it waits up to 10 s; if the
		// record comes first, the fetch reads it from the start, which
		// is checked too).
		time.Sleep(300 * time.Millisecond)
		done <- admin.ProduceSync(ctx, &kgo.Record{Topic: "w", Value: []byte("secret")}).FirstErr()
	}()
	resp := fetch(full.SessionID, 1, false, 10000)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if len(p.RecordBatches) != 0 || p.ErrorCode != kerr.TopicAuthorizationFailed.Code {
				t.Fatalf("alice without READ: partition %d %v with %d bytes, want TOPIC_AUTHORIZATION_FAILED and none", p.Partition, kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
			}
		}
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("alice without READ: %+v, want the partition answered TOPIC_AUTHORIZATION_FAILED", resp.Topics)
	}
}

// TestFetchSessionKeepsDeniedPartitions: a partition the client may not
// read is still part of the session its full fetch creates, as in Kafka
// (FetchSession.update caches every partition asked; KafkaApis answers
// the unauthorized ones TOPIC_AUTHORIZATION_FAILED on each fetch): it is
// answered so on every incremental fetch, and once READ is granted its
// records come without the client naming it again, which it would not do
// (a client names only the partitions whose fetch position moved).
func TestFetchSessionKeepsDeniedPartitions(t *testing.T) {
	b := startACL(t, t.TempDir())
	admin := aclClient(t, b, "admin")
	adm := kadm.NewClient(admin)
	ctx := secCtx(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "open", "closed"); err != nil {
		t.Fatal(err)
	}
	tds, err := adm.ListTopics(ctx, "open", "closed")
	if err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, b, allowACL(kmsg.ACLResourceTypeTopic, "open", kmsg.ACLOperationRead))
	alice := aclClient(t, b, "alice")
	fetch := func(sess, epoch int32, topics ...string) *kmsg.FetchResponse {
		t.Helper()
		var named [][16]byte
		for _, n := range topics {
			named = append(named, tds[n].ID)
		}
		return sessionFetch(t, alice, sess, epoch, 10, 1, 0, true, named...)
	}
	// closed's answer: its error and the bytes of its records.
	closed := func(resp *kmsg.FetchResponse) (int16, int, bool) {
		for _, rt := range resp.Topics {
			if rt.TopicID == tds["closed"].ID {
				return rt.Partitions[0].ErrorCode, len(rt.Partitions[0].RecordBatches), true
			}
		}
		return 0, 0, false
	}
	full := fetch(0, 0, "open", "closed")
	if code, _, ok := closed(full); !ok || code != kerr.TopicAuthorizationFailed.Code || full.SessionID == 0 {
		t.Fatalf("full fetch: closed answered %v (%v), session %d; want TOPIC_AUTHORIZATION_FAILED and a session", ok, kerr.ErrorForCode(code), full.SessionID)
	}
	if code, _, ok := closed(fetch(full.SessionID, 1)); !ok || code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("incremental fetch: closed answered %v (%v), want TOPIC_AUTHORIZATION_FAILED", ok, kerr.ErrorForCode(code))
	}
	mustCreateACLs(t, b, allowACL(kmsg.ACLResourceTypeTopic, "closed", kmsg.ACLOperationRead))
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "closed", Value: []byte("now yours")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if code, n, ok := closed(fetch(full.SessionID, 2)); !ok || code != 0 || n == 0 {
		t.Fatalf("after READ is granted: closed answered %v (%v, %d bytes), want its record", ok, kerr.ErrorForCode(code), n)
	}
}

// TestFollowerFetchNeedsClusterAction: a fetch that says it comes from a
// replica needs CLUSTER_ACTION on the cluster, not READ on the topic, as
// on Kafka; from v15 the replica id is in ReplicaState (KIP-903), and a
// client with READ only that names itself replica 1 there gets
// TOPIC_AUTHORIZATION_FAILED and no records, as it does below v15.
func TestFollowerFetchNeedsClusterAction(t *testing.T) {
	b, _, id := readableTopic(t)
	ctx := secCtx(t)
	alice := aclClient(t, b, "alice")
	fetch := func(replica int32) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MaxBytes, req.SessionEpoch = 10, 1<<20, -1
		req.ReplicaState.ID = replica
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = "t", id
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
		req.Topics = []kmsg.FetchRequestTopic{ft}
		resp, err := req.RequestWith(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version < 15 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", resp.Version, resp.Topics)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := fetch(-1); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("consumer fetch with READ: %v with %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
	if p := fetch(1); p.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(p.RecordBatches) != 0 {
		t.Fatalf("replica fetch without CLUSTER_ACTION: %v with %d bytes, want TOPIC_AUTHORIZATION_FAILED and none", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
}

// readableTopic starts a broker with an authorizer, with a topic t of one
// partition holding one record that alice may READ, and returns the
// broker, a client of its super user and t's id.
func readableTopic(t *testing.T) (*Broker, *kgo.Client, [16]byte) {
	t.Helper()
	b := startACL(t, t.TempDir())
	admin := aclClient(t, b, "admin")
	adm := kadm.NewClient(admin)
	ctx := secCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tds, err := adm.ListTopics(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, b, allowACL(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead))
	return b, admin, tds["t"].ID
}

// TestFetchSessionACLChange: a change of the ACLs makes an incremental
// fetch look at every partition of its session, as Kafka authorizes each
// one on every fetch: a caught-up partition whose READ goes is answered
// TOPIC_AUTHORIZATION_FAILED at the next fetch although nothing changed
// in it, and on every fetch after, until READ comes back; then it is
// answered once without an error, and the fetch after answers nothing.
func TestFetchSessionACLChange(t *testing.T) {
	b, admin, id := readableTopic(t)
	alice := aclClient(t, b, "alice")
	fetch := func(sess, epoch int32, offset int64) *kmsg.FetchResponse {
		t.Helper()
		return sessionFetch(t, alice, sess, epoch, 10, 0, offset, true, ids(offset >= 0, id)...)
	}
	code := func(resp *kmsg.FetchResponse) int16 {
		t.Helper()
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("want t/0 answered, got %+v", resp.Topics)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	full := fetch(0, 0, 0)
	if code(full) != 0 || full.SessionID == 0 {
		t.Fatalf("full fetch: %v, session %d", kerr.ErrorForCode(code(full)), full.SessionID)
	}
	sess := full.SessionID
	if resp := fetch(sess, 1, 1); len(resp.Topics) != 0 {
		t.Fatalf("caught up: %+v, want nothing answered", resp.Topics)
	}
	resetACLs(t, admin)
	for epoch := int32(2); epoch <= 3; epoch++ {
		if c := code(fetch(sess, epoch, -1)); c != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("epoch %d, READ taken away: %v, want TOPIC_AUTHORIZATION_FAILED", epoch, kerr.ErrorForCode(c))
		}
	}
	mustCreateACLs(t, b, allowACL(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead))
	if resp := fetch(sess, 4, -1); code(resp) != 0 || resp.Topics[0].Partitions[0].HighWatermark != 1 {
		t.Fatalf("READ back: %+v, want t/0 answered without an error", resp.Topics)
	}
	if resp := fetch(sess, 5, -1); len(resp.Topics) != 0 {
		t.Fatalf("after: %+v, want nothing answered", resp.Topics)
	}
}
