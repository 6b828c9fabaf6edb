package mailstore

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noReplaceMissing is set once renameat2 refused RENAME_NOREPLACE.
var noReplaceMissing atomic.Bool

// renameNoReplace renames oldpath to newpath unless newpath exists, in
// which case the error wraps fs.ErrExist. It uses renameat2's
// RENAME_NOREPLACE, atomic, where the file system has it.
func renameNoReplace(oldpath, newpath string) error {
	if noReplaceMissing.Load() {
		return renameIfAbsent(oldpath, newpath)
	}
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A kernel or file system (some network ones) without the flag:
		// every later delivery goes straight to the fallback.
		noReplaceMissing.Store(true)
		return renameIfAbsent(oldpath, newpath)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
