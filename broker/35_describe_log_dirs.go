package broker

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs: v1-5 (Kafka 4.0 removed v0, KIP-896)
//
// One log directory, --data-dir (as an absolute path), holding every
// partition: for each, its size (the bytes of its segment files, what
// Kafka's Log.size counts), an offset lag of 0 (the log is the partition's
// current replica: Kafka's lag is the high watermark's distance past the
// log end, never positive for a leader) and IsFuture false (no log is
// being moved: AlterReplicaLogDirs has nowhere to move it to).
//
// Topics null asks for every topic, internal ones included, as Kafka; an
// empty list for none (the directory is still described); otherwise the
// partitions named that exist, each once (a partition or topic that does
// not exist is left out, as Kafka leaves it out). Topics are sorted by
// name and partitions by number (Kafka's order is its log manager's).
//
// The response is reserved in --max-response-memory (respmem.go); one
// that alone would exceed it is INVALID_REQUEST from v3 (a top-level
// error code) and closes the connection below. With --authorizer, DESCRIBE
// on the cluster, else CLUSTER_AUTHORIZATION_FAILED and no directory, as
// KafkaApis answers.
//
// Version notes:
//   - v3: the top-level error code. v4: TotalBytes and UsableBytes of the
//     directory's file system (statfs; -1 where unknown). v5: IsCordoned
//     (KIP-1066), never here.

func init() {
	regKey(35, 1, 5, handleDescribeLogDirs)
	regAuth(35, checkDescribeLogDirs)
}

func handleDescribeLogDirs(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)

	type part struct {
		topic string
		p     int32
	}
	var parts []part
	if req.Topics == nil {
		for _, t := range b.reg.all() {
			for p := range t.parts {
				parts = append(parts, part{t.meta.Name, int32(p)})
			}
		}
	} else {
		seen := map[part]bool{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				k := part{rt.Topic, p}
				if !seen[k] && b.partition(rt.Topic, p) != nil {
					seen[k] = true
					parts = append(parts, k)
				}
			}
		}
		slices.SortFunc(parts, func(a, b part) int {
			if c := strings.Compare(a.topic, b.topic); c != 0 {
				return c
			}
			return int(a.p - b.p)
		})
	}

	var n respSize
	n.elems(len(parts), sizeOf[kmsg.DescribeLogDirsResponseDirTopic]()+sizeOf[kmsg.DescribeLogDirsResponseDirTopicPartition](), 40)
	for _, p := range parts {
		n.str(len(p.topic))
	}
	if req.Topics != nil {
		n.set(len(parts))
	}
	if err := r.reserveResponse("DescribeLogDirs", n); err != nil {
		var tl *respTooLarge
		if errors.As(err, &tl) && req.Version >= 3 {
			resp.ErrorCode = invalidRequest
			return now(resp)
		}
		return reply{}, err
	}

	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.DataDir
	if abs, err := filepath.Abs(b.cfg.DataDir); err == nil {
		dir.Dir = abs
	}
	dir.TotalBytes, dir.UsableBytes = -1, -1
	if total, usable, ok := diskBytes(b.cfg.DataDir); ok {
		dir.TotalBytes, dir.UsableBytes = total, usable
	}
	for _, p := range parts {
		l := b.partition(p.topic, p.p)
		if l == nil {
			continue // deleted meanwhile
		}
		if k := len(dir.Topics); k == 0 || dir.Topics[k-1].Topic != p.topic {
			dt := kmsg.NewDescribeLogDirsResponseDirTopic()
			dt.Topic = p.topic
			dir.Topics = append(dir.Topics, dt)
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition, dp.Size = p.p, l.Size()
		t := &dir.Topics[len(dir.Topics)-1]
		t.Partitions = append(t.Partitions, dp)
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return now(resp)
}

// checkDescribeLogDirs: DESCRIBE on the cluster.
func checkDescribeLogDirs(r *request) (kmsg.Response, func(kmsg.Response), error) {
	if r.allowedCluster(kmsg.ACLOperationDescribe) {
		return nil, nil, nil
	}
	return respond(r, func(resp *kmsg.DescribeLogDirsResponse) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}), nil, nil
}
