// Package storetest gives tests a small real file system that can be
// filled up, to see what the store and the node do when the disk is full.
package storetest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Disk is a small tmpfs mounted for one test.
type Disk struct {
	// Dir is the mounted folder.
	Dir    string
	t      testing.TB
	filler string
}

// SmallDisk mounts a tmpfs of size bytes on a new folder and unmounts it
// when the test ends. Mounting needs root (CAP_SYS_ADMIN): without it, the
// test is skipped with a message that says so.
func SmallDisk(t testing.TB, size string) *Disk {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("skipped: a full disk is simulated with a small tmpfs, and mounting one needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs for a full disk (%v: %s)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting the test tmpfs %s: %v: %s", dir, err, out)
		}
	})
	return &Disk{Dir: dir, t: t, filler: filepath.Join(dir, "filler")}
}

// Fill writes a file until the disk has no room left.
func (d *Disk) Fill() {
	d.t.Helper()
	f, err := os.OpenFile(d.filler, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				d.t.Fatal(err)
			}
			return
		}
	}
}

// Free removes what Fill wrote.
func (d *Disk) Free() {
	d.t.Helper()
	if err := os.Remove(d.filler); err != nil {
		d.t.Fatal(err)
	}
}
