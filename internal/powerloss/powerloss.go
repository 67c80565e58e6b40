// Package powerloss holds what the power-loss tests of every package
// share: the seed of their crash points.
package powerloss

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Seed returns the seed of a test's crash points: REWIND_POWERLOSS_SEED
// if set (to replay a failure), else the clock. A failing test logs it.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REWIND_POWERLOSS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("REWIND_POWERLOSS_SEED: %v", err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("crash points seeded with %d: rerun with REWIND_POWERLOSS_SEED=%d", seed, seed)
		}
	})
	return seed
}
