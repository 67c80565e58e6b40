//go:build race

package broker_test

// raceEnabled: the race detector's shadow memory doubles what allocations
// weigh, so allocation measurements do not hold under it.
const raceEnabled = true
