package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
)

// ErrDamaged means the store file is damaged: some of its pages or records
// no longer read as they were written (a failing memory card, a power cut
// on a device that lies about fsync, a file cut short). [Repair] keeps what
// can still be read. Errors that wrap it are a [*DamagedError].
var ErrDamaged = errors.New("store: the file is damaged")

// DamagedError says which file is damaged and how the damage showed.
type DamagedError struct {
	Path   string
	Detail string // one short line
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("store: %s is damaged (%s)", e.Path, e.Detail)
}

func (e *DamagedError) Unwrap() error { return ErrDamaged }

// guard runs fn, turning a panic or a memory fault inside it into a
// [*DamagedError]. bbolt trusts its file: on a damaged page it panics
// ("page expected to be", index out of range) or reads outside its memory
// map (SIGSEGV, or SIGBUS past the end of a file cut short), which
// [debug.SetPanicOnFault] turns into a panic that can be recovered. Every
// call into bbolt that reads pages runs under guard, in the caller's
// goroutine.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Path: path, Detail: shortDetail(fmt.Sprint(r))}
		}
	}()
	return fn()
}

// shortDetail keeps the first line of a panic message, at most 120 bytes.
func shortDetail(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// damaged returns a [*DamagedError] for path.
func damaged(path, format string, a ...any) error {
	return &DamagedError{Path: path, Detail: fmt.Sprintf(format, a...)}
}

// openErr classifies an error of bolt.Open: what the operating system
// refused (permissions, a missing folder, a full or read-only disk) is
// returned as it is; anything else is the file's content and means damage
// (bad or mismatched meta pages, a file too short to be a store).
func openErr(path string, err error) error {
	var errno syscall.Errno
	var pe *fs.PathError
	if errors.As(err, &errno) || errors.As(err, &pe) || errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
		return diskErr(fmt.Errorf("store: opening %s: %w", path, err))
	}
	return damaged(path, "%v", err)
}

// emptyButKept reports whether the store file at path is missing or empty
// while its keep file ([keepPath]) holds saved state: the file was lost or
// cut to nothing, and opening it would start a profile without its groups.
func emptyButKept(path string) bool {
	fi, err := os.Stat(path)
	if err == nil && fi.Size() > 0 {
		return false
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	ki, err := os.Stat(keepPath(path))
	return err == nil && ki.Size() > int64(len(keepMagic))
}
