package broker

import "testing"

func TestFramePool(t *testing.T) {
	for _, n := range []int{1, 4095, 4096, 4097, 64 << 10, 1<<20 + 1, 16 << 20, 16<<20 + 1} {
		b := getFrame(n)
		if len(b) != n {
			t.Fatalf("getFrame(%d): len %d", n, len(b))
		}
		putFrame(b)
		if b2 := getFrame(n); len(b2) != n {
			t.Fatalf("getFrame(%d) after put: len %d", n, len(b2))
		}
	}
	putFrame(make([]byte, 5000)) // not a pool size: ignored
	if c := cap(getFrame(5000)); c != 8192 {
		t.Fatalf("getFrame(5000): cap %d, want the 8 KiB class", c)
	}
}

func BenchmarkFramePool(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		putFrame(getFrame(1 << 20))
	}
}
