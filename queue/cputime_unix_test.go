//go:build unix

package queue

import "syscall"

// cpuTime returns the CPU time (user and system) this process used, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
