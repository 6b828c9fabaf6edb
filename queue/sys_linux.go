//go:build linux && (amd64 || arm64)

package queue

import (
	"errors"
	"os"
	"syscall"
)

// syncfsReliable reports whether syncfs reports write-back errors: since
// Linux 5.8.
func syncfsReliable() bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return false
	}
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	return kernelAtLeast(string(rel), 5, 8)
}

// fdatasync flushes f's data and the metadata needed to read it back.
func fdatasync(f *os.File) error {
	return fdCall(f, "fdatasync", func(fd uintptr) error {
		return syscall.Fdatasync(int(fd))
	})
}

// startWriteback starts writing f's dirty pages without waiting
// (sync_file_range SYNC_FILE_RANGE_WRITE), so that a following fdatasync of
// several files finds their blocks allocated in one journal transaction.
// It is only a hint: errors are ignored, fdatasync reports them.
func startWriteback(f *os.File) {
	const syncFileRangeWrite = 2
	fdCall(f, "sync_file_range", func(fd uintptr) error {
		_, _, e := syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, 0, 0, syncFileRangeWrite, 0, 0)
		if e != 0 {
			return e
		}
		return nil
	})
}

// syncfs writes back the whole file system that holds f.
func syncfs(f *os.File) error {
	return fdCall(f, "syncfs", func(fd uintptr) error {
		_, _, e := syscall.Syscall(sysSyncfs, fd, 0, 0)
		if e != 0 {
			return e
		}
		return nil
	})
}

func fdCall(f *os.File, op string, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for {
			serr = fn(fd)
			if !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: serr}
	}
	return nil
}

// deviceOf returns the device of the file system that holds f.
func deviceOf(f *os.File) (uint64, bool) {
	var st syscall.Stat_t
	if err := fdCall(f, "fstat", func(fd uintptr) error { return syscall.Fstat(int(fd), &st) }); err != nil {
		return 0, false
	}
	return uint64(st.Dev), true
}

// yieldThread gives the core to another thread that is ready to run on it,
// if any (sched_yield(2)).
func yieldThread() { syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
