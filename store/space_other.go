//go:build !linux && !darwin

package store

// freeSpace cannot ask this system's file systems.
func freeSpace(string) (uint64, bool) { return 0, false }
