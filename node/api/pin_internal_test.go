package api

import (
	"runtime"
	"testing"
)

// TestPINHashGivesMemoryBack: checking a PIN (Argon2id over 32 MiB) leaves
// the heap as it found it: the daemon's memory does not stay 32 MiB larger
// after someone unlocks the web UI. Not parallel: the heap is the
// process's.
func TestPINHashGivesMemoryBack(t *testing.T) {
	held := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapSys - ms.HeapReleased // heap memory the process holds
	}
	runtime.GC()
	before := held()
	pinHash([]byte("4321"), []byte("a salt of sixteen"))
	after := held()
	t.Logf("heap held: %d MiB before, %d MiB after a PIN check", before>>20, after>>20)
	if after > before+8<<20 {
		t.Fatalf("a PIN check left the process holding %d MiB more heap", (after-before)>>20)
	}
}
