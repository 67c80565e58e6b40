package broker

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rewindhq/rewind/storage/vfs"
)

// RepairOffline repairs one partition in the data directory of a stopped
// broker, holding the directory's lock (so no broker can start on it
// meanwhile, and it fails if one is running: repair online then).
func RepairOffline(dataDir, topic string, p int32, dryRun bool, log *slog.Logger) (RepairResult, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		return RepairResult{Topic: topic, Partition: p}, fmt.Errorf("broker: no data directory %s", dataDir)
	}
	lock, err := LockDataDir(dataDir)
	if err != nil {
		return RepairResult{Topic: topic, Partition: p}, err
	}
	defer lock.Close()
	dir := filepath.Join(dataDir, "logs", topic+"-"+strconv.Itoa(int(p)))
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return RepairResult{Topic: topic, Partition: p}, fmt.Errorf("%w: no partition directory %s", ErrUnknownTopic, dir)
	}
	// The partition count of __consumer_offsets, from its directories
	// (the catalog may be what is damaged).
	n := int32(0)
	if ents, err := os.ReadDir(filepath.Join(dataDir, "logs")); err == nil {
		for _, e := range ents {
			if s, ok := strings.CutPrefix(e.Name(), OffsetsTopic+"-"); ok {
				if i, err := strconv.ParseInt(s, 10, 32); err == nil && int32(i) >= n {
					n = int32(i) + 1
				}
			}
		}
	}
	return repairDir(vfs.Default, dir, topic, p, n, dryRun, log)
}
