package group

import "github.com/rewindhq/rewind/offsetsfmt"

// partitionFor is the placement the coordinator uses (offsetsfmt owns it);
// records_test.go finds a group's records through it.
func partitionFor(group string, n int32) int32 { return offsetsfmt.PartitionFor(group, n) }
