package offsettool

import "testing"

// Expected values computed with Java's String.hashCode (UTF-16 code units,
// 32-bit overflow) and Kafka's Utils.abs, for 50 partitions (Kafka's
// default offsets.topic.num.partitions).
func TestOffsetsPartitionFor(t *testing.T) {
	for group, want := range map[string]int32{
		"billing": 9, "orders-service": 17, "console-test": 48, "😀group": 32, "": 0,
	} {
		if got := OffsetsPartitionFor(group, 50); got != want {
			t.Errorf("OffsetsPartitionFor(%q, 50) = %d, want %d", group, got, want)
		}
	}
	if got := OffsetsPartitionFor("billing", 1); got != 0 {
		t.Errorf("one partition: %d", got)
	}
}
