package handoff

import (
	"syscall"
	"unsafe"
)

// waitExitWorks: Linux has waitid(WNOWAIT).
const waitExitWorks = true

// waitExit blocks until process pid (a child) has exited, without reaping
// it: its pid stays reserved until cmd.Wait collects it.
func waitExit(pid int) error {
	const pPID = 1     // idtype_t P_PID
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
}
