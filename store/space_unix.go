//go:build linux || darwin

package store

import "syscall"

// freeSpace returns how many bytes an unprivileged process can still write
// to the file system that holds dir.
func freeSpace(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
