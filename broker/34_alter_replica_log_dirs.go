package broker

import (
	"cmp"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterReplicaLogDirs: v1-2 (Kafka 4.0 removed v0, KIP-896)
//
// Rewind has one log directory, --data-dir, as DescribeLogDirs reports it
// (an absolute path), and every partition is in it: there is never a
// replica to move. As a Kafka broker with that one log.dirs entry
// answers (ReplicaManager.alterReplicaLogDirs), for each partition:
//
//   - INVALID_TOPIC_EXCEPTION when the topic name is too long for the
//     directory a move would create (the partition's future directory
//     name, topic-partition.<32 hex>-future, over 255 bytes), checked
//     first;
//   - LOG_DIR_NOT_FOUND when the path is not exactly that directory's
//     (another directory, a relative path, a trailing slash, an empty
//     one), whether or not the partition exists;
//   - UNKNOWN_TOPIC_OR_PARTITION when the partition does not exist;
//   - otherwise nothing to do: NONE.
//
// A partition named under several directories takes the last one, and is
// answered once, as Kafka builds one map of partition to directory.
// Topics are sorted by name and partitions by number (Kafka's order is
// its hash map's). With --authorizer, ALTER on the cluster, else every
// partition as named (repeats included) CLUSTER_AUTHORIZATION_FAILED, as
// KafkaApis answers. The response is reserved in --max-response-memory
// (respmem.go); one that alone would exceed it closes the connection,
// since the response has no top-level error code.

func init() {
	regKey(34, 1, 2, handleAlterReplicaLogDirs)
	regAuth(34, checkAlterReplicaLogDirs)
}

// maxFutureDirName is the longest directory name Kafka makes for a
// partition being moved between log directories (UnifiedLog.logFutureDirName,
// KAFKA-4893).
const maxFutureDirName = 255

// futureDirNameLen is the length of the future directory name Kafka would
// make for topic's partition p: topic-p.<uuid without dashes>-future.
func futureDirNameLen(topic string, p int32) int {
	return len(topic) + 1 + len(strconv.Itoa(int(p))) + 1 + 32 + len("-future")
}

// alterLogDirsSize is what the response to req holds at most.
func alterLogDirsSize(req *kmsg.AlterReplicaLogDirsRequest) respSize {
	var n respSize
	for _, d := range req.Dirs {
		n.elems(len(d.Topics), sizeOf[kmsg.AlterReplicaLogDirsResponseTopic](), 8)
		for _, t := range d.Topics {
			n.str(len(t.Topic))
			n.elems(len(t.Partitions), sizeOf[kmsg.AlterReplicaLogDirsResponseTopicPartition](), 8)
		}
	}
	return n
}

func handleAlterReplicaLogDirs(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.AlterReplicaLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.AlterReplicaLogDirsResponse)
	if err := r.reserveResponse("AlterReplicaLogDirs", alterLogDirsSize(req)); err != nil {
		return reply{}, err
	}

	type part struct {
		topic string
		p     int32
	}
	dirOf := map[part]string{}
	for _, d := range req.Dirs {
		for _, t := range d.Topics {
			for _, p := range t.Partitions {
				dirOf[part{t.Topic, p}] = d.Dir
			}
		}
	}
	parts := make([]part, 0, len(dirOf))
	for k := range dirOf {
		parts = append(parts, k)
	}
	slices.SortFunc(parts, func(a, b part) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.p, b.p))
	})

	ours := b.cfg.DataDir
	if abs, err := filepath.Abs(ours); err == nil {
		ours = abs
	}
	for _, k := range parts {
		sp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
		sp.Partition = k.p
		switch {
		case futureDirNameLen(k.topic, k.p) > maxFutureDirName:
			sp.ErrorCode = kerr.InvalidTopicException.Code
		case dirOf[k] != ours:
			sp.ErrorCode = kerr.LogDirNotFound.Code
		case b.partition(k.topic, k.p) == nil:
			sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		}
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != k.topic {
			st := kmsg.NewAlterReplicaLogDirsResponseTopic()
			st.Topic = k.topic
			resp.Topics = append(resp.Topics, st)
		}
		st := &resp.Topics[len(resp.Topics)-1]
		st.Partitions = append(st.Partitions, sp)
	}
	return now(resp)
}

// checkAlterReplicaLogDirs: ALTER on the cluster.
func checkAlterReplicaLogDirs(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationAlter) {
		return nil, nil, nil
	}
	req := r.kreq.(*kmsg.AlterReplicaLogDirsRequest)
	return respond(r, func(resp *kmsg.AlterReplicaLogDirsResponse) {
		for _, d := range req.Dirs {
			for _, t := range d.Topics {
				st := kmsg.NewAlterReplicaLogDirsResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
		}
	}), nil, nil
}
