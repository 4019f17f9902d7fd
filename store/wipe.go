package store

import (
	"errors"
	"fmt"
	"os"
)

// Wipe destroys the store file at path and the files that go with it (its
// keep file, a damaged copy that [Repair] set aside, a repair left
// unfinished): it overwrites each with zeros, syncs, and removes it. On
// flash storage overwriting is not guaranteed to reach the old blocks; the
// data stays unreadable because the storage key is destroyed with the
// keystore.
func Wipe(path string) error {
	for _, p := range []string{path, keepPath(path), keepPath(path) + ".tmp", damagedPath(path), repairPath(path)} {
		if err := wipeFile(p); err != nil {
			return err
		}
	}
	return nil
}

func wipeFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: wiping: %w", err)
	}
	if fi, err := f.Stat(); err == nil {
		zero := make([]byte, 1<<16)
		for off := int64(0); off < fi.Size(); off += int64(len(zero)) {
			// Overwrite the file's blocks only: growing it could fail on a
			// full disk before the old data is covered.
			n := min(int64(len(zero)), fi.Size()-off)
			if _, err := f.WriteAt(zero[:n], off); err != nil {
				break
			}
		}
		f.Sync()
	}
	f.Close()
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("store: wiping: %w", err)
	}
	return nil
}
