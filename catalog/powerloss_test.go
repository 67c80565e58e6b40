package catalog

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/powerloss"
	"github.com/rewindhq/rewind/storage/vfs"
)

// TestPowerLossCatalog loses the power (vfs.CrashFS, strict and torn) at
// every file-system operation of a sequence of catalog changes: creating
// the catalog, creating topics, changing configs and partition counts,
// deleting a topic, reserving producer ids. Each save writes
// catalog.json.tmp, fsyncs it, renames catalog.json to .prev, renames the
// .tmp over catalog.json and fsyncs the directory. After every crash the
// catalog opens, holds either the state of the last change that returned
// or that of the change in flight (nothing older, nothing half applied),
// keeps its cluster id once its creation returned, and never hands out a
// producer id it had reserved before.
func TestPowerLossCatalog(t *testing.T) {
	seed := powerloss.Seed(t)
	const dir = "/data"
	newDisk := func() *vfs.CrashFS {
		c := vfs.NewCrashFS()
		if err := c.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		c.SyncAll()
		return c
	}
	dry := newDisk()
	before := dry.Ops()
	ref := &catalogLedger{}
	runCatalogChanges(dry, dir, ref)
	total := dry.Ops() - before
	if ref.returned != 7 {
		t.Fatalf("%d of 7 changes returned without a crash", ref.returned)
	}

	for k := int64(1); k <= total; k++ {
		for _, torn := range []bool{false, true} {
			var rng *rand.Rand
			if torn {
				rng = rand.New(rand.NewPCG(seed, uint64(k)))
			}
			disk := newDisk()
			lg := &catalogLedger{}
			disk.CrashAfter(k, rng)
			runCatalogChanges(disk, dir, lg)
			img := disk.Image()
			if img == nil {
				t.Fatalf("crash point %d of %d not reached", k, total)
			}
			c, err := Open(img, dir)
			if err != nil {
				t.Fatalf("crash after operation %d of %d (torn %v): Open: %v", k, total, torn, err)
			}
			// Before Open returned, the catalog may be a new one (empty).
			acked, inFlight := ref.states[0], ref.states[0]
			if len(lg.states) > 0 {
				acked, inFlight = ref.states[lg.returned], ref.states[min(lg.returned+1, len(ref.states)-1)]
			}
			if got := catalogState(c); got != acked && got != inFlight {
				t.Fatalf("crash after operation %d of %d (torn %v): the catalog holds\n%s\nwant the last change that returned\n%s\nor the one in flight\n%s",
					k, total, torn, got, acked, inFlight)
			}
			if lg.clusterID != "" && c.ClusterID() != lg.clusterID {
				t.Fatalf("crash after operation %d: cluster id %q, was %q", k, c.ClusterID(), lg.clusterID)
			}
			if next, err := c.ReserveProducerIDs(1); err != nil || next < lg.pidEnd {
				t.Fatalf("crash after operation %d: producer id %d handed out again (reserved up to %d): %v", k, next, lg.pidEnd, err)
			}
		}
	}
}

// catalogLedger is what a run of the changes did: how many returned, and
// the states after each (states[0] after Open).
type catalogLedger struct {
	returned  int
	states    []string
	clusterID string
	pidEnd    int64 // producer ids below were handed out
}

// catalogState renders the topics of c, in order, with their partitions
// and configs.
func catalogState(c *Catalog) string {
	var b strings.Builder
	for _, t := range c.List() {
		var cfg []string
		for k, v := range t.Configs {
			cfg = append(cfg, k+"="+v)
		}
		sort.Strings(cfg)
		fmt.Fprintf(&b, "%s:%d:%s ", t.Name, t.Partitions, strings.Join(cfg, ","))
	}
	return b.String()
}

// runCatalogChanges applies the sequence, stopping at the first error
// (the power went).
func runCatalogChanges(fs vfs.FS, dir string, lg *catalogLedger) {
	c, err := Open(fs, dir)
	if err != nil {
		return
	}
	lg.clusterID = c.ClusterID()
	changes := []func() error{
		func() error { _, err := c.Create("orders", 1, nil, false, false); return err },
		func() error { _, err := c.Create("payments", 2, nil, false, false); return err },
		func() error {
			_, err := c.SetConfigs("orders", map[string]string{"retention.ms": "60000"}, false)
			return err
		},
		func() error {
			p, err := c.ReserveProducerIDs(100)
			if err == nil {
				lg.pidEnd = p + 100
			}
			return err
		},
		func() error { _, err := c.SetPartitions("payments", 4, false); return err },
		func() error { _, err := c.Create("audit", 1, nil, false, false); return err },
		func() error { return c.Delete("orders") },
	}
	lg.states = append(lg.states, catalogState(c))
	for _, change := range changes {
		if change() != nil {
			return
		}
		lg.returned++
		lg.states = append(lg.states, catalogState(c))
	}
}
